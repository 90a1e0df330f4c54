package dev.lookahead.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds added tokens in text: leftmost match first, and the longest of those starting there
 * (what HF's Aho-Corasick with LeftmostLongest does), then applies the token's single_word,
 * lstrip and rstrip options. A match rejected by single_word is skipped, and scanning goes on
 * after it.
 */
final class AddedTokenMatcher {

    /** A piece of the text: an added token ({@code token} non-null) or text between tokens. */
    record Part(int start, int end, AddedToken token) {}

    private static final class Node {
        final Map<Character, Node> children = new HashMap<>(4);
        AddedToken token;
    }

    private final Node root = new Node();
    private final boolean empty;

    AddedTokenMatcher(List<AddedToken> tokens) {
        for (AddedToken t : tokens) {
            insert(t.content(), t);
        }
        this.empty = tokens.isEmpty();
    }

    /** A matcher for tokens whose patterns differ from their content (normalized tokens). */
    AddedTokenMatcher(Map<String, AddedToken> patterns) {
        patterns.forEach(this::insert);
        this.empty = patterns.isEmpty();
    }

    private void insert(String pattern, AddedToken t) {
        if (pattern.isEmpty()) {
            return;
        }
        Node n = root;
        for (int i = 0; i < pattern.length(); i++) {
            n = n.children.computeIfAbsent(pattern.charAt(i), c -> new Node());
        }
        if (n.token == null) { // the first token with a pattern wins
            n.token = t;
        }
    }

    /** Splits {@code s} into added tokens and the text around them; never empty parts. */
    List<Part> split(String s) {
        List<Part> out = new ArrayList<>();
        if (empty || s.isEmpty()) {
            if (!s.isEmpty()) {
                out.add(new Part(0, s.length(), null));
            }
            return out;
        }
        int done = 0; // end of the last emitted part
        int scan = 0; // where the search for the next match starts
        while (scan < s.length()) {
            int start = scan;
            int end = -1;
            AddedToken token = null;
            for (; start < s.length(); start++) {
                Node n = root;
                for (int j = start; j < s.length(); j++) {
                    n = n.children.get(s.charAt(j));
                    if (n == null) {
                        break;
                    }
                    if (n.token != null) {
                        end = j + 1;
                        token = n.token;
                    }
                }
                if (token != null) {
                    break;
                }
            }
            if (token == null) {
                break;
            }
            scan = end;
            if (token.singleWord()) {
                boolean wordBefore = start > 0 && Unicode.isWordChar(s.codePointBefore(start));
                boolean wordAfter = end < s.length() && Unicode.isWordChar(s.codePointAt(end));
                if (wordBefore || wordAfter) {
                    continue;
                }
            }
            int from = start;
            int to = end;
            if (token.lstrip()) {
                while (from > done && Unicode.isWhiteSpace(s.codePointBefore(from))) {
                    from -= Character.charCount(s.codePointBefore(from));
                }
            }
            if (token.rstrip()) {
                while (to < s.length() && Unicode.isWhiteSpace(s.codePointAt(to))) {
                    to += Character.charCount(s.codePointAt(to));
                }
            }
            if (from > done) {
                out.add(new Part(done, from, null));
            }
            out.add(new Part(from, to, token));
            done = to;
            scan = Math.max(scan, to);
        }
        if (done < s.length()) {
            out.add(new Part(done, s.length(), null));
        }
        return out;
    }
}
