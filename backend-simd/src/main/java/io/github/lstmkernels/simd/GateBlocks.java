package io.github.lstmkernels.simd;

import jdk.incubator.vector.FloatVector;
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
     * The fused LSTM cell update for one block of V units of one row, from its gate
     * pre-activations: {@code c = σ(f)·c + σ(i)·tanh(g)}, {@code h = σ(o)·tanh(c)}. Padded lanes
     * (units past H) have zero pre-activations and zero state, and stay zero.
     */
    static void cell(float[] gates, int g, float[] c, int cAt, float[] h, int hAt) {
        FloatVector i = VectorMath.sigmoid(FloatVector.fromArray(SPECIES, gates, g));
        FloatVector f = VectorMath.sigmoid(FloatVector.fromArray(SPECIES, gates, g + LANES));
        FloatVector cand = VectorMath.tanh(FloatVector.fromArray(SPECIES, gates, g + 2 * LANES));
        FloatVector o = VectorMath.sigmoid(FloatVector.fromArray(SPECIES, gates, g + 3 * LANES));
        FloatVector cell = f.mul(FloatVector.fromArray(SPECIES, c, cAt)).add(i.mul(cand));
        cell.intoArray(c, cAt);
        o.mul(VectorMath.tanh(cell)).intoArray(h, hAt);
    }
}
