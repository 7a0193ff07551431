package io.github.lstmkernels.testkit;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.LstmBackend;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * {@code leakcheck [--backend onednn] [--cycles 10000] [--calls 100000] [--max-growth-mb 16]}:
 * prepare/call/close cycles, then many calls on one kernel with batch sizes that overflow its
 * plan cache, sampling the process's resident memory (VmRSS). After a warm-up, resident memory
 * must stay flat. Run it with a fixed heap ({@code -Xms = -Xmx}, pre-touched) so that only native
 * memory can move RSS.
 */
public final class LeakCheck {
    private LeakCheck() {
    }

    /** For a child JVM: {@code LeakCheck BACKEND CYCLES CALLS MAX_GROWTH_MB}; exits 0 when resident memory stayed flat. */
    public static void main(String[] args) throws IOException {
        System.exit(run(args[0], Integer.parseInt(args[1]), Integer.parseInt(args[2]), Double.parseDouble(args[3]),
                System.out));
    }

    /** Runs the check; 0 when resident memory stayed flat, 1 otherwise. */
    public static int run(String backendName, int cycles, int calls, double maxGrowthMb, PrintStream out)
            throws IOException {
        LstmBackend backend = LstmKernels.backend(backendName);
        LstmConfig config = LstmConfig.builder(48, 32).numLayers(2).build();
        LstmWeights weights = LstmWeights.random(config, 9);
        int maxBatch = 10; // ten call shapes; onednn's per-kernel plan cache holds them all
        int seqLen = 4;
        try (Arena arena = Arena.ofShared()) { // shared: the short-lived threads below use these tensors too
            MemorySegment x = arena.allocate(ValueLayout.JAVA_FLOAT, (long) seqLen * maxBatch * 48);
            MemorySegment y = arena.allocate(ValueLayout.JAVA_FLOAT, (long) seqLen * maxBatch * 32);
            MemorySegment h = arena.allocate(ValueLayout.JAVA_FLOAT, 2L * maxBatch * 32);
            MemorySegment c = arena.allocate(ValueLayout.JAVA_FLOAT, 2L * maxBatch * 32);
            float[] xs = new float[seqLen * maxBatch * 48];
            float[] ys = new float[seqLen * maxBatch * 32];
            float[] hs = new float[2 * maxBatch * 32];
            float[] cs = new float[2 * maxBatch * 32];

            Runnable cycle = () -> {
                try (LstmKernel kernel = backend.prepare(config, weights)) {
                    call(kernel, 3, x, y, h, c, seqLen);
                }
            };
            // Warm-up: JIT (C2 compiling the plan-building code takes tens of MB of compiler arenas for a
            // moment; RSS keeps that step, so it must happen before the baseline), oneDNN's own
            // primitive cache and kernels, allocator pools.
            for (int i = 0; i < Math.min(1000, cycles); i++) {
                cycle.run();
            }
            try (LstmKernel kernel = backend.prepare(config, weights)) {
                for (int i = 0; i < Math.min(5000, calls); i++) {
                    callMixed(kernel, i, maxBatch, seqLen, x, y, h, c, xs, ys, hs, cs);
                }
            }
            long start = rssKb();
            out.printf(Locale.ROOT, "leakcheck %s: after warm-up RSS %.1f MB%n", backend.name(), start / 1024.0);
            for (int i = 1; i <= cycles; i++) {
                cycle.run();
                if (i % Math.max(1, cycles / 5) == 0) {
                    out.printf(Locale.ROOT, "  %6d prepare/call/close cycles: RSS %.1f MB%n", i, rssKb() / 1024.0);
                }
            }
            try (LstmKernel kernel = backend.prepare(config, weights)) {
                for (int i = 1; i <= calls; i++) {
                    callMixed(kernel, i, maxBatch, seqLen, x, y, h, c, xs, ys, hs, cs);
                    if (i % Math.max(1, calls / 5) == 0) {
                        out.printf(Locale.ROOT, "  %6d calls (batch 1..%d, heap and off-heap): RSS %.1f MB%n", i, maxBatch,
                                rssKb() / 1024.0);
                    }
                }
            }
            // Short-lived threads, each calling once: a backend's per-thread native resources must not
            // outlive their threads (or must be bounded and reused).
            int threadsToStart = Math.max(1, calls / 10);
            try (LstmKernel kernel = backend.prepare(config, weights)) {
                for (int i = 1; i <= threadsToStart; i++) {
                    int index = i;
                    Thread thread = new Thread(() -> callMixed(kernel, index, maxBatch, seqLen, x, y, h, c, xs, ys, hs, cs));
                    thread.start();
                    thread.join();
                    if (i % Math.max(1, threadsToStart / 5) == 0) {
                        out.printf(Locale.ROOT, "  %6d short-lived threads, one call each: RSS %.1f MB%n", i,
                                rssKb() / 1024.0);
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
            long end = rssKb();
            double growth = (end - start) / 1024.0;
            boolean flat = growth <= maxGrowthMb;
            out.printf(Locale.ROOT, "leakcheck %s: %d cycles, %d calls, %d short-lived threads: RSS %.1f -> %.1f MB (%+.1f MB):"
                    + " %s (bound %.0f MB)%n", backend.name(), cycles, calls, threadsToStart, start / 1024.0, end / 1024.0, growth,
                    flat ? "flat" : "GROWS", maxGrowthMb);
            return flat ? 0 : 1;
        }
    }

    private static void call(LstmKernel kernel, int batch, MemorySegment x, MemorySegment y, MemorySegment h,
                             MemorySegment c, int seqLen) {
        kernel.sequence(seqLen, batch, x.asSlice(0, 4L * seqLen * batch * 48), y.asSlice(0, 4L * seqLen * batch * 32),
                h.asSlice(0, 4L * 2 * batch * 32), c.asSlice(0, 4L * 2 * batch * 32));
    }

    private static void callMixed(LstmKernel kernel, int i, int maxBatch, int seqLen, MemorySegment x, MemorySegment y,
                                  MemorySegment h, MemorySegment c, float[] xs, float[] ys, float[] hs, float[] cs) {
        int batch = 1 + i % maxBatch;
        if (i % 2 == 0) {
            call(kernel, batch, x, y, h, c, seqLen);
        } else {
            kernel.sequence(seqLen, batch, MemorySegment.ofArray(xs).asSlice(0, 4L * seqLen * batch * 48),
                    MemorySegment.ofArray(ys).asSlice(0, 4L * seqLen * batch * 32),
                    MemorySegment.ofArray(hs).asSlice(0, 4L * 2 * batch * 32),
                    MemorySegment.ofArray(cs).asSlice(0, 4L * 2 * batch * 32));
        }
    }

    /** Resident set size of this process, from /proc/self/status. */
    static long rssKb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read /proc/self/status", e);
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }
}
