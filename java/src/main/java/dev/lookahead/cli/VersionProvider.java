package dev.lookahead.cli;

import picocli.CommandLine;

/** Version from the jar manifest (the Maven project version), or "dev" when run from classes. */
final class VersionProvider implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
        String v = Main.class.getPackage().getImplementationVersion();
        return new String[] {"lookahead-moe " + (v == null ? "dev" : v) + " (Java " + Runtime.version() + ")"};
    }
}
