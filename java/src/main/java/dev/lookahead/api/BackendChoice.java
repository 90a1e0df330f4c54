package dev.lookahead.api;

/** Which native backend runs the model. */
public enum BackendChoice {
    /** CUDA when a usable GPU and driver are present, else CPU; the choice and its reason are reported. */
    AUTO,
    CPU,
    CUDA;

    public static BackendChoice parse(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "auto" -> AUTO;
            case "cpu" -> CPU;
            case "cuda", "gpu" -> CUDA;
            default -> throw new IllegalArgumentException("unknown backend '" + name + "': use auto, cpu or cuda");
        };
    }
}
