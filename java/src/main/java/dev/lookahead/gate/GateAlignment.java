package dev.lookahead.gate;

import dev.lookahead.util.Progress;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Layer-wise gate alignment: every head is trained on its own to match the true routing
 * distribution of its target layer (KL divergence, Adam), starting from its current weights
 * (plug-and-play for fresh heads), and measured before and after on held-out tokens. Heads are
 * trained one after the other: each is cheap (a [experts, hidden] matrix), and the calibration
 * data is shared read-only, so a parallel version would only need one objective per thread.
 */
public final class GateAlignment {
    /** The aligned heads and the report. */
    public record Result(LookaheadHeads heads, AlignmentReport report) {
    }

    private GateAlignment() {
    }

    /**
     * @param topK the model's experts per token: recall is measured against the router's top-k
     */
    public static Result align(LookaheadHeads initial, CalibrationData data, int topK, AlignOptions options, Progress progress) {
        return align(initial, data, Split.of(data.tokens(), options.holdout(), options.validation()), topK, options, progress);
    }

    /** Alignment with an explicit split (e.g. a held-out text of its own); {@code options.holdout} is not used. */
    public static Result align(LookaheadHeads initial, CalibrationData data, Split split, int topK, AlignOptions options,
                               Progress progress) {
        if (split.tokens() != data.tokens()) {
            throw new IllegalArgumentException("split of " + split.tokens() + " tokens for data of " + data.tokens());
        }
        if (data.hidden() != initial.hidden() || data.experts() != initial.experts() || data.layers() != initial.layout().layers()) {
            throw new IllegalArgumentException("calibration data (" + data.layers() + " layers, hidden " + data.hidden() + ", "
                    + data.experts() + " experts) does not fit the heads (" + initial + ")");
        }
        if (topK < 1 || topK > data.experts()) {
            throw new IllegalArgumentException("top-k must be in [1, " + data.experts() + "], got " + topK);
        }
        List<HeadId> ids = initial.heads();
        Map<HeadId, LookaheadHeads.Parameters> trained = new LinkedHashMap<>();
        List<AlignmentReport.HeadRow> rows = new ArrayList<>();
        long total = (long) ids.size() * Math.max(1, options.epochs());
        progress.start("align", total, "epochs");
        long done = 0;
        for (HeadId id : ids) {
            HeadObjective objective = new HeadObjective(data, id);
            double[] init = HeadObjective.pack(initial.weight(id), initial.bias(id));
            HeadMetrics before = objective.metrics(init, split.heldoutStart(), split.tokens(), topK);
            HeadMetrics prior = objective.priorRecall(0, split.validationStart(), split.heldoutStart(), split.tokens(), topK);
            final long base = done;
            HeadTrainer.Outcome o = HeadTrainer.train(objective, id, init, split, options, e -> progress.update(base + e));
            done += Math.max(1, options.epochs());
            progress.update(done);
            LookaheadHeads.Parameters kept = HeadObjective.unpack(o.parameters(), data.experts(), data.hidden());
            // measured as stored: in float
            HeadMetrics after = objective.metrics(HeadObjective.pack(kept.weight(), kept.bias()), split.heldoutStart(),
                    split.tokens(), topK);
            trained.put(id, kept);
            rows.add(new AlignmentReport.HeadRow(id, id.targetLayer(data.layers()), initial.layout().isLongRangeOnly(id), initial.layout().isNextToken(id), before, after, prior,
                    o.epochs(), o.bestEpoch(), o.validationKlBefore(), o.validationKlAfter()));
        }
        progress.finish();
        AlignmentReport report = new AlignmentReport(topK, data.experts(), split, options, rows);
        return new Result(initial.withParameters(trained, report.summaryJson()), report);
    }
}
