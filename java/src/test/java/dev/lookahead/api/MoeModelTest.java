package dev.lookahead.api;

import dev.lookahead.bindings.DType;
import dev.lookahead.model.CheckpointException;
import dev.lookahead.model.RandomCheckpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MoeModelTest {
    @TempDir
    static Path tmp;
    static Path model;

    static final LoadOptions CPU = LoadOptions.defaults().withBackend(BackendChoice.CPU).withContextLength(64);

    @BeforeAll
    static void createModel() throws Exception {
        model = tmp.resolve("m");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(21).withLayers(2), model);
    }

    @Test
    void greedyGenerationIsReproducibleAndTheStreamAgreesWithTheCallback() {
        try (MoeModel m = MoeModel.load(model, CPU)) {
            GenerationOptions opts = GenerationOptions.defaults().withMaxTokens(12);
            StringBuilder streamed = new StringBuilder();
            GenerationResult a = m.generate("the cat sat on", opts, t -> streamed.append(t.text()));
            GenerationResult b = m.generate("the cat sat on", opts, t -> { });
            assertEquals(a.tokenIds(), b.tokenIds());
            assertEquals(a.text(), streamed.toString());
            List<GeneratedToken> viaStream = m.tokens("the cat sat on", opts).collect(Collectors.toList());
            assertEquals(a.tokenIds(), viaStream.stream().map(GeneratedToken::id).filter(id -> id >= 0).toList());
            assertEquals(a.text(), viaStream.stream().map(GeneratedToken::text).collect(Collectors.joining()));
            assertTrue(a.timings().promptTokens() > 1);
            assertEquals(StopReason.MAX_TOKENS, a.stopReason());
            assertEquals(12, a.tokenIds().size());
        }
    }

    @Test
    void seededSamplingIsReproducible() {
        try (MoeModel m = MoeModel.load(model, CPU)) {
            GenerationOptions opts = GenerationOptions.defaults().withMaxTokens(16)
                    .withSampling(new SamplingOptions(1.0f, 50, 0.9f, 1.1f, 99));
            assertEquals(m.generate("x", opts, t -> { }).tokenIds(), m.generate("x", opts, t -> { }).tokenIds());
        }
    }

    @Test
    void aStopStringEndsTheTextBeforeIt() {
        try (MoeModel m = MoeModel.load(model, CPU)) {
            GenerationResult free = m.generate("hello", GenerationOptions.defaults().withMaxTokens(24), t -> { });
            String text = free.text();
            assertTrue(text.length() >= 4, "this seed's model writes text to cut: " + text);
            String stop = text.substring(2, 4);
            GenerationResult cut = m.generate("hello", GenerationOptions.defaults().withMaxTokens(24)
                    .withStopStrings(List.of(stop)), t -> { });
            assertEquals(StopReason.STOP_STRING, cut.stopReason());
            assertEquals(text.substring(0, text.indexOf(stop)), cut.text());
        }
    }

    @Test
    void aPromptLongerThanTheContextIsAClearError() {
        try (MoeModel m = MoeModel.load(model, CPU.withContextLength(16))) {
            String longPrompt = "word ".repeat(40);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> m.generate(longPrompt, GenerationOptions.defaults(), t -> { }));
            assertTrue(e.getMessage().contains("context holds 16"), e.getMessage());
            // the model stays usable
            assertFalse(m.generate("ok", GenerationOptions.defaults().withMaxTokens(2), t -> { }).tokenIds().isEmpty());
        }
    }

    @Test
    void generationStopsWhenTheContextIsFull() {
        try (MoeModel m = MoeModel.load(model, CPU.withContextLength(10))) {
            GenerationResult r = m.generate("ab", GenerationOptions.defaults().withMaxTokens(100), t -> { });
            assertEquals(StopReason.CONTEXT_FULL, r.stopReason());
            // the prompt and the generated tokens fill the 10 positions; the last one sampled is never fed back
            assertEquals(10 - m.encodePrompt("ab", false).length + 1, r.tokenIds().size());
        }
    }

    @Test
    void misuseGivesClearErrorsAndCloseMayBeRepeated() {
        MoeModel m = MoeModel.load(model, CPU);
        NullPointerException noPrompt = assertThrows(NullPointerException.class,
                () -> m.generate(null, GenerationOptions.defaults(), t -> { }));
        assertEquals("prompt", noPrompt.getMessage());
        NullPointerException noListener = assertThrows(NullPointerException.class,
                () -> m.generate("hi", GenerationOptions.defaults(), null));
        assertEquals("listener", noListener.getMessage());
        m.close();
        m.close(); // a second close does nothing
        IllegalStateException closed = assertThrows(IllegalStateException.class,
                () -> m.generate("hi", GenerationOptions.defaults().withMaxTokens(2), t -> { }));
        assertTrue(closed.getMessage().contains("is closed"), closed.getMessage());
        assertThrows(IllegalStateException.class, () -> m.tokens("hi", GenerationOptions.defaults()));
    }

    @Test
    void aContextBeyondTheModelMaximumIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> MoeModel.load(model, CPU.withContextLength(1 << 20)));
        assertTrue(e.getMessage().contains("max_position_embeddings"), e.getMessage());
    }

    @Test
    void aMissingTokenizerIsAClearErrorNamingTheFile() throws Exception {
        Path broken = tmp.resolve("no-tokenizer");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(3), broken);
        Files.delete(broken.resolve("tokenizer.json"));
        RuntimeException e = assertThrows(RuntimeException.class, () -> MoeModel.load(broken, CPU));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());
    }

    @Test
    void aTruncatedCheckpointIsAClearErrorNamingTheFile() throws Exception {
        Path broken = tmp.resolve("truncated");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(4), broken);
        Path st = broken.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(st);
        Files.write(st, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        CheckpointException e = assertThrows(CheckpointException.class, () -> MoeModel.load(broken, CPU));
        assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
    }

    @Test
    void chatPromptsUseTheTemplate() {
        try (MoeModel m = MoeModel.load(model, CPU.withKvCacheType(DType.F32))) {
            int[] plain = m.encodePrompt("hi", false);
            int[] chat = m.encodePrompt("hi", true);
            assertEquals(1, chat[0], "the chat prompt starts with <s>");
            assertTrue(chat.length > plain.length, "the template adds [INST] ... [/INST]");
        }
    }

    @Test
    void profilerRangesAreBalancedAndChangeNothing() {
        try (MoeModel m = MoeModel.load(model, CPU)) {
            GenerationOptions opts = GenerationOptions.defaults().withMaxTokens(6);
            List<Integer> plain = m.generate("the cat", opts, t -> { }).tokenIds();
            m.setProfilerRanges(true);
            assertEquals(plain, m.generate("the cat", opts, t -> { }).tokenIds());
            m.setProfilerRanges(false);
            // every range the engine opened was closed: the dispatcher refuses one more pop
            var e = assertThrows(dev.lookahead.bindings.LookaheadNativeException.class, () -> m.device().rangePop());
            assertTrue(e.getMessage().contains("no range is open"), e.getMessage());
        }
    }
}
