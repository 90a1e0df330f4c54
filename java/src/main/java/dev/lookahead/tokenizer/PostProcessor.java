package dev.lookahead.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A tokenizer.json post-processor, applied to the ids of a single sequence when special tokens
 * are requested. Supported: TemplateProcessing (e.g. Llama/Mistral's "&lt;s&gt; $A"), ByteLevel
 * (offset trimming only: ids unchanged), Sequence.
 */
@FunctionalInterface
interface PostProcessor {

    List<String> SUPPORTED = List.of("TemplateProcessing", "ByteLevel", "Sequence");

    int[] process(int[] ids, boolean addSpecial);

    PostProcessor NONE = (ids, addSpecial) -> ids;

    static PostProcessor fromJson(JsonNode node, String where) {
        if (node == null || node.isNull()) {
            return NONE;
        }
        String type = Json.type(node, where, SUPPORTED);
        return switch (type) {
            case "ByteLevel" -> NONE;
            case "Sequence" -> {
                JsonNode list = Json.array(node, "processors", where);
                List<PostProcessor> parts = new ArrayList<>();
                for (int i = 0; i < list.size(); i++) {
                    parts.add(fromJson(list.get(i), where + ".processors[" + i + "]"));
                }
                yield (ids, addSpecial) -> {
                    for (PostProcessor p : parts) {
                        ids = p.process(ids, addSpecial);
                    }
                    return ids;
                };
            }
            case "TemplateProcessing" -> template(node, where);
            default -> throw new IllegalStateException(type);
        };
    }

    /**
     * The "single" template: a list of {"SpecialToken": {"id": name}} (replaced by that special
     * token's ids) and {"Sequence": {"id": "A"}} (the encoded text).
     */
    private static PostProcessor template(JsonNode node, String where) {
        Map<String, int[]> specials = new HashMap<>();
        JsonNode st = Json.field(node, "special_tokens", where);
        for (Map.Entry<String, JsonNode> e : st.properties()) {
            JsonNode ids = Json.array(e.getValue(), "ids", where + ".special_tokens." + e.getKey());
            int[] arr = new int[ids.size()];
            for (int i = 0; i < arr.length; i++) {
                if (!ids.get(i).canConvertToInt() || ids.get(i).intValue() < 0) {
                    throw new TokenizerException(where + ".special_tokens." + e.getKey() + ": bad id " + ids.get(i));
                }
                arr[i] = ids.get(i).intValue();
            }
            specials.put(e.getKey(), arr);
        }
        JsonNode single = Json.array(node, "single", where);
        List<int[]> before = new ArrayList<>();
        List<int[]> after = new ArrayList<>();
        boolean seenSequence = false;
        for (int i = 0; i < single.size(); i++) {
            JsonNode item = single.get(i);
            String at = where + ".single[" + i + "]";
            if (item.has("Sequence")) {
                String id = Json.string(item.get("Sequence"), "id", at);
                if (!id.equals("A") || seenSequence) {
                    throw new TokenizerException(at + ": the single template must contain sequence A exactly once");
                }
                seenSequence = true;
            } else if (item.has("SpecialToken")) {
                String name = Json.string(item.get("SpecialToken"), "id", at);
                int[] ids = specials.get(name);
                if (ids == null) {
                    throw new TokenizerException(at + ": special token '" + name + "' is not in special_tokens");
                }
                (seenSequence ? after : before).add(ids);
            } else {
                throw new TokenizerException(at + ": expected Sequence or SpecialToken, got " + item);
            }
        }
        if (!seenSequence) {
            throw new TokenizerException(where + ".single: no sequence A");
        }
        int[] prefix = concat(before);
        int[] suffix = concat(after);
        return (ids, addSpecial) -> {
            if (!addSpecial) {
                return ids;
            }
            int[] out = new int[prefix.length + ids.length + suffix.length];
            System.arraycopy(prefix, 0, out, 0, prefix.length);
            System.arraycopy(ids, 0, out, prefix.length, ids.length);
            System.arraycopy(suffix, 0, out, prefix.length + ids.length, suffix.length);
            return out;
        };
    }

    private static int[] concat(List<int[]> parts) {
        return parts.stream().flatMapToInt(java.util.Arrays::stream).toArray();
    }
}
