package dev.lookahead.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE model of tokenizer.json: a vocabulary and a ranked list of merges.
 *
 * <p>A word starts as its characters (code points). A character missing from the vocabulary
 * becomes its UTF-8 bytes as "<0xNN>" tokens when {@code byte_fallback} is on, else the unknown
 * token (runs of unknowns fused into one when {@code fuse_unk}), else it is dropped. Then,
 * repeatedly, the adjacent pair with the lowest merge rank (leftmost on ties) is merged, until
 * no pair of the word has a merge. Merges are given as "a b" strings or [a, b] pairs.
 */
final class BpeModel {

    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    private final Map<Long, Long> merges; // (leftId << 32 | rightId) -> (rank << 32 | mergedId)
    private final String unkToken;
    private final boolean byteFallback;
    private final boolean fuseUnk;
    private final boolean ignoreMerges;
    private final String continuingSubwordPrefix;
    private final String endOfWordSuffix;
    private final int[] byteTokenIds; // id of "<0xNN>" per byte, -1 when absent
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    private static final int CACHE_LIMIT = 10_000;
    private static final int CACHE_MAX_WORD = 256;

    private BpeModel(Map<String, Integer> vocab, Map<Long, Long> merges, String unkToken, boolean byteFallback,
            boolean fuseUnk, boolean ignoreMerges, String prefix, String suffix) {
        this.vocab = vocab;
        int maxId = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
        this.idToToken = new String[maxId + 1];
        vocab.forEach((t, id) -> idToToken[id] = t);
        this.merges = merges;
        this.unkToken = unkToken;
        this.byteFallback = byteFallback;
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
        this.continuingSubwordPrefix = prefix;
        this.endOfWordSuffix = suffix;
        this.byteTokenIds = new int[256];
        for (int b = 0; b < 256; b++) {
            byteTokenIds[b] = vocab.getOrDefault(String.format("<0x%02X>", b), -1);
        }
    }

    static BpeModel fromJson(JsonNode node, String where) {
        String type = Json.string(node, "type", where);
        if (!type.equals("BPE")) {
            throw new TokenizerException(where + ": type '" + type + "' is not supported (supported: BPE)");
        }
        JsonNode dropout = node.get("dropout");
        if (dropout != null && !dropout.isNull() && dropout.asDouble() != 0.0) {
            throw new TokenizerException(where + ": dropout " + dropout + " is not supported (encoding would be random)");
        }
        JsonNode vocabNode = Json.field(node, "vocab", where);
        if (!vocabNode.isObject()) {
            throw new TokenizerException(where + ": 'vocab' must be an object of token -> id");
        }
        Map<String, Integer> vocab = new HashMap<>();
        Map<Integer, String> seen = new HashMap<>();
        for (Map.Entry<String, JsonNode> e : vocabNode.properties()) {
            JsonNode id = e.getValue();
            if (!id.isIntegralNumber() || !id.canConvertToInt() || id.intValue() < 0) {
                throw new TokenizerException(where + ": vocab id of '" + e.getKey() + "' is not a non-negative int: " + id);
            }
            String other = seen.put(id.intValue(), e.getKey());
            if (other != null) {
                throw new TokenizerException(where + ": vocab id " + id + " is used by both '" + other + "' and '"
                        + e.getKey() + "'");
            }
            vocab.put(e.getKey(), id.intValue());
        }
        String prefix = Json.optString(node, "continuing_subword_prefix", where);
        String suffix = Json.optString(node, "end_of_word_suffix", where);
        Map<Long, Long> merges = readMerges(Json.array(node, "merges", where), vocab, prefix, where);
        return new BpeModel(vocab, merges, Json.optString(node, "unk_token", where),
                Json.bool(node, "byte_fallback", false, where), Json.bool(node, "fuse_unk", false, where),
                Json.bool(node, "ignore_merges", false, where), prefix, suffix);
    }

    private static Map<Long, Long> readMerges(JsonNode list, Map<String, Integer> vocab, String prefix, String where) {
        Map<Long, Long> merges = new HashMap<>(list.size() * 2);
        int prefixLength = prefix == null ? 0 : prefix.length();
        for (int rank = 0; rank < list.size(); rank++) {
            JsonNode m = list.get(rank);
            String a;
            String b;
            if (m.isTextual()) {
                String[] parts = m.textValue().split(" ", -1);
                if (parts.length != 2) {
                    throw new TokenizerException(where + ": merge #" + rank + " '" + m.textValue()
                            + "' is not two tokens separated by one space");
                }
                a = parts[0];
                b = parts[1];
            } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
                a = m.get(0).textValue();
                b = m.get(1).textValue();
            } else {
                throw new TokenizerException(where + ": merge #" + rank + " must be \"a b\" or [\"a\", \"b\"], got " + m);
            }
            Integer ia = vocab.get(a);
            Integer ib = vocab.get(b);
            // With a continuing-subword prefix the right part carries it, the merged token once.
            String merged = a + (prefixLength > 0 && b.startsWith(prefix) ? b.substring(prefixLength) : b);
            Integer im = vocab.get(merged);
            if (ia == null || ib == null || im == null) {
                String missing = ia == null ? a : ib == null ? b : merged;
                throw new TokenizerException(where + ": merge #" + rank + " (" + a + ", " + b + "): token '"
                        + missing + "' is not in the vocabulary");
            }
            merges.put(((long) ia << 32) | (ib & 0xFFFFFFFFL), ((long) rank << 32) | im);
        }
        return merges;
    }

    /** Largest id + 1. */
    int size() {
        return idToToken.length;
    }

    Integer id(String token) {
        return vocab.get(token);
    }

    /** The token string of {@code id}, or null. */
    String token(int id) {
        return id >= 0 && id < idToToken.length ? idToToken[id] : null;
    }

    /** Token ids of one pre-tokenized word. */
    int[] tokenize(String word) {
        int[] cached = cache.get(word);
        if (cached != null) {
            return cached;
        }
        int[] ids = tokenizeUncached(word);
        // Only words are worth caching; without a pre-tokenizer a "word" is a whole prompt.
        if (word.length() <= CACHE_MAX_WORD && cache.size() < CACHE_LIMIT) {
            cache.put(word, ids);
        }
        return ids;
    }

    private int[] tokenizeUncached(String word) {
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) {
                return new int[] {whole};
            }
        }
        Symbols s = initialSymbols(word);
        mergeAll(s);
        int[] out = new int[s.count()];
        int k = 0;
        for (int i = 0; i < s.n; i++) {
            if (!s.removed[i]) {
                out[k++] = s.id[i];
            }
        }
        return out;
    }

    /** The word as a doubly linked list of symbols, one per character (or byte / unknown run). */
    private Symbols initialSymbols(String word) {
        Symbols s = new Symbols(word.length() * 4 + 1);
        int unkRun = -1; // a pending (possibly fused) unknown
        int i = 0;
        while (i < word.length()) {
            int cp = word.codePointAt(i);
            int next = i + Character.charCount(cp);
            String ch = word.substring(i, next);
            if (i > 0 && continuingSubwordPrefix != null) {
                ch = continuingSubwordPrefix + ch;
            }
            if (next == word.length() && endOfWordSuffix != null) {
                ch = ch + endOfWordSuffix;
            }
            i = next;
            Integer id = vocab.get(ch);
            if (id != null) {
                if (unkRun >= 0) {
                    s.add(unkRun);
                    unkRun = -1;
                }
                s.add(id);
                continue;
            }
            if (byteFallback && addBytes(s, ch)) {
                continue;
            }
            if (unkToken != null) {
                Integer unk = vocab.get(unkToken);
                if (unk == null) {
                    throw new TokenizerException("BPE unk_token '" + unkToken + "' is not in the vocabulary");
                }
                if (unkRun >= 0 && !fuseUnk) {
                    s.add(unkRun);
                }
                unkRun = unk;
            }
            // no unk token: the character is dropped, as in HF
        }
        if (unkRun >= 0) {
            s.add(unkRun);
        }
        return s;
    }

    /** Adds the "<0xNN>" tokens of {@code ch}'s UTF-8 bytes if all exist. */
    private boolean addBytes(Symbols s, String ch) {
        byte[] bytes = ch.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        for (byte b : bytes) {
            if (byteTokenIds[b & 0xFF] < 0) {
                return false;
            }
        }
        for (byte b : bytes) {
            s.add(byteTokenIds[b & 0xFF]);
        }
        return true;
    }

    private void mergeAll(Symbols s) {
        // Queue entries: (rank << 32 | position of the left symbol); lowest rank, then leftmost.
        PriorityQueue<Long> queue = new PriorityQueue<>();
        for (int i = 0; i + 1 < s.n; i++) {
            Long m = merges.get(pair(s.id[i], s.id[i + 1]));
            if (m != null) {
                queue.add((m >>> 32) << 32 | i);
            }
        }
        while (!queue.isEmpty()) {
            long top = queue.poll();
            int rank = (int) (top >>> 32);
            int pos = (int) top;
            if (s.removed[pos] || s.next[pos] < 0) {
                continue;
            }
            int right = s.next[pos];
            Long m = merges.get(pair(s.id[pos], s.id[right]));
            if (m == null || (int) (m >>> 32) != rank) {
                continue; // stale: a neighbour was merged since this entry was queued
            }
            s.id[pos] = (int) (long) m;
            s.removed[right] = true;
            s.next[pos] = s.next[right];
            if (s.next[right] >= 0) {
                s.prev[s.next[right]] = pos;
            }
            if (s.prev[pos] >= 0) {
                Long left = merges.get(pair(s.id[s.prev[pos]], s.id[pos]));
                if (left != null) {
                    queue.add((left >>> 32) << 32 | s.prev[pos]);
                }
            }
            if (s.next[pos] >= 0) {
                Long after = merges.get(pair(s.id[pos], s.id[s.next[pos]]));
                if (after != null) {
                    queue.add((after >>> 32) << 32 | pos);
                }
            }
        }
    }

    private static long pair(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    /** Parallel arrays of a symbol list; removed symbols stay in place, unlinked. */
    private static final class Symbols {
        int[] id;
        int[] prev;
        int[] next;
        boolean[] removed;
        int n;

        Symbols(int capacity) {
            id = new int[capacity];
            prev = new int[capacity];
            next = new int[capacity];
            removed = new boolean[capacity];
        }

        void add(int token) {
            if (n == id.length) {
                int cap = n * 2;
                id = java.util.Arrays.copyOf(id, cap);
                prev = java.util.Arrays.copyOf(prev, cap);
                next = java.util.Arrays.copyOf(next, cap);
                removed = java.util.Arrays.copyOf(removed, cap);
            }
            id[n] = token;
            prev[n] = n - 1;
            next[n] = -1;
            if (n > 0) {
                next[n - 1] = n;
            }
            n++;
        }

        int count() {
            int c = 0;
            for (int i = 0; i < n; i++) {
                if (!removed[i]) {
                    c++;
                }
            }
            return c;
        }
    }
}
