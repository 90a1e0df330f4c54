package dev.lookahead.model;

import java.nio.file.Path;

/**
 * A checkpoint, safetensors file or config that cannot be used: malformed, inconsistent,
 * truncated, or asking for something that is not there. The message always names the file, and
 * the tensor when one is concerned, so that a user can find the culprit without a debugger.
 */
public class CheckpointException extends RuntimeException {

    private final Path file;
    private final String tensor;

    public CheckpointException(Path file, String tensor, String problem) {
        this(file, tensor, problem, null);
    }

    public CheckpointException(Path file, String tensor, String problem, Throwable cause) {
        super(format(file, tensor, problem), cause);
        this.file = file;
        this.tensor = tensor;
    }

    /** The file at fault (a safetensors file, config.json, the index, or the directory). */
    public Path file() {
        return file;
    }

    /** The tensor concerned, or null when the problem is not about one tensor. */
    public String tensor() {
        return tensor;
    }

    private static String format(Path file, String tensor, String problem) {
        StringBuilder sb = new StringBuilder();
        sb.append(file);
        if (tensor != null) {
            sb.append(": tensor '").append(tensor).append('\'');
        }
        return sb.append(": ").append(problem).toString();
    }
}
