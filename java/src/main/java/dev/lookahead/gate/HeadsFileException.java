package dev.lookahead.gate;

import dev.lookahead.model.CheckpointException;

import java.nio.file.Path;

/** A lookahead heads file that cannot be used; the message names the file and, where one is concerned, the tensor. */
public final class HeadsFileException extends CheckpointException {
    public HeadsFileException(Path file, String tensor, String problem) {
        super(file, tensor, problem);
    }
}
