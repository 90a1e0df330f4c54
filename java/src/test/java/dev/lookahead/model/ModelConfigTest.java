package dev.lookahead.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelConfigTest {

    /** The config.json of mistralai/Mixtral-8x7B-v0.1 (keys and values as published). */
    static final String MIXTRAL_8X7B = """
            {
              "architectures": ["MixtralForCausalLM"],
              "attention_dropout": 0.0,
              "bos_token_id": 1,
              "eos_token_id": 2,
              "hidden_act": "silu",
              "hidden_size": 4096,
              "initializer_range": 0.02,
              "intermediate_size": 14336,
              "max_position_embeddings": 32768,
              "model_type": "mixtral",
              "num_attention_heads": 32,
              "num_experts_per_tok": 2,
              "num_hidden_layers": 32,
              "num_key_value_heads": 8,
              "num_local_experts": 8,
              "output_router_logits": false,
              "rms_norm_eps": 1e-05,
              "rope_theta": 1000000.0,
              "router_aux_loss_coef": 0.02,
              "router_jitter_noise": 0.0,
              "sliding_window": null,
              "tie_word_embeddings": false,
              "torch_dtype": "bfloat16",
              "transformers_version": "4.36.0.dev0",
              "use_cache": true,
              "vocab_size": 32000
            }
            """;

    @TempDir
    Path dir;

    private final JsonMapper json = new JsonMapper();

    private ModelConfig parse(String text) throws IOException {
        Path p = dir.resolve("config.json");
        Files.writeString(p, text);
        return ModelConfig.read(p);
    }

    private ObjectNode base() throws IOException {
        return (ObjectNode) json.readTree(MIXTRAL_8X7B);
    }

    private CheckpointException invalid(ObjectNode o) throws IOException {
        Path p = dir.resolve("config.json");
        Files.writeString(p, o.toString());
        CheckpointException e = assertThrows(CheckpointException.class, () -> ModelConfig.read(p));
        assertEquals(p, e.file());
        return e;
    }

    @Test
    void readsMixtral8x7b() throws IOException {
        ModelConfig c = parse(MIXTRAL_8X7B);
        assertEquals(List.of("MixtralForCausalLM"), c.architectures());
        assertEquals(4096, c.hiddenSize());
        assertEquals(14336, c.intermediateSize());
        assertEquals(32, c.numHiddenLayers());
        assertEquals(32, c.numAttentionHeads());
        assertEquals(8, c.numKeyValueHeads());
        assertEquals(128, c.headDim(), "default head_dim = hidden / heads");
        assertEquals(8, c.numLocalExperts());
        assertEquals(2, c.numExpertsPerTok());
        assertEquals(1e-5, c.rmsNormEps());
        assertEquals(1e6, c.ropeTheta());
        assertEquals(32768, c.maxPositionEmbeddings());
        assertNull(c.slidingWindow());
        assertEquals(32000, c.vocabSize());
        assertEquals(1, c.bosTokenId());
        assertEquals(List.of(2), c.eosTokenIds());
        assertEquals("bfloat16", c.torchDtype());
        assertEquals(4096, c.qDim());
        assertEquals(1024, c.kvDim());
        assertEquals(4, c.kvGroupSize());
        assertEquals(ArchitectureSpec.MIXTRAL, ArchitectureSpec.forConfig(c));
    }

    @Test
    void optionalKeysEosListAndExplicitHeadDim() throws IOException {
        ObjectNode o = base();
        o.putArray("eos_token_id").add(2).add(7);
        o.put("head_dim", 64);
        o.put("sliding_window", 4096);
        o.remove(List.of("rms_norm_eps", "rope_theta", "max_position_embeddings", "tie_word_embeddings"));
        ModelConfig c = parse(o.toString());
        assertEquals(List.of(2, 7), c.eosTokenIds());
        assertEquals(64, c.headDim());
        assertEquals(2048, c.qDim());
        assertEquals(4096, c.slidingWindow());
        assertEquals(1e-5, c.rmsNormEps());
        assertEquals(1e6, c.ropeTheta());
        assertEquals(131072, c.maxPositionEmbeddings());
    }

    @Test
    void toJsonRoundTrips() throws IOException {
        ModelConfig c = parse(MIXTRAL_8X7B);
        Path p = dir.resolve("out.json");
        c.write(p);
        assertEquals(c, ModelConfig.read(p));
        ModelConfig tiny = TestCheckpoints.tinyConfig(true);
        tiny.write(p);
        assertEquals(tiny, ModelConfig.read(p));
    }

    @Test
    void unsupportedArchitectureListsSupportedOnes() throws IOException {
        ObjectNode o = base();
        o.putArray("architectures").add("LlamaForCausalLM");
        CheckpointException e = invalid(o);
        assertTrue(e.getMessage().contains("[LlamaForCausalLM] is not supported; supported: [MixtralForCausalLM]"),
                e.getMessage());
    }

    @Test
    void modelTypeIsUsedWhenArchitecturesAreAbsent() throws IOException {
        ObjectNode o = base();
        o.remove("architectures");
        assertEquals(ArchitectureSpec.MIXTRAL, ArchitectureSpec.forConfig(parse(o.toString())));
        o.put("model_type", "olmoe");
        assertTrue(invalid(o).getMessage().contains("model_type 'olmoe' is not supported"));
    }

    @Test
    void inconsistentSizesAreAllReported() throws IOException {
        ObjectNode o = base();
        o.put("num_key_value_heads", 5);
        o.put("num_experts_per_tok", 9);
        o.put("hidden_size", -4096);
        String m = invalid(o).getMessage();
        assertTrue(m.contains("num_attention_heads 32 is not a multiple of num_key_value_heads 5"), m);
        assertTrue(m.contains("num_experts_per_tok 9 exceeds num_local_experts 8"), m);
        assertTrue(m.contains("hidden_size must be positive"), m);
    }

    @Test
    void headsMustDivideHiddenWithoutHeadDim() throws IOException {
        ObjectNode o = base();
        o.put("num_attention_heads", 24);
        o.put("num_key_value_heads", 8);
        assertTrue(invalid(o).getMessage().contains("hidden_size 4096 is not divisible by num_attention_heads 24"));
    }

    @Test
    void missingAndMistypedKeys() throws IOException {
        ObjectNode o = base();
        o.remove("num_local_experts");
        o.put("vocab_size", "32000");
        String m = invalid(o).getMessage();
        assertTrue(m.contains("missing required key 'num_local_experts'"), m);
        assertTrue(m.contains("'vocab_size' must be a 32-bit integer"), m);
    }

    @Test
    void unsupportedActivationAndRopeScaling() throws IOException {
        ObjectNode o = base();
        o.put("hidden_act", "gelu");
        o.putObject("rope_scaling").put("type", "linear").put("factor", 2.0);
        String m = invalid(o).getMessage();
        assertTrue(m.contains("hidden_act 'gelu' is not supported"), m);
        assertTrue(m.contains("rope_scaling"), m);
    }

    @Test
    void tokenIdsMustBeInTheVocabulary() throws IOException {
        ObjectNode o = base();
        o.put("eos_token_id", 32000);
        assertTrue(invalid(o).getMessage().contains("eos_token_id 32000 is outside the vocabulary"));
    }

    @Test
    void badJsonNamesTheFile() throws IOException {
        Path p = dir.resolve("config.json");
        Files.writeString(p, "{\"hidden_size\": ");
        CheckpointException e = assertThrows(CheckpointException.class, () -> ModelConfig.read(p));
        assertTrue(e.getMessage().startsWith(p.toString()) && e.getMessage().contains("not valid JSON"));
    }
}
