package io.github.lstmkernels.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import io.github.lstmkernels.CellType;
import io.github.lstmkernels.Feature;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.UnsupportedFeatureException;
import io.github.lstmkernels.spi.LstmBackend;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Inference calls: a configuration, a backend, a kernel (open, or closed twice), then one to three
 * calls in any form (step or sequence, with or without c, with lengths; MemorySegment or float[])
 * whose arguments are right or wrong as the fuzzer chooses (see {@link Placer}); each is judged by
 * {@link Contract}.
 */
final class Inference {
    private enum Form {
        STEP, SEQUENCE, SEQUENCE_LENGTHS
    }

    private Inference() {
    }

    static void run(FuzzedDataProvider data) {
        LstmConfig config = Gen.config(data);
        LstmBackend backend = Gen.backend(data);
        long weightSeed = data.consumeInt(0, 3);
        if (!Kernels.supports(backend, config)) {
            Contract.expectUnsupportedConfig(backend, config);
            return;
        }
        boolean closed = Gen.oneIn(data, 16);
        LstmKernel kernel;
        if (closed) {
            kernel = backend.prepare(config, LstmWeights.random(config, weightSeed));
            kernel.close();
            kernel.close();
        } else {
            kernel = Kernels.cached(backend, config, weightSeed);
        }
        LstmKernel reference = Kernels.cached(Kernels.SCALAR, config, weightSeed);
        int calls = data.consumeInt(1, 3);
        try (Memory memory = new Memory(data.consumeLong())) {
            for (int i = 0; i < calls; i++) {
                call(data, memory, backend, kernel, reference, closed, 1 / Math.sqrt(config.hiddenSize()));
            }
        }
    }

    /** One call on {@code kernel}, judged against {@code reference} (scalar, same config and weights). */
    static void call(FuzzedDataProvider data, Memory memory, LstmBackend backend, LstmKernel kernel,
                     LstmKernel reference, boolean closed, double maxWeight) {
        LstmConfig config = kernel.config();
        boolean lstm = config.cell() == CellType.LSTM;
        Form form = data.pickValue(Form.values());
        boolean arrays = data.consumeBoolean();
        boolean withC = form == Form.SEQUENCE_LENGTHS || (lstm ? !Gen.oneIn(data, 16) : Gen.oneIn(data, 8));
        int seqLen = form == Form.STEP ? 1 : data.consumeInt(1, Gen.MAX_T);
        int batch = data.consumeInt(1, Gen.MAX_B);
        int seqArg = form == Form.STEP ? 1 : Gen.sizeArgument(data, seqLen);
        int batchArg = Gen.sizeArgument(data, batch);
        int[] lengths = form == Form.SEQUENCE_LENGTHS ? lengths(data, seqLen, batch) : null;

        int states = config.numLayers() * config.numDirections();
        int width = config.numDirections() * config.outputSize();
        long rows = (long) seqLen * batch;
        long rowsArg = Gen.times(seqArg, batchArg);
        long[] sizes = {rows * config.inputSize(), rows * width, (long) states * batch * config.outputSize(),
                (long) states * batch * config.hiddenSize()};
        long[] expected = {Gen.times(rowsArg, config.inputSize()), Gen.times(rowsArg, width),
                Gen.times(Gen.times(states, batchArg), config.outputSize()),
                Gen.times(Gen.times(states, batchArg), config.hiddenSize())};

        Placer p = new Placer(data, memory, arrays, sizes[0] + sizes[1] + sizes[2] + sizes[3]);
        if (closed) {
            p.fault("the kernel is closed", IllegalStateException.class);
        }
        if (seqArg < 1 || batchArg < 1) {
            p.fault("seqLen " + seqArg + ", batch " + batchArg, IllegalArgumentException.class);
        }
        if (lstm && !withC) {
            p.fault("an LSTM called without c", IllegalArgumentException.class);
        }
        if (lengths != null && (lengths.length != batchArg
                || Arrays.stream(lengths).anyMatch(l -> l < 1 || l > seqArg))) {
            p.fault("lengths " + Arrays.toString(lengths) + " for T=" + seqArg + ", B=" + batchArg,
                    IllegalArgumentException.class);
        }
        Placer.Tensor x = p.place("x", sizes[0], expected[0], false, false);
        Placer.Tensor y = p.place("y", sizes[1], expected[1], true, false);
        Placer.Tensor h = p.place("h", sizes[2], expected[2], true, false);
        Placer.Tensor c = null;
        if (withC) {
            c = p.place("c", sizes[3], expected[3], true, !lstm);
            if (!lstm && !c.isNull()) {
                p.fault("c given to a GRU", IllegalArgumentException.class);
            }
        }
        p.checkOverlaps();
        SplittableRandom random = new SplittableRandom(data.consumeLong());
        double range = data.consumeBoolean() ? 0.5 : 2.0;
        Placer.fillData(data, x, random, range);
        Placer.fillData(data, h, random, range);
        if (c != null) {
            Placer.fillData(data, c, random, range);
        }

        float[] x0 = Memory.values(x.view);
        float[] h0 = Memory.values(h.view);
        float[] c0 = c == null ? null : Memory.values(c.view);
        int[] lengths0 = lengths == null ? null : lengths.clone();
        memory.snapshot();
        Contract.trace(backend.name() + " " + config + (closed ? " (closed kernel)" : "") + ": "
                + (arrays ? "float[] " : "segment ") + form + (withC ? " with c" : " without c") + " T=" + seqArg
                + " B=" + batchArg + " lengths=" + Arrays.toString(lengths) + " data range " + range + "; faults "
                + p.faults);
        String what = (arrays ? "float[] " : "segment ") + form.name().toLowerCase() + (withC ? " with c" : " without c");
        RuntimeException thrown = null;
        try {
            invoke(kernel, form, arrays, withC, seqArg, batchArg, lengths, x, y, h, c);
        } catch (RuntimeException e) {
            thrown = e;
        }
        if (thrown instanceof UnsupportedFeatureException u && u.feature() == Feature.VARIABLE_LENGTHS
                && lengths != null && !backend.features().contains(Feature.VARIABLE_LENGTHS) && p.valid()) {
            Contract.refusedUntouched(backend, what, memory, u, p);
            Stats.skipped(backend.name(), "lengths (VARIABLE_LENGTHS)");
            return;
        }
        if (thrown != null) {
            Contract.refused(backend, what, memory, thrown, p);
            return;
        }
        Contract.accepted(backend, what, memory, p, y.view, h.view, c == null ? null : c.view);
        // The same call on the scalar reference, from copies of the inputs as they were.
        float[] yRef = new float[(int) expected[1]];
        float[] hRef = h0.clone();
        float[] cRef = c0 == null ? null : c0.clone();
        invokeArrays(reference, form, withC, seqArg, batchArg, lengths0, x0, yRef, hRef, cRef);
        boolean exact = backend.name().equals(Kernels.SCALAR.name());
        double tol = Compare.tolerance(config, seqArg, maxWeight, range);
        Contract.same(backend, what, config, "y", Memory.values(y.view), yRef, exact, tol);
        Contract.same(backend, what, config, "h", Memory.values(h.view), hRef, exact, tol);
        if (c != null && !c.isNull()) {
            Contract.same(backend, what, config, "c", Memory.values(c.view), cRef, exact, tol);
        }
    }

    private static int[] lengths(FuzzedDataProvider data, int seqLen, int batch) {
        int mode = data.consumeInt(0, 15);
        if (mode <= 5) {
            return null;
        }
        int[] l = new int[batch];
        for (int b = 0; b < batch; b++) {
            l[b] = mode == 12 ? seqLen : data.consumeInt(1, seqLen);
        }
        switch (mode) {
            case 13 -> l = Arrays.copyOf(l, data.consumeBoolean() ? batch + 1 : batch - 1);
            case 14 -> l[data.consumeInt(0, batch - 1)] = data.consumeBoolean() ? 0 : data.consumeInt(Integer.MIN_VALUE, -1);
            case 15 -> l[data.consumeInt(0, batch - 1)] = data.consumeBoolean() ? seqLen + 1 : Integer.MAX_VALUE;
            default -> { }
        }
        return l;
    }

    private static void invoke(LstmKernel k, Form form, boolean arrays, boolean withC, int t, int b, int[] lengths,
                               Placer.Tensor x, Placer.Tensor y, Placer.Tensor h, Placer.Tensor c) {
        if (arrays) {
            invokeArrays(k, form, withC, t, b, lengths, x.array, y.array, h.array, c == null ? null : c.array);
            return;
        }
        var cv = c == null ? null : c.view;
        switch (form) {
            case STEP -> {
                if (withC) {
                    k.step(b, x.view, y.view, h.view, cv);
                } else {
                    k.step(b, x.view, y.view, h.view);
                }
            }
            case SEQUENCE -> {
                if (withC) {
                    k.sequence(t, b, x.view, y.view, h.view, cv);
                } else {
                    k.sequence(t, b, x.view, y.view, h.view);
                }
            }
            case SEQUENCE_LENGTHS -> k.sequence(t, b, lengths, x.view, y.view, h.view, cv);
        }
    }

    private static void invokeArrays(LstmKernel k, Form form, boolean withC, int t, int b, int[] lengths, float[] x,
                                     float[] y, float[] h, float[] c) {
        switch (form) {
            case STEP -> {
                if (withC) {
                    k.step(b, x, y, h, c);
                } else {
                    k.step(b, x, y, h);
                }
            }
            case SEQUENCE -> {
                if (withC) {
                    k.sequence(t, b, x, y, h, c);
                } else {
                    k.sequence(t, b, x, y, h);
                }
            }
            case SEQUENCE_LENGTHS -> k.sequence(t, b, lengths, x, y, h, c);
        }
    }
}
