package io.github.lstmkernels.bench;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.LstmWeights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The onednn backend's own cost: a {@code sequence} call against the bare execution of the same
 * primitives on the same memory ({@code io.github.lstmkernels.onednn.BareExecution}, reached by
 * reflection so that bench keeps no compile-time dependency on a backend). One oneDNN thread.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = "-Dlstm.onednn.threads=1")
public class OneDnnOverheadBenchmark {

    @Param({"a", "b", "c", "d", "e", "f", "g"})
    public String shape;

    private LstmKernel kernel;
    private Arena arena;
    private Runnable bare;
    private int seqLen;
    private int batch;
    private MemorySegment x;
    private MemorySegment y;
    private MemorySegment h;
    private MemorySegment c;

    @Setup(Level.Trial)
    public void setUp() throws ReflectiveOperationException {
        BenchShape s = BenchShape.of(shape);
        LstmConfig config = s.config();
        seqLen = s.seqLen;
        batch = s.batch;
        kernel = LstmKernels.backend("onednn").prepare(config, LstmWeights.random(config, 2024));
        arena = Arena.ofShared();
        x = arena.allocate(ValueLayout.JAVA_FLOAT, (long) seqLen * batch * s.inputSize);
        y = arena.allocate(ValueLayout.JAVA_FLOAT, (long) seqLen * batch * s.hiddenSize);
        h = arena.allocate(ValueLayout.JAVA_FLOAT, (long) s.layers * batch * s.hiddenSize);
        c = arena.allocate(ValueLayout.JAVA_FLOAT, (long) s.layers * batch * s.hiddenSize);
        for (long i = 0; i < x.byteSize() / 4; i++) {
            x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) Math.sin(i));
        }
        bare = (Runnable) Class.forName("io.github.lstmkernels.onednn.BareExecution")
                .getMethod("of", LstmKernel.class, int.class, int.class, MemorySegment.class, MemorySegment.class,
                        MemorySegment.class, MemorySegment.class)
                .invoke(null, kernel, seqLen, batch, x, y, h, c);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        ((AutoCloseable) bare).close();
        kernel.close();
        arena.close();
    }

    @Benchmark
    public MemorySegment backendCall() {
        kernel.sequence(seqLen, batch, x, y, h, c);
        return y;
    }

    @Benchmark
    public MemorySegment bareExecution() {
        bare.run();
        return y;
    }
}
