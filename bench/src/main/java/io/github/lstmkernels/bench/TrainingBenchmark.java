package io.github.lstmkernels.bench;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.LstmTraining;
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
 * One training step on a DESIGN.md section 9 shape: a forward pass in training mode, then the
 * backward pass with every gradient (x, h0, c0 and all parameters), as an optimizer loop calls
 * them. Off-heap tensors; the training state and gradients are reused, as they should be.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class TrainingBenchmark {

    @Param({"scalar"})
    public String backend;

    @Param({"a", "d", "h"})
    public String shape;

    private LstmKernel kernel;
    private LstmTraining training;
    private LstmGradients gradients;
    private Arena arena;
    private int batch;
    private int seqLen;
    private int[] lengths;
    private MemorySegment x;
    private MemorySegment y;
    private MemorySegment h;
    private MemorySegment c;
    private MemorySegment gradY;
    private MemorySegment gradHn;
    private MemorySegment gradCn;
    private MemorySegment gradX;
    private MemorySegment gradH0;
    private MemorySegment gradC0;

    @Setup(Level.Trial)
    public void setUp() {
        BenchShape s = BenchShape.of(shape);
        LstmConfig config = s.config();
        batch = s.batch;
        seqLen = s.seqLen;
        lengths = s.lengths();
        kernel = LstmKernels.backend(backend).prepare(config, LstmWeights.random(config, 2024));
        training = kernel.newTraining();
        gradients = LstmGradients.overwriting(config);
        arena = Arena.ofShared();
        boolean lstm = s.cell == CellType.LSTM;
        long states = (long) s.layers * s.directions() * batch;
        long out = (long) seqLen * batch * s.directions() * s.outputSize();
        x = random((long) seqLen * batch * s.inputSize, 1);
        y = arena.allocate(ValueLayout.JAVA_FLOAT, out);
        h = random(states * s.outputSize(), 2);
        c = lstm ? random(states * s.hiddenSize, 3) : null;
        gradY = random(out, 4);
        gradHn = random(states * s.outputSize(), 5);
        gradCn = lstm ? random(states * s.hiddenSize, 6) : null;
        gradX = arena.allocate(ValueLayout.JAVA_FLOAT, (long) seqLen * batch * s.inputSize);
        gradH0 = arena.allocate(ValueLayout.JAVA_FLOAT, states * s.outputSize());
        gradC0 = lstm ? arena.allocate(ValueLayout.JAVA_FLOAT, states * s.hiddenSize) : null;
    }

    private MemorySegment random(long n, long seed) {
        return LstmBenchmark.randomSegment(arena, n, seed);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        training.close();
        kernel.close();
        arena.close();
    }

    @Benchmark
    public LstmGradients forwardAndBackward() {
        training.forward(seqLen, batch, lengths, x, y, h, c);
        training.backward(gradY, gradHn, gradCn, gradX, gradH0, gradC0, gradients);
        return gradients;
    }
}
