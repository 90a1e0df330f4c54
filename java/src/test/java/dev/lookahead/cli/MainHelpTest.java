package dev.lookahead.cli;

import dev.lookahead.cli.CliRunner.Run;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.util.Map;

import static dev.lookahead.cli.CliRunner.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `lookahead --help` lists every command with a summary that is a whole sentence, not a wrapped fragment. */
class MainHelpTest {
    @Test
    void everyCommandSummaryIsOneWholeSentence() {
        Map<String, CommandLine> commands = new CommandLine(new Main()).getSubcommands();
        assertTrue(commands.size() >= 10, commands.keySet().toString());
        for (var entry : commands.entrySet()) {
            if (entry.getKey().equals("help")) continue;
            String[] description = entry.getValue().getCommandSpec().usageMessage().description();
            String summary = description[0];
            assertTrue(summary.endsWith("."), entry.getKey() + ": the first line is not a whole sentence: " + summary);
            assertTrue(summary.length() <= 64, entry.getKey() + ": the summary does not fit the command list's line: " + summary);
        }
    }

    /**
     * picocli prints each description element on a line of its own and wraps it at the help's width, so an element
     * that ends mid-sentence leaves a ragged line in every terminal: a command's elements are whole paragraphs and an
     * option's description is one.
     */
    @Test
    void descriptionsAreWholeParagraphsThatPicocliWraps() {
        for (var entry : new CommandLine(new Main()).getSubcommands().entrySet()) {
            if (entry.getKey().equals("help")) continue;
            CommandLine.Model.CommandSpec spec = entry.getValue().getCommandSpec();
            for (String paragraph : spec.usageMessage().description()) {
                assertTrue(paragraph.matches("(?s).*[.:]\\)?"), entry.getKey() + ": a description line ends mid-sentence: " + paragraph);
            }
            for (CommandLine.Model.OptionSpec option : spec.options()) {
                assertEquals(1, option.description().length,
                        entry.getKey() + " " + option.longestName() + ": a description of several lines");
            }
        }
    }

    @Test
    void helpListsTheCommandsWithTheirSummaries() {
        Run r = run("--help");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("bench") && r.out().contains("Decode speed of residency policies"), r.out());
    }
}
