package io.github.lstmkernels.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.lstmkernels.BackendStatus;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.LstmProperties;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.openjdk.jmh.profile.GCProfiler;
import org.openjdk.jmh.results.BenchmarkResult;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;

/**
 * {@code compare}: every available backend × the DESIGN.md shapes × {sequence, step}, with short JMH
 * settings (about five minutes on two cores), then a table on stdout and the same results as JSON
 * and an SVG chart under the results folder.
 *
 * <pre>
 * compare [--backends scalar,simd,onednn] [--shapes a,b,...] [--modes sequence,step]
 *         [--threads 1|all] [--forks 2] [--iterations 4] [--out results]
 * </pre>
 * {@code --threads} sets the thread count of every backend at once ({@code lstm.onednn.threads},
 * {@code lstm.simd.threads}): 1, or every available processor. The run also measures, on its own
 * machine, the FMA peak of one core and its read bandwidth from L2 and from L3; batch-1 rows are
 * set against the level their weights stream from.
 *
 * <p><b>Forks.</b> Each (backend, shape, mode) is measured in {@code --forks} JVMs, the backends'
 * forks of a shape alternating (A B, then B A); each fork gives the median of its iterations, and
 * the figure is the lowest of those medians: the fork the machine disturbed least. This machine
 * class is shared and noisy, and its noise only ever slows a run down: for seconds at a time one
 * virtual core is as good as gone, and a two-thread fork of either backend runs at its one-thread
 * speed (a, two threads, three forks each: simd 502, 795, 767 µs, oneDNN 788, 518, 447 µs). One
 * such fork, pooled with a clean one, moved a same-run ratio from 1.09 to 1.48 (d, two threads,
 * simd forks at 9.6 and 17.6 ms). Every fork's median is in the JSON.
 */
final class Compare {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /**
     * 10 × 0.4 s: the Vector API runs hundreds of times slower until C2 has compiled it, and simd
     * with two threads reached its steady state only after about 2.4 s of calls here (one thread:
     * 1.6 s), the whole of the former 6 iterations.
     */
    private static final int WARMUP_ITERATIONS = 10;

    /** One measured (backend, shape, mode). */
    record Row(String backend, BenchShape shape, String mode, double medianMicros, double errorMicros,
               double bytesPerOp, List<Double> forkMedians) {
        double gflops() {
            return shape.flops() / (medianMicros * 1e3);
        }

        /** Weight bytes streamed per second (the limit at batch 1). */
        double weightGBps() {
            return shape.weightTraffic(mode) / (medianMicros * 1e3);
        }
    }

    private Compare() {
    }

    static int run(List<String> args, PrintStream out) throws IOException, RunnerException {
        List<String> available = LstmKernels.backends().stream().filter(BackendStatus::available)
                .map(BackendStatus::name).toList();
        List<String> backends = list(BenchTool.option(args, "--backends", String.join(",", available)));
        List<BenchShape> shapes = list(BenchTool.option(args, "--shapes", "a,b,c,c-b3,d,e,f,g,h,h-full,i,j,j-lstm,k")).stream()
                .map(BenchShape::of).toList();
        List<String> modes = list(BenchTool.option(args, "--modes", "sequence,step"));
        String threads = BenchTool.option(args, "--threads", "1");
        if (!threads.equals("1") && !threads.equals("all")) {
            throw new IllegalArgumentException("--threads is 1 or all, got '" + threads + "'");
        }
        int threadCount = threads.equals("all") ? Runtime.getRuntime().availableProcessors() : 1;
        int iterations = Integer.parseInt(BenchTool.option(args, "--iterations", "4"));
        int forks = Integer.parseInt(BenchTool.option(args, "--forks", "2"));
        if (forks < 1 || iterations < 1) {
            throw new IllegalArgumentException("--forks and --iterations are at least 1");
        }
        Path outDir = Path.of(BenchTool.option(args, "--out", "results"));
        if (!args.isEmpty()) {
            throw new IllegalArgumentException("unexpected arguments " + args);
        }
        for (String backend : backends) {
            LstmKernels.backend(backend); // unknown or unavailable: a clear error now, not after minutes
        }
        for (String mode : modes) {
            if (!mode.equals("sequence") && !mode.equals("step")) {
                throw new IllegalArgumentException("unknown mode '" + mode + "'; modes are sequence, step");
            }
        }

        List<String> jvmArgs = new ArrayList<>(List.of("--add-modules=jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx8g"));
        jvmArgs.add("-D" + LstmProperties.ONEDNN_THREADS + "=" + threadCount);
        jvmArgs.add("-D" + LstmProperties.SIMD_THREADS + "=" + threadCount);
        System.err.println("compare: measuring the FMA peak and the L2/L3 read bandwidth of one core...");
        double peak = FmaPeak.measureGflops();
        CacheBandwidth.Levels caches = CacheBandwidth.measure();
        System.err.printf(Locale.ROOT, "compare: FMA peak %.1f GFLOP/s (one thread, %d-bit vectors); read L2 %.1f GB/s"
                        + " (%d KiB), L3 %.1f GB/s (%d MiB)%n", peak,
                jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize(), caches.l2GBps(), caches.l2Bytes() >> 10,
                caches.l3GBps(), caches.l3Bytes() >> 20);

        List<Row> rows = new ArrayList<>();
        int total = forks * backends.size() * shapes.stream().mapToInt(s -> s.hasStepMode() ? modes.size() : 1).sum();
        int done = 0;
        for (BenchShape shape : shapes) {
            List<String> shapeModes = modes.stream().filter(m -> m.equals("sequence") || shape.hasStepMode()).toList();
            Map<String, List<RunResult>> runs = new LinkedHashMap<>();
            for (int fork = 0; fork < forks; fork++) {
                List<String> order = new ArrayList<>(backends);
                if (fork % 2 == 1) {
                    Collections.reverse(order);
                }
                for (String backend : order) {
                    for (String mode : shapeModes) {
                        done++;
                        System.err.printf(Locale.ROOT, "compare: [%d/%d] %s, shape %s, %s, fork %d ...%n", done, total,
                                backend, shape, mode, fork + 1);
                        runs.computeIfAbsent(backend + " " + mode, k -> new ArrayList<>())
                                .add(measure(backend, shape, mode, jvmArgs, iterations));
                    }
                }
            }
            for (String backend : backends) {
                for (String mode : shapeModes) {
                    rows.add(fromForks(backend, shape, mode, runs.get(backend + " " + mode)));
                }
            }
        }

        String cpu = cpuModel();
        String when = ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME);
        String header = String.format(Locale.ROOT, "%s | %s | JDK %s | threads per backend: %d | FMA peak %.1f GFLOP/s per core"
                        + " | read L2 %.1f GB/s, L3 %.1f GB/s | JMH: %d forks (backends alternating), %d×0.4 s warmup,"
                        + " %d×0.4 s measured each; the lowest of the forks' medians",
                when, cpu, Runtime.version(), threadCount, peak, caches.l2GBps(), caches.l3GBps(), forks, WARMUP_ITERATIONS,
                iterations);
        printTable(out, header, rows, peak * threadCount, threadCount, caches, jvmArgs);
        Files.createDirectories(outDir);
        String stamp = ZonedDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        Path json = outDir.resolve("compare-" + stamp + ".json");
        Path svg = outDir.resolve("compare-" + stamp + ".svg");
        writeJson(json, when, cpu, peak, threadCount, caches, jvmArgs, forks, iterations, rows);
        Files.writeString(svg, Chart.svg(rows, modes.contains("sequence") ? "sequence" : modes.getFirst(), header, peak * threadCount));
        Files.copy(json, outDir.resolve("compare-latest.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.copy(svg, outDir.resolve("compare-latest.svg"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        out.println();
        out.println("wrote " + json + " and " + svg);
        return 0;
    }

    /** One fork of one (backend, shape, mode). */
    private static RunResult measure(String backend, BenchShape shape, String mode, List<String> jvmArgs, int iterations)
            throws RunnerException {
        ChainedOptionsBuilder options = new OptionsBuilder()
                .include(LstmBenchmark.class.getName() + "." + mode + "$")
                .param("backend", backend)
                .param("shape", shape.id())
                .forks(1)
                .warmupIterations(WARMUP_ITERATIONS)
                .warmupTime(TimeValue.milliseconds(400))
                .measurementIterations(iterations)
                .measurementTime(TimeValue.milliseconds(400))
                .timeUnit(TimeUnit.MICROSECONDS)
                .jvmArgs(jvmArgs.toArray(String[]::new))
                .addProfiler(GCProfiler.class)
                .verbosity(VerboseMode.SILENT);
        return new Runner(options.build()).runSingle();
    }

    /**
     * The row of one (backend, shape, mode) from its forks: the lowest of the forks' medians
     * ({@link #leastDisturbed}); as error, how far the highest lies above it.
     */
    static Row fromForks(String backend, BenchShape shape, String mode, List<RunResult> forks) {
        List<Double> forkMedians = new ArrayList<>();
        double bytes = 0;
        for (RunResult fork : forks) {
            List<Double> scores = new ArrayList<>();
            for (BenchmarkResult benchmark : fork.getBenchmarkResults()) {
                for (IterationResult iteration : benchmark.getIterationResults()) {
                    scores.add(iteration.getPrimaryResult().getScore());
                }
            }
            forkMedians.add(median(scores));
            Result<?> alloc = fork.getSecondaryResults().get("gc.alloc.rate.norm");
            bytes = Math.max(bytes, alloc == null ? Double.NaN : alloc.getScore());
        }
        double figure = leastDisturbed(forkMedians);
        double error = forkMedians.stream().mapToDouble(m -> m - figure).max().orElse(0);
        return new Row(backend, shape, mode, figure, error, bytes, forkMedians);
    }

    /** The figure of a (backend, shape, mode): the lowest of its forks' median times. */
    static double leastDisturbed(List<Double> forkMedians) {
        return forkMedians.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
    }

    static double median(List<Double> values) {
        double[] sorted = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static void printTable(PrintStream out, String header, List<Row> rows, double peak, int threads,
                                   CacheBandwidth.Levels caches, List<String> jvmArgs) {
        out.println();
        out.println(header);
        out.println("JVM flags: " + String.join(" ", jvmArgs));
        out.println();
        out.printf(Locale.ROOT, "| %-7s | %-6s | %-8s | %12s | %8s | %7s | %10s | %13s | %9s | %9s | %8s |%n", "backend", "shape",
                "mode", "µs/op (med)", "GFLOP/s", "% peak", "weights GB/s", "of its level", "vs onednn", "vs scalar", "B/op");
        out.println("|---------|--------|----------|-------------:|---------:|--------:|-----------:|--------------:|----------:|----------:|---------:|");
        for (Row r : rows) {
            out.printf(Locale.ROOT, "| %-7s | %-6s | %-8s | %12.1f | %8.1f | %6.0f%% | %10.1f | %13s | %9s | %9s | %8.0f |%n",
                    r.backend(), r.shape().id(), r.mode(), r.medianMicros(), r.gflops(), 100 * r.gflops() / peak,
                    r.weightGBps(), levelShare(r, caches, threads), ratio(rows, r, "onednn"), ratio(rows, r, "scalar"), r.bytesPerOp());
        }
        out.println("(% peak: of the FMA peak of the cores in use; vs X: time ratio to backend X in this run, below 1 is"
                + " faster; weights GB/s: weight bytes streamed per second (W_ih once, W_hh every step); of its level: that"
                + " rate against the measured read bandwidth of the cache level each core's share of the per-step weights fits"
                + " in, times the cores in use, batch-1 rows only; B/op: JMH -prof gc)");
    }

    /**
     * For a batch-1 row: "L2 93%" — the cache level its per-step weights stream from, and the share
     * of its bandwidth. With n threads each core streams 1/n of the weights (both fast backends
     * split a step by units), so the level is the one that holds 1/n of them, and its bandwidth is
     * taken as n × the one-core figure measured.
     */
    private static String levelShare(Row r, CacheBandwidth.Levels caches, int threads) {
        if (r.shape().batch != 1) {
            return "";
        }
        double perCore = r.shape().weightTraffic(r.mode()) / r.shape().seqLen / threads;
        double bandwidth = caches.bandwidthOf(perCore) * threads;
        String level = caches.levelOf(perCore);
        return Double.isNaN(bandwidth) ? level : String.format(Locale.ROOT, "%s %.0f%%", level, 100 * r.weightGBps() / bandwidth);
    }

    private static String ratio(List<Row> rows, Row r, String baseline) {
        return rows.stream().filter(b -> b.backend().equals(baseline) && b.shape() == r.shape() && b.mode().equals(r.mode()))
                .findFirst().map(b -> String.format(Locale.ROOT, "%.2f", r.medianMicros() / b.medianMicros())).orElse("n/a");
    }

    private static void writeJson(Path file, String when, String cpu, double peak, int threads, CacheBandwidth.Levels caches,
                                  List<String> jvmArgs, int forks, int iterations, List<Row> rows) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("date", when);
        root.put("cpu", cpu);
        root.put("jdk", Runtime.version().toString());
        root.put("jvm_flags", String.join(" ", jvmArgs));
        root.put("threads", threads);
        root.put("fma_peak_gflops", peak);
        root.put("l2_bytes", caches.l2Bytes());
        root.put("l3_bytes", caches.l3Bytes());
        root.put("l2_read_gbps", caches.l2GBps());
        root.put("l3_read_gbps", caches.l3GBps());
        root.put("jmh", forks + " forks (backends alternating), " + WARMUP_ITERATIONS + " x 0.4 s warmup, " + iterations
                + " x 0.4 s measurement each, average time; us_per_op_median: the lowest of the forks' medians");
        ArrayNode results = root.putArray("results");
        for (Row r : rows) {
            ObjectNode o = results.addObject();
            o.put("backend", r.backend());
            o.put("shape", r.shape().id());
            o.put("batch", r.shape().batch);
            o.put("seq_len", r.shape().seqLen);
            o.put("input_size", r.shape().inputSize);
            o.put("hidden_size", r.shape().hiddenSize);
            o.put("layers", r.shape().layers);
            o.put("cell", r.shape().cell.name());
            o.put("bidirectional", r.shape().bidirectional);
            o.put("proj_size", r.shape().projection);
            o.put("lengths", r.shape().lengths() == null ? null : Arrays.toString(r.shape().lengths()));
            o.put("mode", r.mode());
            o.put("us_per_op_median", r.medianMicros());
            o.put("us_per_op_error", r.errorMicros());
            ArrayNode perFork = o.putArray("us_per_op_fork_medians");
            r.forkMedians().forEach(perFork::add);
            o.put("gflops", r.gflops());
            o.put("share_of_peak", r.gflops() / (peak * threads));
            o.put("bytes_per_op", r.bytesPerOp());
            o.put("weights_gb_per_s", r.weightGBps());
            rows.stream().filter(b -> b.backend().equals("onednn") && b.shape() == r.shape() && b.mode().equals(r.mode()))
                    .findFirst().ifPresent(b -> o.put("time_ratio_to_onednn", r.medianMicros() / b.medianMicros()));
        }
        JSON.writeValue(file.toFile(), root);
    }

    static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("unknown CPU")
                    + ", " + Runtime.getRuntime().availableProcessors() + " cores";
        } catch (IOException e) {
            return System.getProperty("os.arch") + ", " + Runtime.getRuntime().availableProcessors() + " cores";
        }
    }

    /** Re-draws the chart of a results JSON written by an earlier run (no measurement). */
    static int chart(List<String> args, PrintStream out) throws IOException {
        Path json = Path.of(BenchTool.option(args, "--from", "results/compare-latest.json"));
        Path svg = Path.of(BenchTool.option(args, "--to", json.toString().replaceAll("\\.json$", "") + ".svg"));
        var root = JSON.readTree(json.toFile());
        List<Row> rows = new ArrayList<>();
        for (var r : root.path("results")) {
            rows.add(new Row(r.path("backend").asText(), BenchShape.of(r.path("shape").asText()), r.path("mode").asText(),
                    r.path("us_per_op_median").asDouble(), r.path("us_per_op_error").asDouble(), r.path("bytes_per_op").asDouble(),
                    List.of()));
        }
        String header = root.path("date").asText() + " | " + root.path("cpu").asText() + " | JDK " + root.path("jdk").asText()
                + " | threads per backend: " + root.path("threads").asText(root.path("onednn_threads").asText())
                + " | JMH: " + root.path("jmh").asText();
        Files.writeString(svg, Chart.svg(rows, "sequence", header,
                root.path("fma_peak_gflops").asDouble() * root.path("threads").asInt(1)));
        out.println("wrote " + svg);
        return 0;
    }

    private static List<String> list(String csv) {
        return Arrays.stream(csv.split(",")).map(String::trim).filter(s -> !s.isEmpty()).collect(Collectors.toList());
    }
}
