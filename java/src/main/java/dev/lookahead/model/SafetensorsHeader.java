package dev.lookahead.model;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parsed and validated JSON header of a safetensors file.
 *
 * <p>Layout of the file: 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the
 * data area. The JSON is an object: an optional {@code "__metadata__"} map of strings, and one
 * entry per tensor {@code {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}} with
 * offsets relative to the data area.
 *
 * <p>Checks (all before any tensor byte is touched): JSON syntax, no duplicate keys, no trailing
 * garbage, field types, dtype known (an unknown dtype is rejected here; a known but unsupported
 * one later, when its data is requested), {@code product(shape) * dtype size == end - begin}
 * without overflow, {@code 0 <= begin <= end <= data area size}, and no two non-empty tensors
 * overlapping. Gaps between tensors are tolerated (the reference implementation forbids them;
 * accepting them costs nothing here and never misreads a tensor).
 */
record SafetensorsHeader(Map<String, String> metadata, Map<String, TensorInfo> tensors) {

    static final String METADATA_KEY = "__metadata__";

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    /**
     * Parses {@code headerBytes} of {@code file}, whose data area has {@code dataSize} bytes.
     *
     * @throws CheckpointException naming the file (and the tensor) on any violation
     */
    static SafetensorsHeader parse(Path file, ByteBuffer headerBytes, long dataSize) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(headerBytes)
                    .toString();
        } catch (CharacterCodingException e) {
            throw new CheckpointException(file, null, "header is not valid UTF-8", e);
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JacksonException e) {
            throw new CheckpointException(file, null,
                    "header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new CheckpointException(file, null, "header is not a JSON object");
        }

        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            String name = field.getKey();
            if (name.equals(METADATA_KEY)) {
                readMetadata(file, field.getValue(), metadata);
            } else {
                tensors.put(name, readTensor(file, name, field.getValue(), dataSize));
            }
        }
        checkNoOverlap(file, tensors.values());
        return new SafetensorsHeader(Collections.unmodifiableMap(metadata),
                Collections.unmodifiableMap(tensors));
    }

    private static void readMetadata(Path file, JsonNode node, Map<String, String> out) {
        if (!node.isObject()) {
            throw new CheckpointException(file, null, METADATA_KEY + " is not an object");
        }
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!e.getValue().isTextual()) {
                throw new CheckpointException(file, null,
                        METADATA_KEY + " value of '" + e.getKey() + "' is not a string");
            }
            out.put(e.getKey(), e.getValue().textValue());
        }
    }

    private static TensorInfo readTensor(Path file, String name, JsonNode node, long dataSize) {
        if (!node.isObject()) {
            throw new CheckpointException(file, name, "header entry is not an object");
        }
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw new CheckpointException(file, name, "missing or non-string 'dtype'");
        }
        DType dtype = DType.parse(dtypeNode.textValue()).orElseThrow(() -> new CheckpointException(
                file, name, "unknown dtype " + dtypeNode.textValue()));

        long[] shape = readLongs(file, name, node.get("shape"), "shape", -1);
        long[] offsets = readLongs(file, name, node.get("data_offsets"), "data_offsets", 2);
        long begin = offsets[0];
        long end = offsets[1];
        if (begin > end) {
            throw new CheckpointException(file, name,
                    "data_offsets [" + begin + ", " + end + "] end before begin");
        }
        if (end > dataSize) {
            throw new CheckpointException(file, name, "data_offsets [" + begin + ", " + end
                    + "] lie outside the data area of " + dataSize + " bytes");
        }
        long expected;
        try {
            long count = 1;
            for (long d : shape) {
                count = Math.multiplyExact(count, d);
            }
            expected = Math.multiplyExact(count, dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new CheckpointException(file, name, "shape overflows a 64-bit byte count");
        }
        if (expected != end - begin) {
            throw new CheckpointException(file, name, "shape " + java.util.Arrays.toString(shape)
                    + " of " + dtype + " needs " + expected + " bytes but data_offsets ["
                    + begin + ", " + end + "] hold " + (end - begin));
        }
        return new TensorInfo(name, dtype, shape, begin, end - begin);
    }

    /** A JSON array of non-negative integers; {@code length} -1 means any length. */
    private static long[] readLongs(Path file, String tensor, JsonNode node, String field, int length) {
        if (node == null || !node.isArray()) {
            throw new CheckpointException(file, tensor, "missing or non-array '" + field + "'");
        }
        if (length >= 0 && node.size() != length) {
            throw new CheckpointException(file, tensor,
                    "'" + field + "' has " + node.size() + " elements, expected " + length);
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
                throw new CheckpointException(file, tensor,
                        "'" + field + "' element " + i + " is not a non-negative 64-bit integer: " + v);
            }
            out[i] = v.longValue();
        }
        return out;
    }

    private static void checkNoOverlap(Path file, Iterable<TensorInfo> infos) {
        List<TensorInfo> sorted = new ArrayList<>();
        for (TensorInfo t : infos) {
            if (t.byteLength() > 0) { // an empty tensor occupies no bytes, so overlaps nothing
                sorted.add(t);
            }
        }
        sorted.sort(Comparator.comparingLong(TensorInfo::dataOffset));
        for (int i = 1; i < sorted.size(); i++) {
            TensorInfo prev = sorted.get(i - 1);
            TensorInfo cur = sorted.get(i);
            if (cur.dataOffset() < prev.dataOffset() + prev.byteLength()) {
                throw new CheckpointException(file, cur.name(), "data_offsets [" + cur.dataOffset()
                        + ", " + (cur.dataOffset() + cur.byteLength()) + "] overlap tensor '"
                        + prev.name() + "' at [" + prev.dataOffset() + ", "
                        + (prev.dataOffset() + prev.byteLength()) + "]");
            }
        }
    }
}
