package dev.lookahead.reference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A deliberately small, independent safetensors reader for the test reference: it shares no code
 * with the engine's loader, so a bug there cannot hide by being repeated here. Reads every tensor
 * of a file into a double array, widening F32 / F16 / BF16 exactly.
 */
final class ReferenceSafetensors {

    /** A tensor widened to double, row-major. */
    record Tensor(long[] shape, double[] data) {}

    private ReferenceSafetensors() {}

    static Map<String, Tensor> read(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.flip().getLong();
            if (headerLen <= 0 || headerLen > size - 8 || headerLen > 100_000_000) {
                throw new IOException(file + ": bad safetensors header length " + headerLen);
            }
            ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLen);
            readFully(ch, headerBuf, 8);
            JsonNode header = new ObjectMapper().readTree(headerBuf.array());
            long dataStart = 8 + headerLen;

            Map<String, Tensor> out = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> e : header.properties()) {
                if (e.getKey().equals("__metadata__")) {
                    continue;
                }
                JsonNode t = e.getValue();
                String dtype = t.get("dtype").asText();
                JsonNode shapeNode = t.get("shape");
                long[] shape = new long[shapeNode.size()];
                long n = 1;
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = shapeNode.get(i).asLong();
                    n *= shape[i];
                }
                long begin = t.get("data_offsets").get(0).asLong();
                long end = t.get("data_offsets").get(1).asLong();
                int width = switch (dtype) {
                    case "F32" -> 4;
                    case "F16", "BF16" -> 2;
                    default -> throw new IOException(file + ": tensor " + e.getKey() + " has unsupported dtype " + dtype);
                };
                if (end - begin != n * width || dataStart + end > size) {
                    throw new IOException(file + ": tensor " + e.getKey() + " has inconsistent offsets");
                }
                ByteBuffer raw = ByteBuffer.allocate((int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN);
                readFully(ch, raw, dataStart + begin);
                raw.flip();
                double[] data = new double[(int) n];
                for (int i = 0; i < n; i++) {
                    data[i] = switch (dtype) {
                        case "F32" -> raw.getFloat();
                        case "F16" -> halfToDouble(raw.getShort());
                        default -> Float.intBitsToFloat((raw.getShort() & 0xFFFF) << 16); // BF16: upper half of an F32
                    };
                }
                out.put(e.getKey(), new Tensor(shape, data));
            }
            return out;
        }
    }

    /** The metadata map of a file (empty if none). */
    static Map<String, String> metadata(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            ByteBuffer headerBuf = ByteBuffer.allocate((int) lenBuf.flip().getLong());
            readFully(ch, headerBuf, 8);
            JsonNode meta = new ObjectMapper().readTree(headerBuf.array()).get("__metadata__");
            Map<String, String> out = new LinkedHashMap<>();
            if (meta != null) {
                meta.properties().forEach(e -> out.put(e.getKey(), e.getValue().asText()));
            }
            return out;
        }
    }

    /** IEEE binary16 -> double, by its definition (sign, 5-bit exponent bias 15, 10-bit fraction). */
    static double halfToDouble(short h) {
        int bits = h & 0xFFFF;
        int sign = bits >>> 15;
        int exp = (bits >>> 10) & 0x1F;
        int frac = bits & 0x3FF;
        double magnitude;
        if (exp == 0) {
            magnitude = frac * 0x1.0p-24; // subnormal: frac * 2^-14 * 2^-10
        } else if (exp == 31) {
            magnitude = frac == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        } else {
            magnitude = (1024 + frac) * Math.scalb(1.0, exp - 25); // (1 + frac/1024) * 2^(exp-15)
        }
        return sign == 1 ? -magnitude : magnitude;
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long p = position;
        while (buf.hasRemaining()) {
            int r = ch.read(buf, p);
            if (r < 0) {
                throw new IOException("unexpected end of file at " + p);
            }
            p += r;
        }
    }
}
