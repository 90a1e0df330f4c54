package dev.lookahead.jmh;

import dev.lookahead.model.ModelConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The shape parameter of the matmul benchmarks: W[rows, cols], y = W x.
 *
 * <ul>
 *   <li>{@code ROWSxCOLS}, e.g. {@code 14336x4096} (Mixtral-8x7B's w1/w3: [intermediate, hidden])
 *       or {@code 4096x14336} (its w2: [hidden, intermediate]);</li>
 *   <li>{@code demo}: the demo model's expert up-projection [intermediate_size, hidden_size], read
 *       from {@code models/demo/config.json} (looked up under the system property
 *       {@code lookahead.home}, the working directory and its parent); when there is no such file
 *       (the demo model is not trained yet), the fixed fallback {@value #DEMO_FALLBACK}.</li>
 * </ul>
 */
record MatrixShape(long rows, long cols, String origin) {
    static final String DEMO = "demo";
    static final String DEMO_FALLBACK = "512x256";

    MatrixShape {
        if (rows <= 0 || cols <= 0) {
            throw new IllegalArgumentException("shape must be positive, got " + rows + "x" + cols);
        }
    }

    static MatrixShape parse(String param) {
        String p = param.trim();
        if (p.equalsIgnoreCase(DEMO)) {
            return demo();
        }
        return parseDims(p, p);
    }

    long weights() {
        return rows * cols;
    }

    @Override
    public String toString() {
        return rows + "x" + cols + " (" + origin + ")";
    }

    private static MatrixShape parseDims(String dims, String origin) {
        String[] parts = dims.toLowerCase().split("x");
        if (parts.length != 2) {
            throw new IllegalArgumentException("shape must be ROWSxCOLS (e.g. 14336x4096) or 'demo', got '" + dims + "'");
        }
        try {
            return new MatrixShape(Long.parseLong(parts[0].trim()), Long.parseLong(parts[1].trim()), origin);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("shape must be ROWSxCOLS (e.g. 14336x4096) or 'demo', got '" + dims + "'");
        }
    }

    private static MatrixShape demo() {
        for (Path home : homes()) {
            Path config = home.resolve("models/demo/config.json");
            if (Files.isRegularFile(config)) {
                ModelConfig c = ModelConfig.read(config);
                return new MatrixShape(c.intermediateSize(), c.hiddenSize(), config.toString());
            }
        }
        return parseDims(DEMO_FALLBACK, "demo fallback: no models/demo/config.json");
    }

    private static List<Path> homes() {
        List<Path> homes = new ArrayList<>();
        String home = System.getProperty("lookahead.home");
        if (home != null && !home.isBlank()) {
            homes.add(Path.of(home));
        }
        Path cwd = Path.of("").toAbsolutePath();
        homes.add(cwd);
        if (cwd.getParent() != null) {
            homes.add(cwd.getParent());
        }
        return homes;
    }
}
