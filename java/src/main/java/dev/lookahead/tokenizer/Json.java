package dev.lookahead.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * Typed reads of tokenizer JSON with errors that say where: every helper takes the component
 * path (e.g. "tokenizer.json: decoder.decoders[2]") used in the message.
 */
final class Json {

    private Json() {}

    static JsonNode field(JsonNode node, String name, String where) {
        JsonNode v = node == null ? null : node.get(name);
        if (v == null || v.isNull()) {
            throw new TokenizerException(where + ": missing '" + name + "'");
        }
        return v;
    }

    static String string(JsonNode node, String name, String where) {
        JsonNode v = field(node, name, where);
        if (!v.isTextual()) {
            throw new TokenizerException(where + ": '" + name + "' must be a string, got " + v);
        }
        return v.textValue();
    }

    static String optString(JsonNode node, String name, String where) {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw new TokenizerException(where + ": '" + name + "' must be a string, got " + v);
        }
        return v.textValue();
    }

    static boolean bool(JsonNode node, String name, boolean dflt, String where) {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw new TokenizerException(where + ": '" + name + "' must be true or false, got " + v);
        }
        return v.booleanValue();
    }

    static int integer(JsonNode node, String name, int dflt, String where) {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw new TokenizerException(where + ": '" + name + "' must be an integer, got " + v);
        }
        return v.intValue();
    }

    static JsonNode array(JsonNode node, String name, String where) {
        JsonNode v = field(node, name, where);
        if (!v.isArray()) {
            throw new TokenizerException(where + ": '" + name + "' must be a list, got " + v.getNodeType());
        }
        return v;
    }

    /** The component's "type", checked against the supported ones. */
    static String type(JsonNode node, String where, List<String> supported) {
        if (node == null || !node.isObject()) {
            throw new TokenizerException(where + ": must be an object");
        }
        String type = string(node, "type", where);
        if (!supported.contains(type)) {
            throw new TokenizerException(where + ": type '" + type + "' is not supported (supported: "
                    + String.join(", ", supported) + ")");
        }
        return type;
    }
}
