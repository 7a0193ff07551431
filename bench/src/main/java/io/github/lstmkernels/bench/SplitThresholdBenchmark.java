package io.github.lstmkernels.bench;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.LstmProperties;
import io.github.lstmkernels.LstmWeights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Where a simd split starts to pay: one-layer LSTMs (I = H, T = 20) at batch 1, 4 and 16, run on
 * one thread and forced onto two ({@code lstm.simd.split.min=0}), so that the per-step work
 * {@code B·4H·H} at which two threads become faster than one can be read off. That crossing,
 * per thread, is the default of {@code lstm.simd.split.min}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class SplitThresholdBenchmark {
    private static final int STEPS = 20;

    @Param({"64", "128", "256"})
    public int hidden;

    @Param({"1", "4", "16"})
    public int batch;

    @Param({"1", "2"})
    public int threads;

    private LstmKernel kernel;
    private Arena arena;
    private MemorySegment x;
    private MemorySegment y;
    private MemorySegment h;
    private MemorySegment c;

    @Setup(Level.Trial)
    public void setUp() {
        // Read when the kernel is made: this trial's thread count, every call split when it can be.
        System.setProperty(LstmProperties.SIMD_THREADS, Integer.toString(threads));
        System.setProperty(LstmProperties.SIMD_SPLIT_MIN, "0");
        LstmConfig config = LstmConfig.builder(hidden, hidden).build();
        kernel = LstmKernels.backend("simd").prepare(config, LstmWeights.random(config, 2024));
        arena = Arena.ofShared();
        x = LstmBenchmark.randomSegment(arena, (long) STEPS * batch * hidden, 1);
        y = arena.allocate(ValueLayout.JAVA_FLOAT, (long) STEPS * batch * hidden);
        h = LstmBenchmark.randomSegment(arena, (long) batch * hidden, 2);
        c = LstmBenchmark.randomSegment(arena, (long) batch * hidden, 3);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        kernel.close();
        arena.close();
    }

    @Benchmark
    public MemorySegment sequence() {
        kernel.sequence(STEPS, batch, null, x, y, h, c);
        return y;
    }
}
