package dev.lookahead.jmh.report;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One entry of JMH's JSON result file: a benchmark method with its parameters, its primary score
 * and, when it has a {@code ByteCounter}, the "bytes" secondary score (bytes per second).
 */
record JmhResult(String benchmark, Map<String, String> params, double score, double error, String unit,
                 double bytesPerSecond, double bytesError) {

    static JmhResult of(JsonNode node) {
        String full = node.path("benchmark").asText();
        String method = full.substring(full.lastIndexOf('.', full.lastIndexOf('.') - 1) + 1); // Class.method
        Map<String, String> params = new LinkedHashMap<>();
        node.path("params").properties().forEach(e -> params.put(e.getKey(), e.getValue().asText()));
        JsonNode primary = node.path("primaryMetric");
        JsonNode bytes = node.path("secondaryMetrics").path("bytes");
        return new JmhResult(method, params, primary.path("score").asDouble(), error(primary),
                primary.path("scoreUnit").asText(),
                bytes.isMissingNode() ? Double.NaN : bytes.path("score").asDouble(),
                bytes.isMissingNode() ? Double.NaN : error(bytes));
    }

    /** JMH writes "NaN" as the error of a single measurement. */
    private static double error(JsonNode metric) {
        JsonNode e = metric.path("scoreError");
        return e.isNumber() ? e.asDouble() : Double.NaN;
    }

    String param(String name) {
        return params.getOrDefault(name, "");
    }

    /** Whether every given name=value pair is among the parameters. */
    boolean matches(Map<String, String> wanted) {
        for (Map.Entry<String, String> w : wanted.entrySet()) {
            if (!w.getValue().equals(params.get(w.getKey()))) {
                return false;
            }
        }
        return true;
    }
}
