package io.github.lstmkernels.fuzz;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of the campaign: every call made on a backend under test, what became of it, and what
 * was skipped because the backend lacks a feature. Printed (and written to
 * {@code target/fuzz-stats.txt}) when the JVM exits, so a fuzzing run reports its size in calls,
 * not only in libFuzzer executions.
 */
final class Stats {
    private static final Map<String, LongAdder> COUNTERS = new ConcurrentHashMap<>();
    private static final long START = System.nanoTime();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(Stats::report, "fuzz-stats"));
    }

    private Stats() {
    }

    static void count(String key) {
        COUNTERS.computeIfAbsent(key, k -> new LongAdder()).increment();
    }

    /** One call on a backend under test, and its outcome ("accepted", "refused IllegalArgumentException", ...). */
    static void call(String backend, String what, String outcome) {
        count("calls");
        count("calls " + backend);
        count("outcome " + outcome);
        count("api " + what);
    }

    static void skipped(String backend, String reason) {
        count("skipped " + backend + ": " + reason);
    }

    static long get(String key) {
        LongAdder a = COUNTERS.get(key);
        return a == null ? 0 : a.sum();
    }

    static String summary() {
        StringBuilder s = new StringBuilder();
        s.append(String.format("fuzz campaign: %d calls on backends under test in %.0f s%n", get("calls"),
                (System.nanoTime() - START) / 1e9));
        new TreeMap<>(COUNTERS).forEach((k, v) -> s.append("  ").append(k).append(": ").append(v.sum()).append('\n'));
        return s.toString();
    }

    private static void report() {
        if (COUNTERS.isEmpty()) {
            return;
        }
        String text = summary();
        System.out.print(text);
        try {
            Path dir = Path.of("target");
            if (Files.isDirectory(dir)) {
                Files.writeString(dir.resolve("fuzz-stats.txt"), text);
            }
        } catch (IOException ignored) {
            // The summary went to stdout as well.
        }
    }
}
