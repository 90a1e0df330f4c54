package dev.lookahead.engine;

import dev.lookahead.bindings.DType;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceBuffer;
import dev.lookahead.bindings.DeviceSlice;
import dev.lookahead.bindings.PinnedBuffer;
import dev.lookahead.bindings.Stream;
import dev.lookahead.expert.Expert;
import dev.lookahead.model.ModelConfig;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The Mixtral forward pass over the native ops: tokens in, logits out, keys and values
 * appended to the KV cache. Runs up to {@code chunk} tokens per pass (longer inputs are split);
 * a decode step is a pass of one token. After each layer's router, the chosen experts are read
 * back to Java, which runs each chosen expert on the rows routed to it. In a decode pass the
 * router, the lookahead heads and Mixtral-offloading's next-layer guess of a layer are single
 * {@code routerHeads} ops whose results land in one packed region, read back with one copy. A decode pass can take its
 * routing from a recorded trace instead ({@link #forceNextPass}, {@code --routing-from}).
 *
 * <p>Not thread-safe: one forward pass per sequence.
 */
public final class ForwardPass implements AutoCloseable {
    private static final int F32 = 4;

    private final ModelConfig config;
    private final ModelWeights weights;
    private final ExpertSource expertSource;
    private final KvCache cache;
    private final Stream stream;
    private final int chunk;
    private final int dim, qDim, kvDim, inter, experts, topK, vocab;

    private final DeviceBuffer scratch;
    private final DeviceSlice ids;        // i32 [chunk]
    private final DeviceSlice x;          // [chunk, dim] residual stream
    private final DeviceSlice xn;         // [chunk, dim] normed input of a block
    private final DeviceSlice q;          // [chunk, qDim]
    private final DeviceSlice k;          // [chunk, kvDim]
    private final DeviceSlice v;          // [chunk, kvDim]
    private final DeviceSlice attn;       // [chunk, qDim]
    private final DeviceSlice proj;       // [chunk, dim]
    private final DeviceSlice routerLogits; // [chunk, experts]
    private final DeviceSlice topIdx;     // i32 [chunk, topK]
    private final DeviceSlice topWeight;  // [chunk, topK]
    private final DeviceSlice expertRows; // i32 [experts, chunk]: rows routed to each expert
    private final DeviceSlice expertWeight; // [experts, chunk]: their gate weights
    private final DeviceSlice gathered;   // [chunk, dim]
    private final DeviceSlice h1, h3;     // [chunk, inter]
    private final DeviceSlice expertOut;  // [chunk, dim]
    private final DeviceSlice logits;     // [chunk, vocab]
    private final DeviceSlice predXn;     // [1, dim] next layer's normed input (decode prediction)
    private final DeviceSlice routed;     // decode read-back, packed 4-byte words:
                                          // idx[topK] | weight[topK] | headProbs[heads, experts] | predIdx[topK] | predWeight[topK]
    private final int maxHeads;           // heads of one layer that `routed` has room for

    private final PinnedBuffer host;
    private final MemorySegment hostIds, hostTopIdx, hostTopWeight, hostExpertRows, hostExpertWeight, hostLogits, hostPredIdx;
    private final MemorySegment hostRouted; // the read-back of `routed`
    private final int[] rowCount;
    private final int[] used;          // experts used by a pass of a layer
    private final int[] predicted;
    private long decodeSteps;           // the eviction policy's clock: tokens decoded so far
    private final int[] chosen;
    private final float[] chosenWeight;

    private ForcedRouting forcedRouting; // the routing of the next pass when forcedToken >= 0
    private int forcedToken = -1;
    private HeadOracle headOracle; // a what-if: the heads' probabilities replaced on forced passes (null: the heads')

    private RoutingListener routingListener;
    private HiddenStateListener hiddenStateListener;
    private float[] hiddenRows;
    private Timeline timeline; // null unless profiling

    public ForwardPass(ModelConfig config, ModelWeights weights, ExpertSource expertSource, KvCache cache, Device device,
                       Stream stream, int chunk) {
        if (chunk <= 0) throw new IllegalArgumentException("chunk must be > 0, got " + chunk);
        this.config = config;
        this.weights = weights;
        this.expertSource = expertSource;
        this.cache = cache;
        this.stream = stream;
        this.chunk = chunk;
        this.dim = config.hiddenSize();
        this.qDim = config.qDim();
        this.kvDim = config.kvDim();
        this.inter = config.intermediateSize();
        this.experts = config.numLocalExperts();
        this.topK = config.numExpertsPerTok();
        this.vocab = config.vocabSize();
        this.rowCount = new int[experts];
        this.chosen = new int[topK];
        this.chosenWeight = new float[topK];
        this.used = new int[experts];
        this.predicted = new int[topK];

        long[] sizes = scratchSizes(config, chunk);
        long[] offsets = new long[sizes.length];
        long total = 0;
        for (int i = 0; i < sizes.length; i++) {
            offsets[i] = total;
            total += (sizes[i] + 255) & ~255L;
        }
        this.scratch = device.allocate(total);
        DeviceSlice[] s = new DeviceSlice[sizes.length];
        for (int i = 0; i < sizes.length; i++) s[i] = scratch.slice(offsets[i], sizes[i]);
        ids = s[0]; x = s[1]; xn = s[2]; q = s[3]; k = s[4]; v = s[5]; attn = s[6]; proj = s[7];
        routerLogits = s[8]; topIdx = s[9]; topWeight = s[10]; expertRows = s[11]; expertWeight = s[12];
        gathered = s[13]; h1 = s[14]; h3 = s[15]; expertOut = s[16]; logits = s[17];
        predXn = s[18]; routed = s[19];
        this.maxHeads = maxHeadsPerLayer(config);
        DeviceGate gate = expertSource.gate();
        if (gate != null && (gate.maxHeads() > maxHeads || gate.hidden() != dim)) {
            scratch.close();
            throw new IllegalArgumentException("lookahead heads (" + gate.maxHeads() + " per layer, hidden " + gate.hidden()
                    + ") do not fit the model (at most " + maxHeads + " per layer, hidden " + dim + ")");
        }

        long predBytes = (long) topK * 4;
        long hostBytes = sizes[0] + sizes[9] + sizes[10] + sizes[11] + sizes[12] + sizes[17] + predBytes + sizes[19];
        try {
            this.host = device.allocatePinned(hostBytes);
        } catch (RuntimeException e) {
            scratch.close();
            throw e;
        }
        MemorySegment h = host.segment();
        long o = 0;
        hostIds = h.asSlice(o, sizes[0]); o += sizes[0];
        hostTopIdx = h.asSlice(o, sizes[9]); o += sizes[9];
        hostTopWeight = h.asSlice(o, sizes[10]); o += sizes[10];
        hostExpertRows = h.asSlice(o, sizes[11]); o += sizes[11];
        hostExpertWeight = h.asSlice(o, sizes[12]); o += sizes[12];
        hostLogits = h.asSlice(o, sizes[17]); o += sizes[17];
        hostPredIdx = h.asSlice(o, predBytes); o += predBytes;
        hostRouted = h.asSlice(o, sizes[19]);
    }

    /** Bytes of each device scratch region for a pass of up to {@code chunk} tokens. */
    private static long[] scratchSizes(ModelConfig config, int chunk) {
        long dim = config.hiddenSize(), qDim = config.qDim(), kvDim = config.kvDim(), inter = config.intermediateSize();
        long experts = config.numLocalExperts(), topK = config.numExpertsPerTok(), vocab = config.vocabSize();
        return new long[] {
                chunk * 4L, chunk * dim * F32, chunk * dim * F32, chunk * qDim * F32,
                chunk * kvDim * F32, chunk * kvDim * F32, chunk * qDim * F32,
                chunk * dim * F32, chunk * experts * F32, chunk * topK * 4,
                chunk * topK * F32, experts * chunk * 4, experts * chunk * F32,
                chunk * dim * F32, chunk * inter * F32, chunk * inter * F32,
                chunk * dim * F32, chunk * vocab * F32,
                dim * F32, 4L * (4 * topK + maxHeadsPerLayer(config) * experts)};
    }

    /**
     * Bound on the lookahead heads reading one layer: within-token heads to the later layers and
     * next-token heads to every layer (at most 2 * layers - 1 in any layout).
     */
    private static int maxHeadsPerLayer(ModelConfig config) {
        return 2 * config.numHiddenLayers();
    }

    /** Device memory a forward pass of up to {@code chunk} tokens allocates (for budget planning). */
    public static long deviceBytes(ModelConfig config, int chunk) {
        long total = 0;
        for (long size : scratchSizes(config, chunk)) total += (size + 255) & ~255L;
        return total;
    }

    public void setRoutingListener(RoutingListener listener) {
        this.routingListener = listener;
    }

    public void setHiddenStateListener(HiddenStateListener listener) {
        this.hiddenStateListener = listener;
    }

    /**
     * The next pass, which must run one token, routes every layer as token {@code token} (replay order) of
     * {@code routing} instead of by the router's top-k. The router still runs and is read back, so the pass
     * costs what a routed one does; its choice is then overwritten. Applies to that one pass only.
     */
    public void forceNextPass(ForcedRouting routing, int token) {
        if (routing.layers() != weights.layers.size() || routing.topK() != topK) {
            throw new IllegalArgumentException("forced routing of " + routing.layers() + " layers, top-" + routing.topK()
                    + " for a model of " + weights.layers.size() + " layers, top-" + topK);
        }
        if (token < 0 || token >= routing.tokens()) {
            throw new IllegalArgumentException("forced token " + token + " outside the trace's " + routing.tokens() + " tokens");
        }
        this.forcedRouting = routing;
        this.forcedToken = token;
    }

    /**
     * WHAT-IF: on passes whose routing is forced, the lookahead heads' probabilities are {@code oracle}'s instead
     * ({@link HeadOracle}); null (the default) keeps the heads'.
     */
    public void setHeadOracle(HeadOracle oracle) {
        this.headOracle = oracle;
    }

    /** Records the phases of each pass for `lookahead profile`; null (the default) records nothing. */
    public void setTimeline(Timeline timeline) {
        this.timeline = timeline;
    }

    public int chunk() {
        return chunk;
    }

    /** Runs tokens[from, from + n) at positions pos.. and returns the logits of the last one: [vocab]. */
    public float[] forwardLast(int[] tokens, int from, int n, long pos) {
        float[] out = new float[vocab];
        if (timeline != null) timeline.beginForward(stream, n, pos);
        for (int done = 0; done < n; ) {
            int m = Math.min(chunk, n - done);
            boolean last = done + m == n;
            pass(tokens, from + done, m, pos + done, last ? LogitRows.LAST : LogitRows.NONE);
            if (last) MemorySegment.copy(hostLogits, ValueLayout.JAVA_FLOAT, 0, out, 0, vocab);
            done += m;
        }
        if (timeline != null) timeline.endForward();
        return out;
    }

    /** Receives the logits of every position of a {@link #forwardAll} call. */
    @FunctionalInterface
    public interface LogitsConsumer {
        /** @param logits [vocab] of the token at index {@code index} of the input (reused: copy what you keep) */
        void accept(int index, float[] logits);
    }

    /** Runs tokens[from, from + n) at positions pos.. and hands over the logits of every position. */
    public void forwardAll(int[] tokens, int from, int n, long pos, LogitsConsumer consumer) {
        float[] row = new float[vocab];
        if (timeline != null) timeline.beginForward(stream, n, pos);
        for (int done = 0; done < n; ) {
            int m = Math.min(chunk, n - done);
            pass(tokens, from + done, m, pos + done, LogitRows.ALL);
            for (int r = 0; r < m; r++) {
                MemorySegment.copy(hostLogits, ValueLayout.JAVA_FLOAT, (long) r * vocab * F32, row, 0, vocab);
                consumer.accept(done + r, row);
            }
            done += m;
        }
        if (timeline != null) timeline.endForward();
    }

    private enum LogitRows { NONE, LAST, ALL }

    /** One pass of n <= chunk tokens. */
    private void pass(int[] tokens, int from, int n, long pos, LogitRows logitRows) {
        int forced = forcedToken; // armed for this pass only
        forcedToken = -1;
        if (forced >= 0 && n != 1) {
            throw new IllegalStateException("forced routing replays one decoded token per pass, not a pass of " + n);
        }
        if (pos < 0 || pos + n > cache.capacity()) {
            throw new IllegalArgumentException("positions " + pos + ".." + (pos + n - 1)
                    + " exceed the context of " + cache.capacity() + " tokens");
        }
        for (int i = 0; i < n; i++) {
            int t = tokens[from + i];
            if (t < 0 || t >= vocab) throw new IllegalArgumentException("token id " + t + " outside the vocabulary [0, " + vocab + ")");
            hostIds.setAtIndex(ValueLayout.JAVA_INT, i, t);
        }
        if (n == 1 && forced < 0) expertSource.beginDecodeToken(decodeSteps, tokens[from]);
        float eps = (float) config.rmsNormEps();
        if (timeline != null) timeline.begin(stream, Timeline.Span.EMBEDDING, -1, -1);
        // a decoded token's id is set on the device, not copied: a host-to-device copy would wait behind the
        // expert copies in flight on the link (the staging's, across the token boundary)
        if (n == 1) stream.fill32(ids.slice(0, 4), tokens[from]);
        else stream.copyToDevice(hostIds.asSlice(0, (long) n * 4), ids.slice(0, (long) n * 4));
        WeightTensor emb = weights.embedding;
        stream.embedding(emb.dtype(), emb.slice(), vocab, dim, ids.slice(0, (long) n * 4), n, rows(x, n, dim));
        if (timeline != null) timeline.end(stream, Timeline.Span.EMBEDDING);

        for (int l = 0; l < weights.layers.size(); l++) {
            LayerWeights w = weights.layers.get(l);
            if (timeline != null) { timeline.begin(stream, Timeline.Span.LAYER, l, -1); timeline.begin(stream, Timeline.Span.ATTENTION, l, -1); }
            // attention block: x += o(attention(rope(q), rope(k), v))
            stream.rmsnorm(rows(x, n, dim), w.attnNorm().dtype(), w.attnNorm().slice(), n, dim, eps, rows(xn, n, dim));
            apply(w.q(), xn, n, q);
            apply(w.k(), xn, n, k);
            apply(w.v(), xn, n, v);
            float theta = (float) config.ropeTheta();
            stream.rope(rows(q, n, qDim), n, config.numAttentionHeads(), config.headDim(), pos, theta);
            stream.rope(rows(k, n, kvDim), n, config.numKeyValueHeads(), config.headDim(), pos, theta);
            DeviceSlice kc = cache.keys(l), vc = cache.values(l);
            stream.convert(DType.F32, rows(k, n, kvDim), cache.dtype(), cache.rows(kc, pos, n), (long) n * kvDim);
            stream.convert(DType.F32, rows(v, n, kvDim), cache.dtype(), cache.rows(vc, pos, n), (long) n * kvDim);
            stream.attention(cache.shape(), rows(q, n, qDim), kc, vc, rows(attn, n, qDim), n, pos);
            apply(w.o(), attn, n, proj);
            stream.add(rows(x, n, dim), rows(proj, n, dim), (long) n * dim);
            if (timeline != null) timeline.end(stream, Timeline.Span.ATTENTION);

            if (hiddenStateListener != null) notifyHidden(pos, l, n);
            // MoE block: x += sum over chosen experts of weight * expert(norm(x))
            if (timeline != null) timeline.begin(stream, Timeline.Span.ROUTER, l, -1);
            boolean predict = n == 1 && l + 1 < weights.layers.size() && expertSource.wantsNextLayerPrediction();
            DeviceGate gate = n == 1 ? expertSource.gate() : null;
            DeviceSlice wt;
            if (n == 1) {
                wt = routeDecode(l, predict, gate);
            } else {
                stream.rmsnorm(rows(x, n, dim), w.ffnNorm().dtype(), w.ffnNorm().slice(), n, dim, eps, rows(xn, n, dim));
                WeightTensor router = w.router();
                stream.matmul(router.dtype(), router.slice(), rows(xn, n, dim), n, experts, dim, rows(routerLogits, n, experts));
                DeviceSlice idx = topIdx.slice(0, (long) n * topK * 4);
                wt = topWeight.slice(0, (long) n * topK * F32);
                stream.routerTopk(rows(routerLogits, n, experts), n, experts, topK, true, null, idx, wt);
                stream.copyToHost(idx, hostTopIdx.asSlice(0, idx.bytes()));
                stream.copyToHost(wt, hostTopWeight.asSlice(0, wt.bytes()));
            }
            if (timeline != null) { timeline.end(stream, Timeline.Span.ROUTER); timeline.beginHost(Timeline.Span.READBACK, l); }
            stream.synchronize();
            if (timeline != null) timeline.endHost(Timeline.Span.READBACK);
            if (n == 1) unpackDecode(l, predict, gate);
            if (forced >= 0) force(forced, l, wt);
            if (forced >= 0 && gate != null && headOracle != null) headOracle.apply(gate, l, forced);
            notifyRouting(pos, l, n);
            long step = decodeSteps * weights.layers.size() + l;
            if (timeline != null) timeline.begin(stream, Timeline.Span.EXPERTS, l, -1);
            if (n == 1) runExpertsSingle(l, wt, step, predict);
            else runExpertsBatched(l, n, step);
            if (timeline != null) { timeline.end(stream, Timeline.Span.EXPERTS); timeline.end(stream, Timeline.Span.LAYER); }
        }
        if (n == 1) decodeSteps++;

        if (logitRows == LogitRows.NONE) return;
        WeightTensor norm = weights.finalNorm, head = weights.lmHead;
        if (timeline != null) timeline.begin(stream, Timeline.Span.LM_HEAD, -1, -1);
        if (logitRows == LogitRows.ALL) {
            stream.rmsnorm(rows(x, n, dim), norm.dtype(), norm.slice(), n, dim, eps, rows(xn, n, dim));
            stream.matmul(head.dtype(), head.slice(), rows(xn, n, dim), n, vocab, dim, rows(logits, n, vocab));
            stream.copyToHost(rows(logits, n, vocab), hostLogits.asSlice(0, (long) n * vocab * F32));
        } else {
            DeviceSlice lastRow = x.slice((long) (n - 1) * dim * F32, (long) dim * F32);
            stream.rmsnorm(lastRow, norm.dtype(), norm.slice(), 1, dim, eps, rows(xn, 1, dim));
            stream.matmul(head.dtype(), head.slice(), rows(xn, 1, dim), 1, vocab, dim, rows(logits, 1, vocab));
            stream.copyToHost(rows(logits, 1, vocab), hostLogits.asSlice(0, (long) vocab * F32));
        }
        if (timeline != null) { timeline.end(stream, Timeline.Span.LM_HEAD); timeline.beginHost(Timeline.Span.READBACK, -1); }
        stream.synchronize();
        if (timeline != null) timeline.endHost(Timeline.Span.READBACK);
        expertSource.endPass();
    }

    /**
     * Decode routing of layer {@code layer} for the one row of x: one {@code routerHeads} op gives the experts' input
     * (xn), the router's top-k and, with a gate, the probabilities of the heads reading this layer; with
     * {@code predict}, a second one applies layer {@code layer + 1}'s norm and router to the same x
     * (Mixtral-offloading's speculative guess of the next layer's experts). Their outputs are adjacent in
     * {@code routed}, so one copy reads everything back. Returns the device gate weights [topK] of the row.
     */
    private DeviceSlice routeDecode(int layer, boolean predict, DeviceGate gate) {
        LayerWeights w = weights.layers.get(layer);
        float eps = (float) config.rmsNormEps();
        int heads = gate == null ? 0 : gate.headCount(layer);
        long words = 2L * topK + (long) heads * experts;
        DeviceSlice x1 = rows(x, 1, dim);
        stream.routerHeads(x1, dim, eps, w.ffnNorm().dtype(), w.ffnNorm().slice(), w.router().dtype(), w.router().slice(),
                experts, topK, true, heads, heads > 0 ? gate.weights(layer) : null, heads > 0 ? gate.biases(layer) : null,
                rows(xn, 1, dim), routed.slice(0, 4 * words));
        if (predict) {
            LayerWeights nw = weights.layers.get(layer + 1);
            stream.routerHeads(x1, dim, eps, nw.ffnNorm().dtype(), nw.ffnNorm().slice(), nw.router().dtype(),
                    nw.router().slice(), experts, topK, true, 0, null, null, predXn, routed.slice(4 * words, 8L * topK));
            words += 2L * topK;
        }
        stream.copyToHost(routed.slice(0, 4 * words), hostRouted.asSlice(0, 4 * words));
        return routed.slice(4L * topK, 4L * topK);
    }

    /** After the read-back of {@link #routeDecode}: hands each consumer its part of {@code hostRouted}. */
    private void unpackDecode(int layer, boolean predict, DeviceGate gate) {
        long k4 = 4L * topK;
        MemorySegment.copy(hostRouted, 0, hostTopIdx, 0, k4);
        MemorySegment.copy(hostRouted, k4, hostTopWeight, 0, k4);
        int heads = gate == null ? 0 : gate.headCount(layer);
        if (heads > 0) gate.accept(layer, hostRouted.asSlice(2 * k4, 4L * heads * experts));
        if (predict) MemorySegment.copy(hostRouted, 2 * k4 + 4L * heads * experts, hostPredIdx, 0, k4);
    }

    /**
     * Replaces the router's choice for the one row of a decode pass: the host copies (read by the expert plan and
     * the listener) and the device gate weights (read by runExpertsSingle's scatter-add). The device indices are
     * not read after the read-back, so they are left as the router wrote them.
     */
    private void force(int token, int layer, DeviceSlice wt) {
        forcedRouting.write(token, layer, hostTopIdx, hostTopWeight);
        // set on the device, not copied: a copy would wait behind the expert copies in flight on the link
        for (int j = 0; j < topK; j++) {
            stream.fill32(wt.slice((long) j * F32, F32), Float.floatToRawIntBits(hostTopWeight.getAtIndex(ValueLayout.JAVA_FLOAT, j)));
        }
    }

    /** Decode: one row; each chosen expert's output is added to x with its weight read on the device. */
    private void runExpertsSingle(int layer, DeviceSlice topWeights, long step, boolean predicted) {
        for (int j = 0; j < topK; j++) chosen[j] = hostTopIdx.getAtIndex(ValueLayout.JAVA_INT, j);
        if (timeline != null) timeline.beginHost(Timeline.Span.EXPERT_PLAN, layer);
        int[] order = expertSource.prepare(layer, chosen, topK, step, false);
        if (timeline != null) timeline.endHost(Timeline.Span.EXPERT_PLAN);
        for (int j : order) {
            int e = chosen[j];
            if (timeline != null) timeline.begin(stream, Timeline.Span.EXPERT, layer, e);
            Expert expert = expertSource.acquire(layer, e);
            expert.forward(stream, rows(xn, 1, dim), 1, h1, h3, rows(expertOut, 1, dim));
            stream.scatterAddRows(rows(x, 1, dim), rows(expertOut, 1, dim), null, topWeights.slice((long) j * F32, F32), 1, dim);
            if (timeline != null) timeline.end(stream, Timeline.Span.EXPERT);
            expertSource.release(layer, e);
        }
        // speculation is planned while the experts compute: the stream needs only the demand copies, issued above
        expertSource.speculate(layer, step);
        if (predicted) {
            for (int j = 0; j < topK; j++) this.predicted[j] = hostPredIdx.getAtIndex(ValueLayout.JAVA_INT, j);
            expertSource.prefetch(layer + 1, this.predicted, topK, layer, chosen, topK, step);
        }
    }

    /** Prefill: each expert runs once on the rows routed to it (gather, FFN, weighted scatter-add). */
    private void runExpertsBatched(int layer, int n, long step) {
        java.util.Arrays.fill(rowCount, 0);
        for (int r = 0; r < n; r++) {
            for (int j = 0; j < topK; j++) {
                int e = hostTopIdx.getAtIndex(ValueLayout.JAVA_INT, (long) r * topK + j);
                float g = hostTopWeight.getAtIndex(ValueLayout.JAVA_FLOAT, (long) r * topK + j);
                long slot = (long) e * chunk + rowCount[e]++;
                hostExpertRows.setAtIndex(ValueLayout.JAVA_INT, slot, r);
                hostExpertWeight.setAtIndex(ValueLayout.JAVA_FLOAT, slot, g);
            }
        }
        stream.copyToDevice(hostExpertRows, expertRows);
        stream.copyToDevice(hostExpertWeight, expertWeight);
        int count = 0;
        for (int e = 0; e < experts; e++) if (rowCount[e] > 0) used[count++] = e;
        if (timeline != null) timeline.beginHost(Timeline.Span.EXPERT_PLAN, layer);
        int[] order = expertSource.prepare(layer, used, count, step, true);
        if (timeline != null) timeline.endHost(Timeline.Span.EXPERT_PLAN);
        for (int i : order) {
            int e = used[i];
            int m = rowCount[e];
            DeviceSlice rowsOfE = expertRows.slice((long) e * chunk * 4, (long) m * 4);
            DeviceSlice weightsOfE = expertWeight.slice((long) e * chunk * F32, (long) m * F32);
            if (timeline != null) timeline.begin(stream, Timeline.Span.EXPERT, layer, e);
            stream.gatherRows(rows(xn, n, dim), rowsOfE, m, dim, rows(gathered, m, dim));
            expertSource.acquire(layer, e).forward(stream, rows(gathered, m, dim), m, h1, h3, rows(expertOut, m, dim));
            stream.scatterAddRows(rows(x, n, dim), rows(expertOut, m, dim), rowsOfE, weightsOfE, m, dim);
            if (timeline != null) timeline.end(stream, Timeline.Span.EXPERT);
            expertSource.release(layer, e);
        }
    }

    /** Copies x [n, dim] to the host (through the logits staging area, free at this point) for the listener. */
    private void notifyHidden(long pos, int layer, int n) {
        long bytes = (long) n * dim * F32;
        if (bytes > hostLogits.byteSize()) {
            // [chunk, vocab] floats hold [chunk, hidden] for every supported model (vocab > hidden); say so if not
            throw new IllegalStateException("hidden-state read-back needs hidden (" + dim + ") <= vocab (" + vocab + ")");
        }
        stream.copyToHost(rows(x, n, dim), hostLogits.asSlice(0, bytes));
        stream.synchronize();
        if (hiddenRows == null || hiddenRows.length < n * dim) hiddenRows = new float[chunk * dim];
        MemorySegment.copy(hostLogits, ValueLayout.JAVA_FLOAT, 0, hiddenRows, 0, n * dim);
        hiddenStateListener.onHiddenState(pos, layer, hiddenRows, n);
    }

    private void notifyRouting(long pos, int layer, int n) {
        if (routingListener == null) return;
        for (int r = 0; r < n; r++) {
            for (int j = 0; j < topK; j++) {
                chosen[j] = hostTopIdx.getAtIndex(ValueLayout.JAVA_INT, (long) r * topK + j);
                chosenWeight[j] = hostTopWeight.getAtIndex(ValueLayout.JAVA_FLOAT, (long) r * topK + j);
            }
            routingListener.onRouting(pos + r, layer, chosen, chosenWeight);
        }
    }

    private void apply(Linear w, DeviceSlice in, int n, DeviceSlice out) {
        w.apply(stream, rows(in, n, w.cols()), n, rows(out, n, w.rows()));
    }

    /** The first n rows of width `width` (f32) of a scratch slice. */
    private static DeviceSlice rows(DeviceSlice s, long n, long width) {
        return s.slice(0, n * width * F32);
    }

    @Override
    public void close() {
        try {
            stream.synchronize();
        } finally {
            host.close();
            scratch.close();
        }
    }
}
