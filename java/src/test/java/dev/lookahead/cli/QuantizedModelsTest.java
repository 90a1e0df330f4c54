package dev.lookahead.cli;

import dev.lookahead.model.RandomCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class QuantizedModelsTest {
    @TempDir
    Path tmp;

    /** A 2-layer, 4-expert random checkpoint to quantize. */
    private Path smallSource() throws Exception {
        Path source = tmp.resolve("m");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(3).withLayers(2).withExperts(4, 2), source);
        return source;
    }

    @Test
    void theCachedCopyIsReusedUntilItsSourceChanges() throws Exception {
        Path source = smallSource();
        CliRunner.withHome(tmp, () -> {
            Path q = QuantizedModels.ensure(source, 4, 32);
            Path weights = q.resolve("model.safetensors");
            byte[] first = Files.readAllBytes(weights);
            FileTime made = Files.getLastModifiedTime(weights);
            assertTrue(Files.readString(q.resolve(QuantizedModels.STAMP)).contains("model.safetensors"));

            assertEquals(q, QuantizedModels.ensure(source, 4, 32));
            assertEquals(made, Files.getLastModifiedTime(weights), "an unchanged source reuses the copy");

            // the model is retrained (other weights, same place): the copy must follow
            Path other = tmp.resolve("other");
            RandomCheckpoint.write(RandomCheckpoint.Spec.small(4).withLayers(2).withExperts(4, 2), other);
            Files.copy(other.resolve("model.safetensors"), source.resolve("model.safetensors"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Files.setLastModifiedTime(source.resolve("model.safetensors"), FileTime.fromMillis(made.toMillis() + 5000));
            assertEquals(q, QuantizedModels.ensure(source, 4, 32));
            assertFalse(Arrays.equals(first, Files.readAllBytes(weights)), "a changed source is quantized again");
        });
    }

    @Test
    void aCachedCopyWithoutAFileTheQuantizerCopiesIsMadeAgain() throws Exception {
        Path source = smallSource();
        CliRunner.withHome(tmp, () -> {
            Path q = QuantizedModels.ensure(source, 4, 32);
            assertTrue(Files.isRegularFile(q.resolve("tokenizer.json")));
            // a copy made by a version whose quantizer did not copy this file: same stamp, file absent
            Files.delete(q.resolve("tokenizer.json"));
            assertEquals(q, QuantizedModels.ensure(source, 4, 32));
            assertTrue(Files.isRegularFile(q.resolve("tokenizer.json")), "the copy is made again, with the file");
        });
    }
}
