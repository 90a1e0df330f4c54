package dev.lookahead.engine;

import dev.lookahead.expert.Expert;

import java.util.List;

/** Every expert of every layer resident in device memory: nothing to copy. */
public final class ResidentExperts implements ExpertSource {
    private final List<List<Expert>> experts; // [layer][expert]

    public ResidentExperts(List<List<Expert>> experts) {
        this.experts = List.copyOf(experts);
    }

    @Override
    public int[] prepare(int layer, int[] chosen, int count, long step, boolean prefill) {
        int[] order = new int[count];
        for (int i = 0; i < count; i++) order[i] = i;
        return order;
    }

    @Override
    public Expert acquire(int layer, int expert) {
        return experts.get(layer).get(expert);
    }

    @Override
    public void release(int layer, int expert) {
    }
}
