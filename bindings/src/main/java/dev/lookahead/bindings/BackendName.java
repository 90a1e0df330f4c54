package dev.lookahead.bindings;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The backends lk_device_open() knows, by the name it takes. */
public enum BackendName {
    /** The portable C backend inside liblookahead.so; always available. */
    CPU("cpu"),
    /** liblookahead_cuda.so, loaded on demand; needs an NVIDIA driver and GPU. */
    CUDA("cuda");

    private final String nativeName;

    BackendName(String nativeName) {
        this.nativeName = nativeName;
    }

    /** The string lk_device_open() takes and lk_device_info.backend reports. */
    public String nativeName() {
        return nativeName;
    }

    /** Parses "cpu" / "cuda" (case-insensitive). */
    public static BackendName of(String name) {
        for (BackendName b : values()) {
            if (b.nativeName.equalsIgnoreCase(name)) {
                return b;
            }
        }
        throw new IllegalArgumentException("Unknown backend '" + name + "'; known: "
                + Arrays.stream(values()).map(BackendName::nativeName).collect(Collectors.joining(", ")));
    }
}
