package io.github.lstmkernels.bench;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The command-line entry of the bench module.
 * <pre>
 *   compare [options]           (the default) every backend on the DESIGN.md shapes: table, JSON, SVG chart
 *   chart [--from JSON] [--to SVG]   re-draws the chart of an earlier compare run
 *   example [--golden DIR]      the nn.LSTM(512, 128, num_layers=2, batch_first=True) twin, checked against PyTorch
 *   verify --golden DIR [--backend NAME] [--write-outputs OUT]
 *                               every golden case on one or all backends, one JSON line per (case, backend)
 *   leakcheck [--backend onednn] [--cycles 10000] [--calls 100000]
 *                               prepare/close cycles and calls; resident memory must stay flat
 *   jmh [JMH options]           JMH's own command line over this module's benchmarks
 * </pre>
 */
public final class BenchTool {
    private BenchTool() {
    }

    public static void main(String[] args) throws Exception {
        List<String> rest = new ArrayList<>(Arrays.asList(args));
        try {
            System.exit(run(rest));
        } catch (IllegalArgumentException | io.github.lstmkernels.BackendUnavailableException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(2);
        }
    }

    private static int run(List<String> rest) throws Exception {
        String mode = rest.isEmpty() ? "compare" : rest.removeFirst();
        int status = switch (mode) {
            case "example" -> PyTorchTwinExample.run(Path.of(option(rest, "--golden", "golden")), System.out) ? 0 : 1;
            case "compare" -> Compare.run(rest, System.out);
            case "chart" -> Compare.chart(rest, System.out);
            case "verify" -> GoldenVerify.run(rest, System.out);
            case "leakcheck" -> {
                String backend = option(rest, "--backend", "onednn");
                int cycles = Integer.parseInt(option(rest, "--cycles", "10000"));
                int calls = Integer.parseInt(option(rest, "--calls", "100000"));
                double maxGrowthMb = Double.parseDouble(option(rest, "--max-growth-mb", "16"));
                if (!rest.isEmpty()) {
                    throw new IllegalArgumentException("unexpected arguments " + rest);
                }
                yield io.github.lstmkernels.testkit.LeakCheck.run(backend, cycles, calls, maxGrowthMb, System.out);
            }
            case "jmh" -> {
                // Plain JMH command line, e.g. "jmh LstmBenchmark -p backend=scalar -p shape=a,b -prof gc".
                org.openjdk.jmh.Main.main(rest.toArray(String[]::new));
                yield 0;
            }
            default -> throw new IllegalArgumentException("unknown mode '" + mode + "'; modes: compare, chart, example, verify, leakcheck, jmh");
        };
        return status;
    }

    /** The value after {@code flag} in {@code args} (removed from it), or {@code fallback}. */
    static String option(List<String> args, String flag, String fallback) {
        int i = args.indexOf(flag);
        if (i < 0) {
            return fallback;
        }
        if (i + 1 >= args.size()) {
            throw new IllegalArgumentException(flag + " needs a value");
        }
        String value = args.get(i + 1);
        args.subList(i, i + 2).clear();
        return value;
    }
}
