package dev.lookahead.cli;

import dev.lookahead.api.LoadOptions;
import dev.lookahead.api.MoeModel;
import dev.lookahead.bindings.DeviceInfo;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;

/** Loads a model for a command, with a progress bar and a line saying which backend runs it. */
final class ModelLoading {
    private ModelLoading() {
    }

    static MoeModel load(Path dir, LoadOptions options, PrintStream log) {
        MoeModel model = MoeModel.load(dir, options, ProgressBar.stderr());
        DeviceInfo info = model.deviceInfo();
        log.printf(Locale.ROOT, "backend: %s on %s (%s)%n", info.backend(), info.name(), model.backendReason());
        log.println("memory: " + model.placementReport());
        if (model.policy().scheduled()) {
            log.println("lookahead heads: " + (options.headsFile() != null ? options.headsFile()
                    : "plug-and-play (each layer's router applied early; `lookahead align` trains heads)"));
        }
        return model;
    }

    static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }
}
