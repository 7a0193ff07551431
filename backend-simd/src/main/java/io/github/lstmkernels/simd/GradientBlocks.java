package io.github.lstmkernels.simd;

import static io.github.lstmkernels.simd.GateBlocks.LANES;
import static io.github.lstmkernels.simd.GateBlocks.PANEL_WIDTH;
import static io.github.lstmkernels.simd.GateBlocks.SPECIES;

import jdk.incubator.vector.FloatVector;

/**
 * The hot loops of the simd backward pass: the transposed products and the gate-gradient epilogues.
 *
 * <p><b>Notation.</b> {@code dA} is a matrix of gate rows (one per step and batch row, the layout of
 * {@link GateBlocks}: {@code [H/V][G][V]} padded to whole panels, gate-row width {@code gS}): the
 * gradient of the loss with respect to the gate pre-activations. Its columns are "gate-row
 * positions" {@code c = (unit/V·G + gate)·V + unit%V}; there are {@code C = H/V·G·V} of them
 * (the panel tail past C is zero). PyTorch's {@code W [G·H, K]} seen in these coordinates is
 * {@code W(c, k)}.
 *
 * <p><b>Products through W: the forward panel GEMM, on transposed weights.</b>
 * {@code dX = dA·W_ih}, {@code dh_prev = dA·W_hh} (per step) and {@code dM = dH·W_hr} are
 * products "row times matrix" exactly like the forward ones, only with W's roles swapped: the
 * output has one entry per column k of W and the sum runs over the gate-row positions c. So
 * they run on {@link GateBlocks#panelRows}'s tested 6/5/4/3/2/1-row register tiles over
 * <em>transposed</em> weights, packed once ({@link #packTransposed}) as
 * {@code [K/4V panels][C][4][V]}: per gate-row position c, the weights of a panel's 4V outputs
 * side by side.
 *
 * <p><b>Weight gradients: the outer-product tile.</b> {@code dW_ih += dAᵀ·X},
 * {@code dW_hh += dAᵀ·H_prev}, {@code dW_hr += dHᵀ·M} sum over all steps × rows of a segment at
 * once. {@link #outerProduct} keeps a 6 (4, 1) × 4-vector tile of {@code out[k][c]} in registers
 * while it runs down the rows r: per row, four vector loads from the vector operand's row
 * ({@code dA[r][c .. c + 4V)}: whole panels, so the rows must be panel-padded) and six broadcasts
 * from the scalar operand's row ({@code X[r][k .. k + 6)}: any width). The accumulators are
 * therefore laid out {@code [K][gS]}: per input column k, a whole gate row. Rows run in chunks of
 * {@link #CHUNK}, so that a chunk of {@code dA}'s panel column and of X stays in L2 while every
 * tile of k passes over it.
 *
 * <p><b>Epilogues</b> ({@link #lstmGateGradients}, {@link #gruGateGradients}): from the gradient
 * reaching h (or m, with projection), the carried cell gradient and the activations the forward
 * pass recorded, to {@code dA}, fused per block of V units: one read of the block's activations,
 * one write of its four (three) gate gradients. Padded lanes have zero activations' inputs and
 * zero incoming gradients, so their gradients are exactly 0.
 */
final class GradientBlocks {
    /** Rows of {@code dA} (and X) per pass of {@link #outerProduct}'s tiles. */
    static final int CHUNK = 256;
    /**
     * 1 as a vector constant (C2 folds static finals): {@code x.neg().add(1f)} would broadcast
     * through a method C2 may leave out of line in a long epilogue, boxing the result.
     */
    private static final FloatVector ONE = FloatVector.broadcast(SPECIES, 1f);

    private GradientBlocks() {
    }

    /** An entry {@code W(c, k)} of a weight matrix in gate-row coordinates. */
    @FunctionalInterface
    interface Entry {
        float at(int position, int column);
    }

    /**
     * Packs {@code Wᵀ} for {@link #transposedProduct}: {@code [ceil(K/4V) panels][C][4][V]} with
     * {@code packed[(p·C + c)·4V + q] = W(c, p·4V + q)}, 0 for {@code p·4V + q ≥ K}.
     */
    static float[] packTransposed(Entry w, int positions, int columns) {
        int panels = GateBlocks.panelRowWidth(ceilDiv(columns, LANES)) / PANEL_WIDTH;
        float[] packed = new float[Math.multiplyExact(panels * PANEL_WIDTH, positions)];
        for (int p = 0; p < panels; p++) {
            for (int c = 0; c < positions; c++) {
                for (int q = 0; q < PANEL_WIDTH; q++) {
                    int k = p * PANEL_WIDTH + q;
                    if (k < columns) {
                        packed[(p * positions + c) * PANEL_WIDTH + q] = w.at(c, k);
                    }
                }
            }
        }
        return packed;
    }

    /**
     * {@link #packTransposed} of a matrix the forward packed in panels ({@link GateBlocks#packPanels}:
     * {@code [positions/4V][columns][4][V]}, position c, column k at {@code ((c/4V)·columns + k)·4V + c%4V}):
     * {@code W_ih} (positions: its gate-row positions, columns: I) and {@code W_hr} (positions: P,
     * columns: H).
     */
    static float[] transposePanels(float[] panels, int positions, int columns) {
        return packTransposed((c, k) -> panels[(c / PANEL_WIDTH * columns + k) * PANEL_WIDTH + c % PANEL_WIDTH],
                positions, columns);
    }

    /**
     * {@link #packTransposed} of {@code W_hh} as the forward packed it in gate blocks
     * ({@code [H/V][columns][G][V]}, {@code blockStride} = G·V: position c, column k at
     * {@code ((c/GV)·columns + k)·GV + c%GV}).
     */
    static float[] transposeGateBlocks(float[] blocks, int blockStride, int positions, int columns) {
        return packTransposed((c, k) -> blocks[(c / blockStride * columns + k) * blockStride + c % blockStride],
                positions, columns);
    }

    /**
     * {@code out[out0 + r·outStride + k] += Σ_c in[in0 + r·inStride + c] · W(c, k)} for {@code rows}
     * rows, every k of {@code panels} panels, W packed by {@link #packTransposed} with
     * {@code positions} positions: {@link GateBlocks#panelRows} per panel.
     */
    static void transposedProduct(float[] wT, int panels, int positions, float[] in, int in0, int inStride, int rows,
                                  float[] out, int out0, int outStride) {
        transposedProduct(wT, 0, panels, positions, in, in0, inStride, rows, out, out0, outStride);
    }

    /** {@link #transposedProduct} for panels {@code [p0, p1)} only: a part of a split call. */
    static void transposedProduct(float[] wT, int p0, int p1, int positions, float[] in, int in0, int inStride,
                                  int rows, float[] out, int out0, int outStride) {
        for (int p = p0; p < p1; p++) {
            GateBlocks.panelRows(wT, p * positions * PANEL_WIDTH, positions, in, in0, inStride, rows, out,
                    out0 + p * PANEL_WIDTH, outStride);
        }
    }

    /**
     * {@code out[k·outStride + n] += Σ_{r < count} s[s0 + r·sStride + k] · v[v0 + r·vStride + n]} for
     * {@code k < columns} and {@code n < panels·4V}: the weight gradient {@code dWᵀ += Sᵀ·V} over
     * {@code count} rows, {@code s} the broadcast operand (X, H_prev, dH), {@code v} the vector
     * operand (dA, M), whose rows must hold {@code panels} whole panels.
     */
    static void outerProduct(float[] s, int s0, int sStride, int columns, float[] v, int v0, int vStride, int panels,
                             int count, float[] out, int outStride) {
        outerProduct(s, s0, sStride, columns, v, v0, vStride, 0, panels, count, out, outStride);
    }

    /**
     * {@link #outerProduct} for panels {@code [p0, p1)} only: a part of a split call. Each output
     * element sums its rows in the same order (chunk after chunk) whichever part computes it.
     */
    static void outerProduct(float[] s, int s0, int sStride, int columns, float[] v, int v0, int vStride, int p0,
                             int p1, int count, float[] out, int outStride) {
        int sixes = 6 * GateBlocks.sixRowTiles(columns);
        for (int r0 = 0; r0 < count; r0 += CHUNK) {
            int n = Math.min(CHUNK, count - r0);
            int sRows = s0 + r0 * sStride;
            for (int p = p0; p < p1; p++) {
                int vRows = v0 + r0 * vStride + p * PANEL_WIDTH;
                int k = 0;
                for (; k < sixes; k += 6) {
                    outer6(s, sRows + k, sStride, v, vRows, vStride, n, out, k * outStride + p * PANEL_WIDTH, outStride);
                }
                for (; k + 4 <= columns; k += 4) {
                    outer4(s, sRows + k, sStride, v, vRows, vStride, n, out, k * outStride + p * PANEL_WIDTH, outStride);
                }
                for (; k < columns; k++) {
                    outer1(s, sRows + k, sStride, v, vRows, vStride, n, out, k * outStride + p * PANEL_WIDTH);
                }
            }
        }
    }

    /**
     * Six rows j of {@link #outerProduct}'s tile: {@code out[out0 + j·outStride + q·V ..] +=
     * Σ_r s[s0 + r·sStride + j] · v[v0 + r·vStride + q·V ..]}, j < 6, q < 4. Per row r, four vector
     * loads and six broadcasts feed 24 FMAs (24 accumulators: for CPUs with 32 vector registers).
     * Written out, as the forward tiles are, so that C2 keeps the accumulators in registers.
     */
    static void outer6(float[] s, int s0, int sStride, float[] v, int v0, int vStride, int count, float[] out,
                       int out0, int outStride) {
        int out1 = out0 + outStride;
        int out2 = out1 + outStride;
        int out3 = out2 + outStride;
        int out4 = out3 + outStride;
        int out5 = out4 + outStride;
        FloatVector a00 = FloatVector.fromArray(SPECIES, out, out0);
        FloatVector a01 = FloatVector.fromArray(SPECIES, out, out0 + LANES);
        FloatVector a02 = FloatVector.fromArray(SPECIES, out, out0 + 2 * LANES);
        FloatVector a03 = FloatVector.fromArray(SPECIES, out, out0 + 3 * LANES);
        FloatVector a10 = FloatVector.fromArray(SPECIES, out, out1);
        FloatVector a11 = FloatVector.fromArray(SPECIES, out, out1 + LANES);
        FloatVector a12 = FloatVector.fromArray(SPECIES, out, out1 + 2 * LANES);
        FloatVector a13 = FloatVector.fromArray(SPECIES, out, out1 + 3 * LANES);
        FloatVector a20 = FloatVector.fromArray(SPECIES, out, out2);
        FloatVector a21 = FloatVector.fromArray(SPECIES, out, out2 + LANES);
        FloatVector a22 = FloatVector.fromArray(SPECIES, out, out2 + 2 * LANES);
        FloatVector a23 = FloatVector.fromArray(SPECIES, out, out2 + 3 * LANES);
        FloatVector a30 = FloatVector.fromArray(SPECIES, out, out3);
        FloatVector a31 = FloatVector.fromArray(SPECIES, out, out3 + LANES);
        FloatVector a32 = FloatVector.fromArray(SPECIES, out, out3 + 2 * LANES);
        FloatVector a33 = FloatVector.fromArray(SPECIES, out, out3 + 3 * LANES);
        FloatVector a40 = FloatVector.fromArray(SPECIES, out, out4);
        FloatVector a41 = FloatVector.fromArray(SPECIES, out, out4 + LANES);
        FloatVector a42 = FloatVector.fromArray(SPECIES, out, out4 + 2 * LANES);
        FloatVector a43 = FloatVector.fromArray(SPECIES, out, out4 + 3 * LANES);
        FloatVector a50 = FloatVector.fromArray(SPECIES, out, out5);
        FloatVector a51 = FloatVector.fromArray(SPECIES, out, out5 + LANES);
        FloatVector a52 = FloatVector.fromArray(SPECIES, out, out5 + 2 * LANES);
        FloatVector a53 = FloatVector.fromArray(SPECIES, out, out5 + 3 * LANES);
        for (int r = 0, sr = s0, vr = v0; r < count; r++, sr += sStride, vr += vStride) {
            FloatVector w0 = FloatVector.fromArray(SPECIES, v, vr);
            FloatVector w1 = FloatVector.fromArray(SPECIES, v, vr + LANES);
            FloatVector w2 = FloatVector.fromArray(SPECIES, v, vr + 2 * LANES);
            FloatVector w3 = FloatVector.fromArray(SPECIES, v, vr + 3 * LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, s[sr]);
            a00 = w0.fma(x, a00);
            a01 = w1.fma(x, a01);
            a02 = w2.fma(x, a02);
            a03 = w3.fma(x, a03);
            x = FloatVector.broadcast(SPECIES, s[sr + 1]);
            a10 = w0.fma(x, a10);
            a11 = w1.fma(x, a11);
            a12 = w2.fma(x, a12);
            a13 = w3.fma(x, a13);
            x = FloatVector.broadcast(SPECIES, s[sr + 2]);
            a20 = w0.fma(x, a20);
            a21 = w1.fma(x, a21);
            a22 = w2.fma(x, a22);
            a23 = w3.fma(x, a23);
            x = FloatVector.broadcast(SPECIES, s[sr + 3]);
            a30 = w0.fma(x, a30);
            a31 = w1.fma(x, a31);
            a32 = w2.fma(x, a32);
            a33 = w3.fma(x, a33);
            x = FloatVector.broadcast(SPECIES, s[sr + 4]);
            a40 = w0.fma(x, a40);
            a41 = w1.fma(x, a41);
            a42 = w2.fma(x, a42);
            a43 = w3.fma(x, a43);
            x = FloatVector.broadcast(SPECIES, s[sr + 5]);
            a50 = w0.fma(x, a50);
            a51 = w1.fma(x, a51);
            a52 = w2.fma(x, a52);
            a53 = w3.fma(x, a53);
        }
        a00.intoArray(out, out0);
        a01.intoArray(out, out0 + LANES);
        a02.intoArray(out, out0 + 2 * LANES);
        a03.intoArray(out, out0 + 3 * LANES);
        a10.intoArray(out, out1);
        a11.intoArray(out, out1 + LANES);
        a12.intoArray(out, out1 + 2 * LANES);
        a13.intoArray(out, out1 + 3 * LANES);
        a20.intoArray(out, out2);
        a21.intoArray(out, out2 + LANES);
        a22.intoArray(out, out2 + 2 * LANES);
        a23.intoArray(out, out2 + 3 * LANES);
        a30.intoArray(out, out3);
        a31.intoArray(out, out3 + LANES);
        a32.intoArray(out, out3 + 2 * LANES);
        a33.intoArray(out, out3 + 3 * LANES);
        a40.intoArray(out, out4);
        a41.intoArray(out, out4 + LANES);
        a42.intoArray(out, out4 + 2 * LANES);
        a43.intoArray(out, out4 + 3 * LANES);
        a50.intoArray(out, out5);
        a51.intoArray(out, out5 + LANES);
        a52.intoArray(out, out5 + 2 * LANES);
        a53.intoArray(out, out5 + 3 * LANES);
    }

    /** {@link #outer6} with four rows j (16 accumulators). */
    static void outer4(float[] s, int s0, int sStride, float[] v, int v0, int vStride, int count, float[] out,
                       int out0, int outStride) {
        int out1 = out0 + outStride;
        int out2 = out1 + outStride;
        int out3 = out2 + outStride;
        FloatVector a00 = FloatVector.fromArray(SPECIES, out, out0);
        FloatVector a01 = FloatVector.fromArray(SPECIES, out, out0 + LANES);
        FloatVector a02 = FloatVector.fromArray(SPECIES, out, out0 + 2 * LANES);
        FloatVector a03 = FloatVector.fromArray(SPECIES, out, out0 + 3 * LANES);
        FloatVector a10 = FloatVector.fromArray(SPECIES, out, out1);
        FloatVector a11 = FloatVector.fromArray(SPECIES, out, out1 + LANES);
        FloatVector a12 = FloatVector.fromArray(SPECIES, out, out1 + 2 * LANES);
        FloatVector a13 = FloatVector.fromArray(SPECIES, out, out1 + 3 * LANES);
        FloatVector a20 = FloatVector.fromArray(SPECIES, out, out2);
        FloatVector a21 = FloatVector.fromArray(SPECIES, out, out2 + LANES);
        FloatVector a22 = FloatVector.fromArray(SPECIES, out, out2 + 2 * LANES);
        FloatVector a23 = FloatVector.fromArray(SPECIES, out, out2 + 3 * LANES);
        FloatVector a30 = FloatVector.fromArray(SPECIES, out, out3);
        FloatVector a31 = FloatVector.fromArray(SPECIES, out, out3 + LANES);
        FloatVector a32 = FloatVector.fromArray(SPECIES, out, out3 + 2 * LANES);
        FloatVector a33 = FloatVector.fromArray(SPECIES, out, out3 + 3 * LANES);
        for (int r = 0, sr = s0, vr = v0; r < count; r++, sr += sStride, vr += vStride) {
            FloatVector w0 = FloatVector.fromArray(SPECIES, v, vr);
            FloatVector w1 = FloatVector.fromArray(SPECIES, v, vr + LANES);
            FloatVector w2 = FloatVector.fromArray(SPECIES, v, vr + 2 * LANES);
            FloatVector w3 = FloatVector.fromArray(SPECIES, v, vr + 3 * LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, s[sr]);
            a00 = w0.fma(x, a00);
            a01 = w1.fma(x, a01);
            a02 = w2.fma(x, a02);
            a03 = w3.fma(x, a03);
            x = FloatVector.broadcast(SPECIES, s[sr + 1]);
            a10 = w0.fma(x, a10);
            a11 = w1.fma(x, a11);
            a12 = w2.fma(x, a12);
            a13 = w3.fma(x, a13);
            x = FloatVector.broadcast(SPECIES, s[sr + 2]);
            a20 = w0.fma(x, a20);
            a21 = w1.fma(x, a21);
            a22 = w2.fma(x, a22);
            a23 = w3.fma(x, a23);
            x = FloatVector.broadcast(SPECIES, s[sr + 3]);
            a30 = w0.fma(x, a30);
            a31 = w1.fma(x, a31);
            a32 = w2.fma(x, a32);
            a33 = w3.fma(x, a33);
        }
        a00.intoArray(out, out0);
        a01.intoArray(out, out0 + LANES);
        a02.intoArray(out, out0 + 2 * LANES);
        a03.intoArray(out, out0 + 3 * LANES);
        a10.intoArray(out, out1);
        a11.intoArray(out, out1 + LANES);
        a12.intoArray(out, out1 + 2 * LANES);
        a13.intoArray(out, out1 + 3 * LANES);
        a20.intoArray(out, out2);
        a21.intoArray(out, out2 + LANES);
        a22.intoArray(out, out2 + 2 * LANES);
        a23.intoArray(out, out2 + 3 * LANES);
        a30.intoArray(out, out3);
        a31.intoArray(out, out3 + LANES);
        a32.intoArray(out, out3 + 2 * LANES);
        a33.intoArray(out, out3 + 3 * LANES);
    }

    /**
     * One row j of {@link #outer6}: even and odd rows r in separate accumulator sets (as
     * {@link GateBlocks#accumulate1} does with columns), so eight FMA chains are in flight.
     */
    static void outer1(float[] s, int s0, int sStride, float[] v, int v0, int vStride, int count, float[] out,
                       int out0) {
        FloatVector e0 = FloatVector.fromArray(SPECIES, out, out0);
        FloatVector e1 = FloatVector.fromArray(SPECIES, out, out0 + LANES);
        FloatVector e2 = FloatVector.fromArray(SPECIES, out, out0 + 2 * LANES);
        FloatVector e3 = FloatVector.fromArray(SPECIES, out, out0 + 3 * LANES);
        FloatVector o0 = FloatVector.zero(SPECIES);
        FloatVector o1 = FloatVector.zero(SPECIES);
        FloatVector o2 = FloatVector.zero(SPECIES);
        FloatVector o3 = FloatVector.zero(SPECIES);
        int r = 0;
        int sr = s0;
        int vr = v0;
        for (; r + 1 < count; r += 2, sr += 2 * sStride, vr += 2 * vStride) {
            FloatVector x = FloatVector.broadcast(SPECIES, s[sr]);
            e0 = FloatVector.fromArray(SPECIES, v, vr).fma(x, e0);
            e1 = FloatVector.fromArray(SPECIES, v, vr + LANES).fma(x, e1);
            e2 = FloatVector.fromArray(SPECIES, v, vr + 2 * LANES).fma(x, e2);
            e3 = FloatVector.fromArray(SPECIES, v, vr + 3 * LANES).fma(x, e3);
            FloatVector y = FloatVector.broadcast(SPECIES, s[sr + sStride]);
            o0 = FloatVector.fromArray(SPECIES, v, vr + vStride).fma(y, o0);
            o1 = FloatVector.fromArray(SPECIES, v, vr + vStride + LANES).fma(y, o1);
            o2 = FloatVector.fromArray(SPECIES, v, vr + vStride + 2 * LANES).fma(y, o2);
            o3 = FloatVector.fromArray(SPECIES, v, vr + vStride + 3 * LANES).fma(y, o3);
        }
        if (r < count) {
            FloatVector x = FloatVector.broadcast(SPECIES, s[sr]);
            e0 = FloatVector.fromArray(SPECIES, v, vr).fma(x, e0);
            e1 = FloatVector.fromArray(SPECIES, v, vr + LANES).fma(x, e1);
            e2 = FloatVector.fromArray(SPECIES, v, vr + 2 * LANES).fma(x, e2);
            e3 = FloatVector.fromArray(SPECIES, v, vr + 3 * LANES).fma(x, e3);
        }
        e0.add(o0).intoArray(out, out0);
        e1.add(o1).intoArray(out, out0 + LANES);
        e2.add(o2).intoArray(out, out0 + 2 * LANES);
        e3.add(o3).intoArray(out, out0 + 3 * LANES);
    }

    /** The bias gradient: {@code out[n] += Σ_{r < count} v[v0 + r·vStride + n]} for {@code n < width} (a multiple of V). */
    static void columnSums(float[] v, int v0, int vStride, int width, int count, float[] out) {
        for (int n = 0; n < width; n += LANES) {
            FloatVector even = FloatVector.fromArray(SPECIES, out, n);
            FloatVector odd = FloatVector.zero(SPECIES);
            int r = 0;
            int at = v0 + n;
            for (; r + 1 < count; r += 2, at += 2 * vStride) {
                even = even.add(FloatVector.fromArray(SPECIES, v, at));
                odd = odd.add(FloatVector.fromArray(SPECIES, v, at + vStride));
            }
            if (r < count) {
                even = even.add(FloatVector.fromArray(SPECIES, v, at));
            }
            even.add(odd).intoArray(out, n);
        }
    }

    /**
     * The LSTM epilogue's first pass: {@code τ = tanh(c')} with {@code c' = f·c + i·g} recomputed
     * exactly as the forward cell computes it, for {@code rows} rows of {@code blocks} blocks, into
     * {@code scratch[(r·blocks + b)·V ..]}; {@code scratch} holds 2·rows·blocks·V floats (the second
     * half is tanh's scratch). Row r's activations {@code [i, f, tanh g, o]} at
     * {@code act[act0 + r·actStride]}, its previous cell state at {@code cPrev[c0 + r·cStride]}.
     * Kept apart from {@link #lstmGateGradients} so that neither method grows past what C2 inlines
     * whole: a vector op left out of line would box its vectors on the heap.
     */
    static void lstmCellTanh(int rows, int blocks, float[] act, int act0, int actStride, float[] cPrev, int c0,
                             int cStride, float[] scratch) {
        int count = rows * blocks * LANES;
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < blocks; b++) {
                int a = act0 + r * actStride + b * 4 * LANES;
                FloatVector i = FloatVector.fromArray(SPECIES, act, a);
                FloatVector f = FloatVector.fromArray(SPECIES, act, a + LANES);
                FloatVector g = FloatVector.fromArray(SPECIES, act, a + 2 * LANES);
                FloatVector c = FloatVector.fromArray(SPECIES, cPrev, c0 + r * cStride + b * LANES);
                f.mul(c).add(i.mul(g)).intoArray(scratch, (r * blocks + b) * LANES);
            }
        }
        VectorMath.tanhInPlace(scratch, 0, count, scratch, count);
    }

    /**
     * The LSTM's gate gradients for {@code rows} rows of {@code blocks} blocks, PyTorch's BPTT, with
     * {@code τ = tanh(c')} from {@link #lstmCellTanh} in {@code tau[(r·blocks + b)·V ..]},
     * {@code dm} the gradient reaching {@code m = o·τ} (h itself without projection) and
     * {@code dc} the carried cell gradient:
     * <pre>
     *   dc'  = dc + dm·o·(1 − τ²)
     *   da_i = dc'·g·i·(1 − i)     da_f = dc'·c·f·(1 − f)
     *   da_g = dc'·i·(1 − g²)      da_o = dm·τ·o·(1 − o)
     *   dc  ← dc'·f                (the gradient of the previous cell state)
     * </pre>
     * Row r's activations {@code [i, f, tanh g, o]} (gate-row layout) at {@code act[act0 + r·actStride]},
     * its previous cell state at {@code cPrev[c0 + r·cStride]}, {@code dm} at {@code dm0 + r·dmStride},
     * {@code dc} at {@code dc0 + r·dcStride} (updated in place); {@code dA} goes to
     * {@code da[da0 + r·daStride]} and, when {@code m} is not null (projection), {@code o·τ} to
     * {@code m[m0 + r·mStride]} for {@code dW_hr}.
     */
    static void lstmGateGradients(int rows, int blocks, float[] act, int act0, int actStride, float[] cPrev, int c0,
                                  int cStride, float[] tau, float[] dm, int dm0, int dmStride, float[] dc, int dc0,
                                  int dcStride, float[] da, int da0, int daStride, float[] m, int m0, int mStride) {
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < blocks; b++) {
                int a = act0 + r * actStride + b * 4 * LANES;
                int d = da0 + r * daStride + b * 4 * LANES;
                int u = b * LANES;
                FloatVector i = FloatVector.fromArray(SPECIES, act, a);
                FloatVector f = FloatVector.fromArray(SPECIES, act, a + LANES);
                FloatVector g = FloatVector.fromArray(SPECIES, act, a + 2 * LANES);
                FloatVector o = FloatVector.fromArray(SPECIES, act, a + 3 * LANES);
                FloatVector t = FloatVector.fromArray(SPECIES, tau, (r * blocks + b) * LANES);
                FloatVector c = FloatVector.fromArray(SPECIES, cPrev, c0 + r * cStride + u);
                FloatVector gradM = FloatVector.fromArray(SPECIES, dm, dm0 + r * dmStride + u);
                int dcAt = dc0 + r * dcStride + u;
                FloatVector cell = gradM.mul(o).mul(ONE.sub(t.mul(t))).add(FloatVector.fromArray(SPECIES, dc, dcAt));
                cell.mul(g).mul(i.mul(ONE.sub(i))).intoArray(da, d);
                cell.mul(c).mul(f.mul(ONE.sub(f))).intoArray(da, d + LANES);
                cell.mul(i).mul(ONE.sub(g.mul(g))).intoArray(da, d + 2 * LANES);
                gradM.mul(t).mul(o.mul(ONE.sub(o))).intoArray(da, d + 3 * LANES);
                cell.mul(f).intoArray(dc, dcAt);
                if (m != null) {
                    o.mul(t).intoArray(m, m0 + r * mStride + u);
                }
            }
        }
    }

    /**
     * The GRU's gate gradients for {@code rows} rows of {@code blocks} blocks, PyTorch's form
     * ({@code n = tanh(a_n + r·hn)}, {@code hn = W_hn h + b_hn}, {@code h' = (1 − z)·n + z·h}):
     * <pre>
     *   da_n = dh·(1 − z)·(1 − n²)       da_z = dh·(h − n)·z·(1 − z)     da_r = da_n·hn·r·(1 − r)
     *   input side  [da_r, da_z, da_n]      recurrent side [da_r, da_z, da_n·r]
     *   dh_prev = dh·z   (+ the recurrent side through W_hh, added by the caller)
     * </pre>
     * Row r's activations {@code [r, z, n]} at {@code act[act0 + r·actStride]}, {@code hn} at
     * {@code hn0 + r·hnStride}, the previous h at {@code h0 + r·hStride}, dh at
     * {@code dh0 + r·dhStride}; both gate-gradient rows go to {@code da0 + r·daStride} of their
     * arrays and {@code dh·z} to {@code dhPrev[p0 + r·pStride]} (overwritten).
     */
    static void gruGateGradients(int rows, int blocks, float[] act, int act0, int actStride, float[] hn, int hn0,
                                 int hnStride, float[] hPrev, int h0, int hStride, float[] dh, int dh0, int dhStride,
                                 float[] daInput, float[] daRecurrent, int da0, int daStride, float[] dhPrev, int p0,
                                 int pStride) {
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < blocks; b++) {
                int a = act0 + r * actStride + b * 3 * LANES;
                int d = da0 + r * daStride + b * 3 * LANES;
                int u = b * LANES;
                FloatVector reset = FloatVector.fromArray(SPECIES, act, a);
                FloatVector update = FloatVector.fromArray(SPECIES, act, a + LANES);
                FloatVector candidate = FloatVector.fromArray(SPECIES, act, a + 2 * LANES);
                FloatVector sum = FloatVector.fromArray(SPECIES, hn, hn0 + r * hnStride + u);
                FloatVector previous = FloatVector.fromArray(SPECIES, hPrev, h0 + r * hStride + u);
                FloatVector grad = FloatVector.fromArray(SPECIES, dh, dh0 + r * dhStride + u);
                FloatVector an = grad.mul(ONE.sub(update)).mul(ONE.sub(candidate.mul(candidate)));
                FloatVector az = grad.mul(previous.sub(candidate)).mul(update.mul(ONE.sub(update)));
                FloatVector ar = an.mul(sum).mul(reset.mul(ONE.sub(reset)));
                ar.intoArray(daInput, d);
                az.intoArray(daInput, d + LANES);
                an.intoArray(daInput, d + 2 * LANES);
                ar.intoArray(daRecurrent, d);
                az.intoArray(daRecurrent, d + LANES);
                an.mul(reset).intoArray(daRecurrent, d + 2 * LANES);
                grad.mul(update).intoArray(dhPrev, p0 + r * pStride + u);
            }
        }
    }

    static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
