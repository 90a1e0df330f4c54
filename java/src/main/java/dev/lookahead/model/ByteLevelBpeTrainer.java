package dev.lookahead.model;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A tiny byte-level BPE trainer (the GPT-2 / Hugging Face "ByteLevel" flavour) used to give
 * generated random checkpoints a real, loadable tokenizer.
 *
 * <p>Text is split into pieces with the GPT-2 pre-tokenizer pattern, each piece's UTF-8 bytes are
 * written with the GPT-2 printable byte alphabet, and pairs of adjacent symbols are merged greedily
 * by corpus frequency. Ties are broken by the lexicographic order of the pair, so the result is a
 * pure function of the text and the merge budget.
 */
public final class ByteLevelBpeTrainer {

    /** The GPT-2 pre-tokenizer pattern, as used by Hugging Face's ByteLevel pre-tokenizer. */
    static final Pattern PRE_TOKENIZER = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    /** One learned merge: {@code left + right} becomes one symbol. */
    public record Merge(String left, String right) {
        public String merged() {
            return left + right;
        }

        /** The form used in tokenizer.json: the two parts separated by one space. */
        @Override
        public String toString() {
            return left + " " + right;
        }
    }

    private ByteLevelBpeTrainer() {}

    /**
     * The GPT-2 byte alphabet: byte value -> one printable character. Printable Latin-1 bytes map
     * to themselves; the others (controls, space, DEL, NBSP, soft hyphen) map in order to U+0100...
     */
    public static char[] byteAlphabet() {
        char[] map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char) b : (char) next++;
        }
        return map;
    }

    /** Writes UTF-8 bytes with the byte alphabet (one char per byte). */
    static String toByteSymbols(String text, char[] alphabet) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        StringBuilder sb = new StringBuilder(bytes.length);
        for (byte b : bytes) {
            sb.append(alphabet[b & 0xFF]);
        }
        return sb.toString();
    }

    /**
     * Learns up to {@code maxMerges} merges from {@code text}. Stops early when no pair occurs at
     * least twice (a merge seen once teaches nothing).
     */
    public static List<Merge> train(String text, int maxMerges) {
        if (maxMerges < 0) {
            throw new IllegalArgumentException("maxMerges must be >= 0, got " + maxMerges);
        }
        char[] alphabet = byteAlphabet();
        // word (in byte symbols) -> occurrences; sorted so every pass visits words in one order.
        Map<String, Integer> counts = new TreeMap<>();
        Matcher m = PRE_TOKENIZER.matcher(text);
        while (m.find()) {
            counts.merge(toByteSymbols(m.group(), alphabet), 1, Integer::sum);
        }
        List<List<String>> words = new ArrayList<>();
        List<Integer> freq = new ArrayList<>();
        for (Map.Entry<String, Integer> e : counts.entrySet()) {
            List<String> symbols = new ArrayList<>();
            for (char c : e.getKey().toCharArray()) {
                symbols.add(String.valueOf(c));
            }
            words.add(symbols);
            freq.add(e.getValue());
        }

        List<Merge> merges = new ArrayList<>();
        while (merges.size() < maxMerges) {
            Merge best = mostFrequentPair(words, freq);
            if (best == null) {
                break;
            }
            merges.add(best);
            for (List<String> w : words) {
                applyMerge(w, best);
            }
        }
        return Collections.unmodifiableList(merges);
    }

    /** The pair with the highest weighted count (>= 2), ties to the smallest (left, right). */
    private static Merge mostFrequentPair(List<List<String>> words, List<Integer> freq) {
        Map<Merge, Integer> pairs = new TreeMap<>((a, b) -> {
            int c = a.left().compareTo(b.left());
            return c != 0 ? c : a.right().compareTo(b.right());
        });
        for (int i = 0; i < words.size(); i++) {
            List<String> w = words.get(i);
            for (int j = 0; j + 1 < w.size(); j++) {
                pairs.merge(new Merge(w.get(j), w.get(j + 1)), freq.get(i), Integer::sum);
            }
        }
        Merge best = null;
        int bestCount = 1;
        for (Map.Entry<Merge, Integer> e : pairs.entrySet()) {
            if (e.getValue() > bestCount) { // strict: the first (smallest) pair wins a tie
                best = e.getKey();
                bestCount = e.getValue();
            }
        }
        return best;
    }

    private static void applyMerge(List<String> w, Merge merge) {
        for (int j = 0; j + 1 < w.size(); j++) {
            if (w.get(j).equals(merge.left()) && w.get(j + 1).equals(merge.right())) {
                w.set(j, merge.merged());
                w.remove(j + 1);
            }
        }
    }
}
