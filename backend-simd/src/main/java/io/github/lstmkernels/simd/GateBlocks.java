package io.github.lstmkernels.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The two hot loops of the simd backend, and the only place that knows the packed weight layout.
 *
 * <p><b>Layout.</b> A gate-stacked matrix {@code W [4H, K]} is packed as {@code [H/V][K][4][V]}
 * (see {@code WeightLayouts.packGateBlocks}): hidden units in blocks of V vector lanes, and for each
 * input column k the four gate rows i, f, g, o of the block side by side. Gate pre-activations
 * ("gate rows") use the matching {@code [H/V][4][V]} layout per batch row.
 *
 * <p><b>Register tiling.</b> {@link #accumulate4} keeps a 4-row × 4-gate tile of accumulators (16
 * vectors) in registers while it streams the block's weights once: per column k, four weight
 * loads and four broadcasts feed sixteen FMAs. {@link #accumulate1} is the one-row form, used for
 * batch 1 and leftover rows; there the weights stream is the limit, not the FMAs.
 */
final class GateBlocks {
    static final VectorSpecies<Float> SPECIES = VectorWidth.SPECIES;
    /** V: lanes per vector, the width of a block of hidden units. */
    static final int LANES = SPECIES.length();
    static final int GATES = 4;
    /** Floats per column of a packed block: 4 gates × V lanes. */
    static final int STRIDE = GATES * LANES;
    private static final float TANH_P0 = VectorMath.TANH_P0;
    private static final float TANH_P1 = VectorMath.TANH_P1;
    private static final FloatVector TANH_P2 = FloatVector.broadcast(SPECIES, VectorMath.TANH_P2);
    private static final FloatVector TANH_P3 = FloatVector.broadcast(SPECIES, VectorMath.TANH_P3);
    private static final FloatVector TANH_P4 = FloatVector.broadcast(SPECIES, VectorMath.TANH_P4);

    private GateBlocks() {
    }

    /**
     * For four rows r: {@code gates[g_r .. g_r + 4V) += Σ_k in[in_r + k] · W[block][k][·][·]}, where
     * the block's weights start at {@code w[weights]} and span {@code columns} columns.
     */
    static void accumulate4(float[] w, int weights, int columns, float[] in, int in0, int in1, int in2, int in3,
                            float[] gates, int g0, int g1, int g2, int g3) {
        FloatVector a0i = FloatVector.fromArray(SPECIES, gates, g0);
        FloatVector a0f = FloatVector.fromArray(SPECIES, gates, g0 + LANES);
        FloatVector a0g = FloatVector.fromArray(SPECIES, gates, g0 + 2 * LANES);
        FloatVector a0o = FloatVector.fromArray(SPECIES, gates, g0 + 3 * LANES);
        FloatVector a1i = FloatVector.fromArray(SPECIES, gates, g1);
        FloatVector a1f = FloatVector.fromArray(SPECIES, gates, g1 + LANES);
        FloatVector a1g = FloatVector.fromArray(SPECIES, gates, g1 + 2 * LANES);
        FloatVector a1o = FloatVector.fromArray(SPECIES, gates, g1 + 3 * LANES);
        FloatVector a2i = FloatVector.fromArray(SPECIES, gates, g2);
        FloatVector a2f = FloatVector.fromArray(SPECIES, gates, g2 + LANES);
        FloatVector a2g = FloatVector.fromArray(SPECIES, gates, g2 + 2 * LANES);
        FloatVector a2o = FloatVector.fromArray(SPECIES, gates, g2 + 3 * LANES);
        FloatVector a3i = FloatVector.fromArray(SPECIES, gates, g3);
        FloatVector a3f = FloatVector.fromArray(SPECIES, gates, g3 + LANES);
        FloatVector a3g = FloatVector.fromArray(SPECIES, gates, g3 + 2 * LANES);
        FloatVector a3o = FloatVector.fromArray(SPECIES, gates, g3 + 3 * LANES);
        for (int k = 0, p = weights; k < columns; k++, p += STRIDE) {
            FloatVector wi = FloatVector.fromArray(SPECIES, w, p);
            FloatVector wf = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector wg = FloatVector.fromArray(SPECIES, w, p + 2 * LANES);
            FloatVector wo = FloatVector.fromArray(SPECIES, w, p + 3 * LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a0i = wi.fma(x, a0i);
            a0f = wf.fma(x, a0f);
            a0g = wg.fma(x, a0g);
            a0o = wo.fma(x, a0o);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a1i = wi.fma(x, a1i);
            a1f = wf.fma(x, a1f);
            a1g = wg.fma(x, a1g);
            a1o = wo.fma(x, a1o);
            x = FloatVector.broadcast(SPECIES, in[in2 + k]);
            a2i = wi.fma(x, a2i);
            a2f = wf.fma(x, a2f);
            a2g = wg.fma(x, a2g);
            a2o = wo.fma(x, a2o);
            x = FloatVector.broadcast(SPECIES, in[in3 + k]);
            a3i = wi.fma(x, a3i);
            a3f = wf.fma(x, a3f);
            a3g = wg.fma(x, a3g);
            a3o = wo.fma(x, a3o);
        }
        a0i.intoArray(gates, g0);
        a0f.intoArray(gates, g0 + LANES);
        a0g.intoArray(gates, g0 + 2 * LANES);
        a0o.intoArray(gates, g0 + 3 * LANES);
        a1i.intoArray(gates, g1);
        a1f.intoArray(gates, g1 + LANES);
        a1g.intoArray(gates, g1 + 2 * LANES);
        a1o.intoArray(gates, g1 + 3 * LANES);
        a2i.intoArray(gates, g2);
        a2f.intoArray(gates, g2 + LANES);
        a2g.intoArray(gates, g2 + 2 * LANES);
        a2o.intoArray(gates, g2 + 3 * LANES);
        a3i.intoArray(gates, g3);
        a3f.intoArray(gates, g3 + LANES);
        a3g.intoArray(gates, g3 + 2 * LANES);
        a3o.intoArray(gates, g3 + 3 * LANES);
    }

    /**
     * {@link #accumulate4} with a 6-row tile: 24 accumulators, for CPUs with 32 vector registers.
     * The same loop at another tile height, written out again on purpose: accumulators must be
     * local variables for C2 to keep them in registers, so the tile height cannot be a parameter.
     */
    static void accumulate6(float[] w, int weights, int columns, float[] in, int in0, int in1, int in2, int in3, int in4, int in5,
                            float[] gates, int g0, int g1, int g2, int g3, int g4, int g5) {
        FloatVector a0i = FloatVector.fromArray(SPECIES, gates, g0);
        FloatVector a0f = FloatVector.fromArray(SPECIES, gates, g0 + LANES);
        FloatVector a0g = FloatVector.fromArray(SPECIES, gates, g0 + 2 * LANES);
        FloatVector a0o = FloatVector.fromArray(SPECIES, gates, g0 + 3 * LANES);
        FloatVector a1i = FloatVector.fromArray(SPECIES, gates, g1);
        FloatVector a1f = FloatVector.fromArray(SPECIES, gates, g1 + LANES);
        FloatVector a1g = FloatVector.fromArray(SPECIES, gates, g1 + 2 * LANES);
        FloatVector a1o = FloatVector.fromArray(SPECIES, gates, g1 + 3 * LANES);
        FloatVector a2i = FloatVector.fromArray(SPECIES, gates, g2);
        FloatVector a2f = FloatVector.fromArray(SPECIES, gates, g2 + LANES);
        FloatVector a2g = FloatVector.fromArray(SPECIES, gates, g2 + 2 * LANES);
        FloatVector a2o = FloatVector.fromArray(SPECIES, gates, g2 + 3 * LANES);
        FloatVector a3i = FloatVector.fromArray(SPECIES, gates, g3);
        FloatVector a3f = FloatVector.fromArray(SPECIES, gates, g3 + LANES);
        FloatVector a3g = FloatVector.fromArray(SPECIES, gates, g3 + 2 * LANES);
        FloatVector a3o = FloatVector.fromArray(SPECIES, gates, g3 + 3 * LANES);
        FloatVector a4i = FloatVector.fromArray(SPECIES, gates, g4);
        FloatVector a4f = FloatVector.fromArray(SPECIES, gates, g4 + LANES);
        FloatVector a4g = FloatVector.fromArray(SPECIES, gates, g4 + 2 * LANES);
        FloatVector a4o = FloatVector.fromArray(SPECIES, gates, g4 + 3 * LANES);
        FloatVector a5i = FloatVector.fromArray(SPECIES, gates, g5);
        FloatVector a5f = FloatVector.fromArray(SPECIES, gates, g5 + LANES);
        FloatVector a5g = FloatVector.fromArray(SPECIES, gates, g5 + 2 * LANES);
        FloatVector a5o = FloatVector.fromArray(SPECIES, gates, g5 + 3 * LANES);
        for (int k = 0, p = weights; k < columns; k++, p += STRIDE) {
            FloatVector wi = FloatVector.fromArray(SPECIES, w, p);
            FloatVector wf = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector wg = FloatVector.fromArray(SPECIES, w, p + 2 * LANES);
            FloatVector wo = FloatVector.fromArray(SPECIES, w, p + 3 * LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a0i = wi.fma(x, a0i);
            a0f = wf.fma(x, a0f);
            a0g = wg.fma(x, a0g);
            a0o = wo.fma(x, a0o);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a1i = wi.fma(x, a1i);
            a1f = wf.fma(x, a1f);
            a1g = wg.fma(x, a1g);
            a1o = wo.fma(x, a1o);
            x = FloatVector.broadcast(SPECIES, in[in2 + k]);
            a2i = wi.fma(x, a2i);
            a2f = wf.fma(x, a2f);
            a2g = wg.fma(x, a2g);
            a2o = wo.fma(x, a2o);
            x = FloatVector.broadcast(SPECIES, in[in3 + k]);
            a3i = wi.fma(x, a3i);
            a3f = wf.fma(x, a3f);
            a3g = wg.fma(x, a3g);
            a3o = wo.fma(x, a3o);
            x = FloatVector.broadcast(SPECIES, in[in4 + k]);
            a4i = wi.fma(x, a4i);
            a4f = wf.fma(x, a4f);
            a4g = wg.fma(x, a4g);
            a4o = wo.fma(x, a4o);
            x = FloatVector.broadcast(SPECIES, in[in5 + k]);
            a5i = wi.fma(x, a5i);
            a5f = wf.fma(x, a5f);
            a5g = wg.fma(x, a5g);
            a5o = wo.fma(x, a5o);
        }
        a0i.intoArray(gates, g0);
        a0f.intoArray(gates, g0 + LANES);
        a0g.intoArray(gates, g0 + 2 * LANES);
        a0o.intoArray(gates, g0 + 3 * LANES);
        a1i.intoArray(gates, g1);
        a1f.intoArray(gates, g1 + LANES);
        a1g.intoArray(gates, g1 + 2 * LANES);
        a1o.intoArray(gates, g1 + 3 * LANES);
        a2i.intoArray(gates, g2);
        a2f.intoArray(gates, g2 + LANES);
        a2g.intoArray(gates, g2 + 2 * LANES);
        a2o.intoArray(gates, g2 + 3 * LANES);
        a3i.intoArray(gates, g3);
        a3f.intoArray(gates, g3 + LANES);
        a3g.intoArray(gates, g3 + 2 * LANES);
        a3o.intoArray(gates, g3 + 3 * LANES);
        a4i.intoArray(gates, g4);
        a4f.intoArray(gates, g4 + LANES);
        a4g.intoArray(gates, g4 + 2 * LANES);
        a4o.intoArray(gates, g4 + 3 * LANES);
        a5i.intoArray(gates, g5);
        a5f.intoArray(gates, g5 + LANES);
        a5g.intoArray(gates, g5 + 2 * LANES);
        a5o.intoArray(gates, g5 + 3 * LANES);
    }

    /**
     * The one-row form of {@link #accumulate4}. Two independent sets of accumulators (even and odd
     * columns) keep eight FMA chains in flight, so the loop is limited by the weight stream rather
     * than by FMA latency.
     */
    static void accumulate1(float[] w, int weights, int columns, float[] in, int in0, float[] gates, int g0) {
        FloatVector ei = FloatVector.fromArray(SPECIES, gates, g0);
        FloatVector ef = FloatVector.fromArray(SPECIES, gates, g0 + LANES);
        FloatVector eg = FloatVector.fromArray(SPECIES, gates, g0 + 2 * LANES);
        FloatVector eo = FloatVector.fromArray(SPECIES, gates, g0 + 3 * LANES);
        FloatVector oi = FloatVector.zero(SPECIES);
        FloatVector of = FloatVector.zero(SPECIES);
        FloatVector og = FloatVector.zero(SPECIES);
        FloatVector oo = FloatVector.zero(SPECIES);
        int k = 0;
        int p = weights;
        for (; k + 1 < columns; k += 2, p += 2 * STRIDE) {
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            ei = FloatVector.fromArray(SPECIES, w, p).fma(x, ei);
            ef = FloatVector.fromArray(SPECIES, w, p + LANES).fma(x, ef);
            eg = FloatVector.fromArray(SPECIES, w, p + 2 * LANES).fma(x, eg);
            eo = FloatVector.fromArray(SPECIES, w, p + 3 * LANES).fma(x, eo);
            FloatVector y = FloatVector.broadcast(SPECIES, in[in0 + k + 1]);
            oi = FloatVector.fromArray(SPECIES, w, p + STRIDE).fma(y, oi);
            of = FloatVector.fromArray(SPECIES, w, p + STRIDE + LANES).fma(y, of);
            og = FloatVector.fromArray(SPECIES, w, p + STRIDE + 2 * LANES).fma(y, og);
            oo = FloatVector.fromArray(SPECIES, w, p + STRIDE + 3 * LANES).fma(y, oo);
        }
        if (k < columns) {
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            ei = FloatVector.fromArray(SPECIES, w, p).fma(x, ei);
            ef = FloatVector.fromArray(SPECIES, w, p + LANES).fma(x, ef);
            eg = FloatVector.fromArray(SPECIES, w, p + 2 * LANES).fma(x, eg);
            eo = FloatVector.fromArray(SPECIES, w, p + 3 * LANES).fma(x, eo);
        }
        ei.add(oi).intoArray(gates, g0);
        ef.add(of).intoArray(gates, g0 + LANES);
        eg.add(og).intoArray(gates, g0 + 2 * LANES);
        eo.add(oo).intoArray(gates, g0 + 3 * LANES);
    }

    /**
     * The fused LSTM cell update for one block of V units over {@code rows} batch rows, from their
     * gate pre-activations ({@code gates[g0 + r·gateStride]}, layout [4][V]):
     * {@code c = σ(f)·c + σ(i)·tanh(g)}, {@code h = σ(o)·tanh(c)}, state rows at
     * {@code c0/h0 + r·stateStride}. The activations run as array passes over the whole block
     * (see VectorMath on why). Padded lanes (units past H) have zero pre-activations and zero
     * state, and stay zero. {@code scratch} holds at least 3·V·rows floats.
     */
    static void cells(float[] gates, int g0, int gateStride, int rows, float[] c, float[] h, int s0, int stateStride,
                      float[] scratch) {
        // Five activations per unit, all as σ: i, f, o directly; tanh(g) and tanh(c) from σ(−2|·|).
        int rawG = 0;
        int rawC = rows * LANES;
        int sigC = 2 * rows * LANES;
        for (int r = 0; r < rows; r++) {
            int g = g0 + r * gateStride + 2 * LANES;
            FloatVector candidate = FloatVector.fromArray(SPECIES, gates, g);
            candidate.intoArray(scratch, rawG + r * LANES);
            candidate.abs().mul(-2f).intoArray(gates, g);
        }
        VectorMath.sigmoidInPlace(gates, g0, gateStride, rows, STRIDE);
        for (int r = 0; r < rows; r++) {
            int g = g0 + r * gateStride;
            int s = s0 + r * stateStride;
            FloatVector i = FloatVector.fromArray(SPECIES, gates, g);
            FloatVector f = FloatVector.fromArray(SPECIES, gates, g + LANES);
            // tanh(g), written out here (not called): C2 may refuse to inline a helper taking vectors.
            FloatVector x = FloatVector.fromArray(SPECIES, scratch, rawG + r * LANES);
            FloatVector large = FloatVector.fromArray(SPECIES, gates, g + 2 * LANES).mul(-2f).add(1f);
            large = large.blend(large.neg(), x.compare(VectorOperators.LT, 0f));
            FloatVector z = x.mul(x);
            FloatVector p = z.fma(TANH_P0, TANH_P1).fma(z, TANH_P2).fma(z, TANH_P3).fma(z, TANH_P4);
            FloatVector small = x.mul(z).fma(p, x).blend(x, x.compare(VectorOperators.EQ, 0f));
            FloatVector candidate = large.blend(small, x.abs().compare(VectorOperators.LT, VectorMath.TANH_SMALL));
            FloatVector cell = f.mul(FloatVector.fromArray(SPECIES, c, s)).add(i.mul(candidate));
            cell.intoArray(c, s);
            cell.intoArray(scratch, rawC + r * LANES);
            cell.abs().mul(-2f).intoArray(scratch, sigC + r * LANES);
        }
        VectorMath.sigmoidInPlace(scratch, sigC, rows * LANES);
        for (int r = 0; r < rows; r++) {
            FloatVector o = FloatVector.fromArray(SPECIES, gates, g0 + r * gateStride + 3 * LANES);
            // tanh(c), as tanh(g) above.
            FloatVector x = FloatVector.fromArray(SPECIES, scratch, rawC + r * LANES);
            FloatVector large = FloatVector.fromArray(SPECIES, scratch, sigC + r * LANES).mul(-2f).add(1f);
            large = large.blend(large.neg(), x.compare(VectorOperators.LT, 0f));
            FloatVector z = x.mul(x);
            FloatVector p = z.fma(TANH_P0, TANH_P1).fma(z, TANH_P2).fma(z, TANH_P3).fma(z, TANH_P4);
            FloatVector small = x.mul(z).fma(p, x).blend(x, x.compare(VectorOperators.EQ, 0f));
            FloatVector tanhC = large.blend(small, x.abs().compare(VectorOperators.LT, VectorMath.TANH_SMALL));
            o.mul(tanhC).intoArray(h, s0 + r * stateStride);
        }
    }
}
