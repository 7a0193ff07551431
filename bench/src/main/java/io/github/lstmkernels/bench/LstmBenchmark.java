package io.github.lstmkernels.bench;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.LstmWeights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
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
 * One backend on one DESIGN.md section 9 shape. {@code sequence}: one sequence call of T steps
 * (with the shape's lengths, if it has them). {@code step}: T step calls, the same work fed one
 * step at a time (as a streaming caller would; only for unidirectional shapes without lengths).
 * Tensors are off-heap (what a caller who cares about speed passes); weights are PyTorch's default random init.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class LstmBenchmark {

    @Param({"scalar"})
    public String backend;

    @Param({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"})
    public String shape;

    private LstmKernel kernel;
    private Arena arena;
    private int batch;
    private int seqLen;
    private int[] lengths;
    private MemorySegment x;
    private MemorySegment y;
    private MemorySegment h;
    private MemorySegment c;
    private MemorySegment[] stepX;
    private MemorySegment[] stepY;

    @Setup(Level.Trial)
    public void setUp() {
        BenchShape s = BenchShape.of(shape);
        LstmConfig config = s.config();
        batch = s.batch;
        seqLen = s.seqLen;
        lengths = s.lengths();
        kernel = LstmKernels.backend(backend).prepare(config, LstmWeights.random(config, 2024));
        arena = Arena.ofShared();
        int width = s.directions() * s.outputSize();
        int states = s.layers * s.directions();
        x = randomSegment((long) seqLen * batch * s.inputSize, 1);
        y = arena.allocate(ValueLayout.JAVA_FLOAT, (long) seqLen * batch * width);
        h = randomSegment((long) states * batch * s.outputSize(), 2);
        c = s.cell == CellType.GRU ? null : randomSegment((long) states * batch * s.hiddenSize, 3);
        // Step inputs are [B, I] slices of x: for time-major x, time t is one contiguous block.
        stepX = new MemorySegment[seqLen];
        stepY = new MemorySegment[seqLen];
        MemorySegment timeMajorX = randomSegment((long) seqLen * batch * s.inputSize, 4);
        for (int t = 0; t < seqLen; t++) {
            stepX[t] = timeMajorX.asSlice(4L * t * batch * s.inputSize, 4L * batch * s.inputSize);
            stepY[t] = y.asSlice(4L * t * batch * width, 4L * batch * width);
        }
    }

    private MemorySegment randomSegment(long n, long seed) {
        return randomSegment(arena, n, seed);
    }

    /** {@code n} floats uniform in (−1, 1) from {@code seed}, off-heap in {@code arena}. */
    static MemorySegment randomSegment(Arena arena, long n, long seed) {
        MemorySegment segment = arena.allocate(ValueLayout.JAVA_FLOAT, n);
        SplittableRandom random = new SplittableRandom(seed);
        for (long i = 0; i < n; i++) {
            segment.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) random.nextDouble(-1, 1));
        }
        return segment;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        kernel.close();
        arena.close();
    }

    @Benchmark
    public MemorySegment sequence() {
        kernel.sequence(seqLen, batch, lengths, x, y, h, c);
        return y;
    }

    @Benchmark
    public MemorySegment step() {
        for (int t = 0; t < seqLen; t++) {
            kernel.step(batch, stepX[t], stepY[t], h, c);
        }
        return y;
    }
}
