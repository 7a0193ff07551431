package io.github.lstmkernels.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import io.github.lstmkernels.CellType;
import io.github.lstmkernels.Feature;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmTraining;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.UnsupportedFeatureException;
import io.github.lstmkernels.spi.LstmBackend;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Training sessions on backends with {@link Feature#BACKWARD} (others must refuse
 * {@code newTraining} with an UnsupportedFeatureException naming it): one to six operations in a
 * fuzzer-chosen order (forward, backward, closing the training state or the kernel), with right or
 * wrong arguments. The model: a refused call changes nothing, so a backward after a refused forward
 * is the backward of the last accepted forward; an accepted backward consumes its forward. Every
 * accepted forward is compared with the scalar kernel's inference call, every accepted backward
 * with a fresh scalar training state given the same forward and gradients.
 */
final class Training {
    private enum Op {
        FORWARD, BACKWARD, CLOSE_TRAINING, CLOSE_KERNEL
    }

    /** The last accepted forward pass, as its inputs were. */
    private record Pending(int seqLen, int batch, int[] lengths, float[] x, float[] h, float[] c) {
    }

    private Training() {
    }

    static void run(FuzzedDataProvider data) {
        LstmConfig config = Gen.config(data);
        LstmBackend backend = Gen.backend(data);
        long seed = data.consumeInt(0, 3);
        if (!Kernels.supports(backend, config)) {
            Contract.expectUnsupportedConfig(backend, config);
            return;
        }
        boolean fresh = Gen.oneIn(data, 6);
        LstmKernel kernel = fresh ? backend.prepare(config, LstmWeights.random(config, seed))
                : Kernels.cached(backend, config, seed);
        try {
            if (!backend.features().contains(Feature.BACKWARD)) {
                Contract.trace(backend.name() + " newTraining on " + config + " (no BACKWARD)");
                try {
                    kernel.newTraining().close();
                } catch (UnsupportedFeatureException e) {
                    if (e.feature() != Feature.BACKWARD) {
                        throw Contract.violation(backend.name() + " newTraining refused with " + e.feature(), e);
                    }
                    Stats.call(backend.name(), "newTraining", "refused UnsupportedFeatureException");
                    Stats.skipped(backend.name(), "BACKWARD");
                    return;
                } catch (RuntimeException e) {
                    throw Contract.violation(backend.name() + " newTraining threw " + e, e);
                }
                throw Contract.violation(backend.name() + " lists no BACKWARD but newTraining succeeded", null);
            }
            session(data, config, backend, kernel, seed, fresh);
        } finally {
            if (fresh) {
                kernel.close();
            }
        }
    }

    @SuppressWarnings("try") // closing the training state inside its try block is part of what is tested
    private static void session(FuzzedDataProvider data, LstmConfig config, LstmBackend backend, LstmKernel kernel,
                                long seed, boolean fresh) {
        LstmKernel reference = Kernels.cached(Kernels.SCALAR, config, seed);
        boolean kernelClosed = false;
        boolean trainingClosed = false;
        Pending pending = null;
        int lastSeqLen = 1;
        int lastBatch = 1;
        boolean exact = backend.name().equals(Kernels.SCALAR.name());
        try (LstmTraining training = kernel.newTraining(); Memory memory = new Memory(data.consumeLong())) {
            Stats.call(backend.name(), "newTraining", "accepted");
            int ops = data.consumeInt(1, 6);
            for (int i = 0; i < ops; i++) {
                int dice = data.consumeInt(0, 9);
                Op op = dice < 5 ? Op.FORWARD : dice < 8 ? Op.BACKWARD : dice == 8 ? Op.CLOSE_TRAINING : Op.CLOSE_KERNEL;
                if (op == Op.CLOSE_KERNEL && !fresh) {
                    op = Op.BACKWARD;
                }
                switch (op) {
                    case FORWARD -> {
                        Pending p = forward(data, memory, backend, config, training, reference, kernelClosed,
                                trainingClosed, exact);
                        if (p != null) {
                            pending = p;
                            lastSeqLen = p.seqLen;
                            lastBatch = p.batch;
                        }
                    }
                    case BACKWARD -> {
                        if (backward(data, memory, backend, config, training, reference, pending, lastSeqLen,
                                lastBatch, kernelClosed, trainingClosed, exact)) {
                            pending = null;
                        }
                    }
                    case CLOSE_TRAINING -> {
                        Contract.trace("close the training state");
                        training.close();
                        trainingClosed = true;
                    }
                    case CLOSE_KERNEL -> {
                        Contract.trace("close the kernel");
                        kernel.close();
                        kernelClosed = true;
                    }
                }
            }
        }
    }

    /** A forward pass; returns what it was given when accepted, null when refused. */
    private static Pending forward(FuzzedDataProvider data, Memory memory, LstmBackend backend, LstmConfig config,
                                   LstmTraining training, LstmKernel reference, boolean kernelClosed,
                                   boolean trainingClosed, boolean exact) {
        boolean lstm = config.cell() == CellType.LSTM;
        boolean arrays = data.consumeBoolean();
        int seqLen = data.consumeInt(1, Gen.MAX_T);
        int batch = data.consumeInt(1, Gen.MAX_B);
        int seqArg = Gen.sizeArgument(data, seqLen);
        int batchArg = Gen.sizeArgument(data, batch);
        int[] lengths = data.consumeBoolean() ? null : validOrNotLengths(data, seqLen, batch);
        int states = config.numLayers() * config.numDirections();
        int width = config.numDirections() * config.outputSize();
        long rows = (long) seqLen * batch;
        long rowsArg = Gen.times(seqArg, batchArg);
        Placer p = new Placer(data, memory, arrays, rows * (config.inputSize() + width)
                + 2L * states * batch * config.hiddenSize());
        if (kernelClosed || trainingClosed) {
            p.fault("closed (kernel " + kernelClosed + ", training " + trainingClosed + ")", IllegalStateException.class);
        }
        if (seqArg < 1 || batchArg < 1) {
            p.fault("seqLen " + seqArg + ", batch " + batchArg, IllegalArgumentException.class);
        }
        if (lengths != null && (lengths.length != batchArg || Arrays.stream(lengths).anyMatch(l -> l < 1 || l > seqArg))) {
            p.fault("lengths " + Arrays.toString(lengths), IllegalArgumentException.class);
        }
        Placer.Tensor x = p.place("x", rows * config.inputSize(), Gen.times(rowsArg, config.inputSize()), false, false);
        Placer.Tensor y = p.place("y", rows * width, Gen.times(rowsArg, width), true, false);
        Placer.Tensor h = p.place("h", (long) states * batch * config.outputSize(),
                Gen.times(Gen.times(states, batchArg), config.outputSize()), true, false);
        Placer.Tensor c = p.place("c", (long) states * batch * config.hiddenSize(),
                Gen.times(Gen.times(states, batchArg), config.hiddenSize()), true, !lstm);
        if (!lstm && !c.isNull()) {
            p.fault("c given to a GRU", IllegalArgumentException.class);
        }
        p.checkOverlaps();
        SplittableRandom random = new SplittableRandom(data.consumeLong());
        double range = data.consumeBoolean() ? 0.5 : 2.0;
        Placer.fillData(data, x, random, range);
        Placer.fillData(data, h, random, range);
        Placer.fillData(data, c, random, range);
        float[] x0 = Memory.values(x.view);
        float[] h0 = Memory.values(h.view);
        float[] c0 = Memory.values(c.view);
        int[] lengths0 = lengths == null ? null : lengths.clone();
        String what = "training forward " + (arrays ? "float[]" : "segment");
        Contract.trace(what + " T=" + seqArg + " B=" + batchArg + " lengths=" + Arrays.toString(lengths) + "; faults "
                + p.faults);
        memory.snapshot();
        try {
            if (arrays) {
                training.forward(seqArg, batchArg, lengths, x.array, y.array, h.array, c.array);
            } else {
                training.forward(seqArg, batchArg, lengths, x.view, y.view, h.view, c.view);
            }
        } catch (RuntimeException e) {
            Contract.refused(backend, what, memory, e, p);
            return null;
        }
        Contract.accepted(backend, what, memory, p, y.view, h.view, c.view);
        float[] yRef = new float[(int) (rowsArg * width)];
        float[] hRef = h0.clone();
        float[] cRef = c0 == null ? null : c0.clone();
        reference.sequence(seqArg, batchArg, lengths0, x0, yRef, hRef, cRef);
        double tol = Compare.tolerance(config, seqArg, 1 / Math.sqrt(config.hiddenSize()), range);
        Contract.same(backend, what, config, "y", Memory.values(y.view), yRef, exact, tol);
        Contract.same(backend, what, config, "h", Memory.values(h.view), hRef, exact, tol);
        if (lstm) {
            Contract.same(backend, what, config, "c", Memory.values(c.view), cRef, exact, tol);
        }
        return new Pending(seqArg, batchArg, lengths0, x0, h0, c0);
    }

    private static int[] validOrNotLengths(FuzzedDataProvider data, int seqLen, int batch) {
        int[] l = new int[batch];
        for (int b = 0; b < batch; b++) {
            l[b] = data.consumeInt(1, seqLen);
        }
        if (Gen.oneIn(data, 4)) {
            switch (data.consumeInt(0, 2)) {
                case 0 -> l = Arrays.copyOf(l, batch + 1);
                case 1 -> l[data.consumeInt(0, batch - 1)] = 0;
                default -> l[data.consumeInt(0, batch - 1)] = seqLen + 1;
            }
        }
        return l;
    }

    /** A backward pass; true when accepted. */
    private static boolean backward(FuzzedDataProvider data, Memory memory, LstmBackend backend, LstmConfig config,
                                    LstmTraining training, LstmKernel reference, Pending pending, int seqLen,
                                    int batch, boolean kernelClosed, boolean trainingClosed, boolean exact) {
        boolean lstm = config.cell() == CellType.LSTM;
        boolean arrays = data.consumeBoolean();
        int states = config.numLayers() * config.numDirections();
        int width = config.numDirections() * config.outputSize();
        long rows = (long) seqLen * batch;
        long hSize = (long) states * batch * config.outputSize();
        long cSize = (long) states * batch * config.hiddenSize();
        Placer p = new Placer(data, memory, arrays, rows * (width + config.inputSize()) + 2 * hSize + 2 * cSize);
        if (kernelClosed || trainingClosed) {
            p.fault("closed (kernel " + kernelClosed + ", training " + trainingClosed + ")", IllegalStateException.class);
        }
        if (pending == null) {
            p.fault("no forward pass waiting", IllegalStateException.class);
        }
        LstmGradients gradients;
        int g = data.consumeInt(0, 15);
        if (g == 15) {
            gradients = null;
            p.fault("gradients is null", NullPointerException.class);
        } else if (g == 14) {
            LstmConfig other = LstmConfig.builder(config.inputSize() + 1, config.hiddenSize()).cell(config.cell())
                    .build();
            gradients = LstmGradients.overwriting(other);
            p.fault("gradients of another configuration", IllegalArgumentException.class);
        } else {
            gradients = g < 10 ? LstmGradients.overwriting(config) : LstmGradients.accumulating(config);
            SplittableRandom r = new SplittableRandom(g);
            gradients.asMap().values().forEach(a -> {
                for (int i = 0; i < a.length; i++) {
                    a[i] = (float) r.nextDouble(-1, 1);
                }
            });
        }
        Placer.Tensor gradY = p.place("gradY", rows * width, rows * width, false, false);
        Placer.Tensor gradHn = p.place("gradHn", hSize, hSize, false, false);
        Placer.Tensor gradCn = p.place("gradCn", cSize, cSize, false, !lstm);
        Placer.Tensor gradX = p.place("gradX", rows * config.inputSize(), rows * config.inputSize(), true, false);
        Placer.Tensor gradH0 = p.place("gradH0", hSize, hSize, true, false);
        Placer.Tensor gradC0 = p.place("gradC0", cSize, cSize, true, !lstm);
        if (!lstm && (!gradCn.isNull() || !gradC0.isNull())) {
            p.fault("gradCn/gradC0 given to a GRU", IllegalArgumentException.class);
        }
        p.checkOverlaps();
        SplittableRandom random = new SplittableRandom(data.consumeLong());
        Placer.fillData(data, gradY, random, 1);
        Placer.fillData(data, gradHn, random, 1);
        Placer.fillData(data, gradCn, random, 1);
        float[] gy = Memory.values(gradY.view);
        float[] ghn = Memory.values(gradHn.view);
        float[] gcn = Memory.values(gradCn.view);
        Map<String, float[]> before = new HashMap<>();
        if (gradients != null) {
            gradients.asMap().forEach((k, v) -> before.put(k, v.clone()));
        }
        String what = "training backward " + (arrays ? "float[]" : "segment")
                + (gradients != null && gradients.accumulates() ? " accumulating" : "");
        Contract.trace(what + " after forward " + (pending == null ? "none" : pending.seqLen + "x" + pending.batch)
                + "; faults " + p.faults);
        memory.snapshot();
        try {
            if (arrays) {
                training.backward(gradY.array, gradHn.array, gradCn.array, gradX.array, gradH0.array, gradC0.array,
                        gradients);
            } else {
                training.backward(gradY.view, gradHn.view, gradCn.view, gradX.view, gradH0.view, gradC0.view, gradients);
            }
        } catch (RuntimeException e) {
            Contract.refused(backend, what, memory, e, p);
            if (gradients != null) {
                gradients.asMap().forEach((k, v) -> {
                    if (!Arrays.equals(v, before.get(k))) {
                        throw Contract.violation(backend.name() + " " + what + " refused (" + e + ") but changed gradient "
                                + k, e);
                    }
                });
            }
            return false;
        }
        Contract.accepted(backend, what, memory, p, gradX.view, gradH0.view, gradC0.view);
        // The reference: a fresh scalar training state, the same forward, the same gradients.
        try (LstmTraining ref = reference.newTraining()) {
            int width2 = config.numDirections() * config.outputSize();
            float[] yRef = new float[pending.seqLen * pending.batch * width2];
            ref.forward(pending.seqLen, pending.batch, pending.lengths, pending.x, yRef, pending.h.clone(),
                    pending.c == null ? null : pending.c.clone());
            LstmGradients refGradients = gradients.accumulates() ? LstmGradients.accumulating(config)
                    : LstmGradients.overwriting(config);
            before.forEach((k, v) -> System.arraycopy(v, 0, refGradients.get(k), 0, v.length));
            float[] gxRef = new float[(int) (rows * config.inputSize())];
            float[] gh0Ref = new float[(int) hSize];
            float[] gc0Ref = lstm ? new float[(int) cSize] : null;
            ref.backward(gy, ghn, gcn, gxRef, gh0Ref, gc0Ref, refGradients);
            check(backend, what, config, "gradX", Memory.values(gradX.view), gxRef, exact);
            check(backend, what, config, "gradH0", Memory.values(gradH0.view), gh0Ref, exact);
            if (lstm) {
                check(backend, what, config, "gradC0", Memory.values(gradC0.view), gc0Ref, exact);
            }
            for (Map.Entry<String, float[]> e : refGradients.asMap().entrySet()) {
                check(backend, what, config, "grad " + e.getKey(), gradients.get(e.getKey()), e.getValue(), exact);
            }
        }
        return true;
    }

    /**
     * Gradients: bit for bit on the scalar backend; elsewhere within 1e-3 × (1 + the tensor's
     * largest |value|) (gradients sum over steps and rows; the gradient property suite checks
     * their accuracy against finite differences, this only that a backend is not far off).
     */
    private static void check(LstmBackend backend, String what, LstmConfig config, String name, float[] got,
                              float[] ref, boolean exact) {
        double scale = 0;
        for (float v : ref) {
            if (Float.isFinite(v)) {
                scale = Math.max(scale, Math.abs(v));
            }
        }
        Contract.same(backend, what, config, name, got, ref, exact, 1e-3 * (1 + scale));
    }
}
