package io.github.lstmkernels.simd;

import static io.github.lstmkernels.simd.GateBlocks.LANES;
import static io.github.lstmkernels.simd.GateBlocks.PANEL_WIDTH;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.spi.WeightLayouts;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * The backward micro-kernels of {@link GradientBlocks} against plain-Java twins written here from
 * their definitions (in double), on awkward sizes: 1, 2, 3, V−1, V, V+1, primes, a few hundred,
 * row counts that exercise every tile mix, and (for the outer product) row counts that cross a
 * {@link GradientBlocks#CHUNK}.
 *
 * <p><b>Tolerances.</b> The products sum K terms in float32: within γ(K+1)·Σ|terms| of the exact
 * sum (γ(n) = n·2⁻²⁴ / (1 − n·2⁻²⁴), as in GateBlocksTest), plus half an ulp of the result. The
 * epilogues: a handful of float products of O(1) factors and one tanh (within 1.3 ulp), so
 * |got − exact| ≤ 2e-6·(1 + |dm| + |dc|) for values of the sizes drawn here; a dropped or
 * misplaced term is off by ~0.1. Padded lanes (units past H) get exactly 0.
 */
class GradientBlocksTest {
    private static final double UNIT_ROUNDOFF = 0x1p-24;
    private static final int[] SIZES = IntStream.of(1, 2, 3, LANES - 1, LANES, LANES + 1, 7, 13, 37)
            .filter(n -> n > 0).distinct().toArray();
    /** Every tile mix of panelRows (1, 1+1, 5, 6, 6+1, 4+4, 5+4, 5+6, 6+6, 5+4+4) and of the 6/4/1 outer-product tiles. */
    private static final int[] ROWS = {1, 2, 5, 6, 7, 8, 9, 11, 12, 13};

    private final SplittableRandom random = new SplittableRandom(20261127);

    // ---- products through transposed weights: dX = dA·W_ih, dh_prev = dA·W_hh, dM = dH·W_hr ----

    @Test
    void transposedProductMatchesPlainProduct() {
        for (int gates : new int[] {1, 3, 4}) {
            for (int units : SIZES) {
                for (int columns : SIZES) {
                    checkTransposed(gates, units, columns, ROWS[random.nextInt(ROWS.length)]);
                }
                checkTransposed(gates, units, 5, 1);
                checkTransposed(gates, units, 5, 13);
            }
        }
        checkTransposed(4, 257, 300, 9);
        checkTransposed(3, 300, 257, 1);
    }

    /**
     * {@code out[r][k] = init[r][k] + Σ_{g,u} dA[r][pos(g, u)] · W[g·units + u][k]} for a gate-stacked
     * {@code W [G·units, K]}, {@code dA} rows in the gate-row layout (padded positions 0).
     */
    private void checkTransposed(int gates, int units, int columns, int rows) {
        float[] w = values(gates * units * columns);
        int blocks = WeightLayouts.ceilDiv(units, LANES);
        int positions = blocks * gates * LANES;
        int inStride = GateBlocks.panelRowWidth(blocks * gates) + 5;
        float[] in = new float[rows * inStride];
        for (int r = 0; r < rows; r++) {
            for (int g = 0; g < gates; g++) {
                for (int u = 0; u < units; u++) {
                    in[r * inStride + position(gates, g, u)] = value();
                }
            }
        }
        int outStride = GateBlocks.panelRowWidth(WeightLayouts.ceilDiv(columns, LANES));
        float[] out = new float[rows * outStride];
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < columns; k++) {
                out[r * outStride + k] = value();
            }
        }
        float[] init = out.clone();
        float[] packed = GradientBlocks.packTransposed((c, k) -> {
            int block = c / (gates * LANES);
            int gate = c % (gates * LANES) / LANES;
            int unit = block * LANES + c % LANES;
            return unit < units ? w[(gate * units + unit) * columns + k] : 0f;
        }, positions, columns);
        GradientBlocks.transposedProduct(packed, outStride / PANEL_WIDTH, positions, in, 0, inStride, rows, out, 0,
                outStride);
        String where = "transposed G=" + gates + " units=" + units + " K=" + columns + " rows=" + rows;
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < outStride; k++) {
                if (k >= columns) {
                    assertEquals(0f, out[r * outStride + k], where + ": padded output " + k);
                    continue;
                }
                double sum = init[r * outStride + k];
                double magnitude = Math.abs(sum);
                for (int g = 0; g < gates; g++) {
                    for (int u = 0; u < units; u++) {
                        double term = (double) in[r * inStride + position(gates, g, u)] * w[(g * units + u) * columns + k];
                        sum += term;
                        magnitude += Math.abs(term);
                    }
                }
                assertClose(sum, out[r * outStride + k], gamma(gates * units + 1) * magnitude, where + " row " + r + " k " + k);
            }
        }
    }

    /** The kernel's transposed weights come from its packed forward ones: the same as packing W directly. */
    @Test
    void transposingPackedForwardWeightsEqualsPackingTheMatrix() {
        for (int gates : new int[] {1, 3, 4}) {
            for (int units : new int[] {1, LANES - 1, LANES + 1, 37}) {
                for (int columns : new int[] {1, 5, LANES + 3}) {
                    float[] w = values(gates * units * columns);
                    int blocks = WeightLayouts.ceilDiv(units, LANES);
                    int positions = blocks * gates * LANES;
                    float[] direct = GradientBlocks.packTransposed((c, k) -> {
                        int unit = c / (gates * LANES) * LANES + c % LANES;
                        return unit < units ? w[(c % (gates * LANES) / LANES * units + unit) * columns + k] : 0f;
                    }, positions, columns);
                    java.lang.foreign.MemorySegment m = java.lang.foreign.MemorySegment.ofArray(w);
                    String where = "G=" + gates + " units=" + units + " K=" + columns;
                    org.junit.jupiter.api.Assertions.assertArrayEquals(direct,
                            GradientBlocks.transposePanels(GateBlocks.packPanels(m, gates, units, columns), positions, columns),
                            "from panels, " + where);
                    org.junit.jupiter.api.Assertions.assertArrayEquals(direct, GradientBlocks.transposeGateBlocks(
                            WeightLayouts.packGateBlocks(m, gates, units, columns, LANES), gates * LANES, positions, columns),
                            "from gate blocks, " + where);
                }
            }
        }
    }

    // ---- the outer-product tile: dW += Sᵀ·V over all rows ----

    @Test
    void outerProductMatchesPlainSums() {
        for (int columns : SIZES) {
            for (int rows : ROWS) {
                checkOuter(columns, 1 + random.nextInt(3), rows);
            }
        }
        for (int columns : new int[] {1, 5, 6, 13}) {
            checkOuter(columns, 2, GradientBlocks.CHUNK);
            checkOuter(columns, 1, GradientBlocks.CHUNK + 3);
            checkOuter(columns, 3, 2 * GradientBlocks.CHUNK + 1);
        }
        checkOuter(300, 2, 37);
        checkOuter(257, 5, 300);
    }

    /** {@code out[k][n] = init + Σ_r s[r][k] · v[r][n]}, k < columns, n < panels·4V, strides wider than the data. */
    private void checkOuter(int columns, int panels, int count) {
        int sStride = columns + 2;
        int vStride = panels * PANEL_WIDTH + LANES;
        int width = panels * PANEL_WIDTH;
        int outStride = width + LANES;
        float[] s = values(count * sStride + 3);
        float[] v = values(count * vStride + 7);
        float[] out = values(columns * outStride);
        float[] init = out.clone();
        GradientBlocks.outerProduct(s, 3, sStride, columns, v, 7, vStride, panels, count, out, outStride);
        String where = "outer K=" + columns + " panels=" + panels + " rows=" + count;
        for (int k = 0; k < columns; k++) {
            for (int n = 0; n < outStride; n++) {
                int at = k * outStride + n;
                if (n >= width) {
                    assertEquals(init[at], out[at], where + ": wrote past the panels at k " + k + " n " + n);
                    continue;
                }
                double sum = init[at];
                double magnitude = Math.abs(sum);
                for (int r = 0; r < count; r++) {
                    double term = (double) s[3 + r * sStride + k] * v[7 + r * vStride + n];
                    sum += term;
                    magnitude += Math.abs(term);
                }
                assertClose(sum, out[at], gamma(count + 1) * magnitude, where + " k " + k + " n " + n);
            }
        }
    }

    @Test
    void columnSumsMatchPlainSums() {
        for (int count : new int[] {1, 2, 3, 7, 300}) {
            for (int width : new int[] {LANES, 3 * LANES, 8 * LANES}) {
                int stride = width + LANES;
                float[] v = values(count * stride + 2);
                float[] out = values(width);
                float[] init = out.clone();
                GradientBlocks.columnSums(v, 2, stride, width, count, out);
                for (int n = 0; n < width; n++) {
                    double sum = init[n];
                    double magnitude = Math.abs(sum);
                    for (int r = 0; r < count; r++) {
                        sum += v[2 + r * stride + n];
                        magnitude += Math.abs(v[2 + r * stride + n]);
                    }
                    assertClose(sum, out[n], gamma(count + 1) * magnitude, "column sums rows=" + count + " n " + n);
                }
            }
        }
    }

    // ---- the gate-gradient epilogues ----

    @Test
    void lstmEpilogueMatchesEquations() {
        for (int hidden : SIZES) {
            for (int rows : new int[] {1, 2, 5}) {
                checkLstmEpilogue(hidden, rows, false);
                checkLstmEpilogue(hidden, rows, true);
            }
        }
        checkLstmEpilogue(300, 3, true);
    }

    /**
     * PyTorch's LSTM backward per unit, in double from the same float inputs; activations drawn as
     * a forward pass leaves them ({@code σ ∈ (0, 1)}, {@code tanh g ∈ (−1, 1)}; padded lanes
     * {@code σ(0) = 0.5}, {@code tanh 0 = 0}, zero state and gradients).
     */
    private void checkLstmEpilogue(int hidden, int rows, boolean projection) {
        int blocks = WeightLayouts.ceilDiv(hidden, LANES);
        int padded = blocks * LANES;
        int gateWidth = GateBlocks.panelRowWidth(4 * blocks) + PANEL_WIDTH;
        int stateStride = padded + LANES;
        float[] act = new float[rows * gateWidth];
        float[] cPrev = new float[rows * stateStride];
        float[] dm = new float[rows * stateStride];
        float[] dc = new float[rows * stateStride];
        for (int r = 0; r < rows; r++) {
            for (int u = 0; u < padded; u++) {
                boolean real = u < hidden;
                for (int g = 0; g < 4; g++) {
                    float sigmoid = real ? (float) (0.02 + 0.96 * random.nextDouble()) : 0.5f;
                    act[r * gateWidth + position(4, g, u)] = g == 2 ? (real ? 0.98f * value() : 0f) : sigmoid;
                }
                cPrev[r * stateStride + u] = real ? 3 * value() : 0f;
                dm[r * stateStride + u] = real ? value() : 0f;
                dc[r * stateStride + u] = real ? value() : 0f;
            }
        }
        float[] dcBefore = dc.clone();
        float[] da = new float[rows * gateWidth];
        java.util.Arrays.fill(da, Float.NaN);
        float[] m = projection ? new float[rows * stateStride] : null;
        float[] scratch = new float[2 * rows * padded];
        GradientBlocks.lstmCellTanh(rows, blocks, act, 0, gateWidth, cPrev, 0, stateStride, scratch);
        GradientBlocks.lstmGateGradients(rows, blocks, act, 0, gateWidth, cPrev, 0, stateStride, scratch, dm, 0,
                stateStride, dc, 0, stateStride, da, 0, gateWidth, m, 0, stateStride);
        String where = "lstm epilogue H=" + hidden + " rows=" + rows + (projection ? " (projection)" : "");
        for (int r = 0; r < rows; r++) {
            for (int u = 0; u < padded; u++) {
                int a = r * gateWidth;
                int s = r * stateStride + u;
                double i = act[a + position(4, 0, u)];
                double f = act[a + position(4, 1, u)];
                double g = act[a + position(4, 2, u)];
                double o = act[a + position(4, 3, u)];
                double tau = Math.tanh(f * cPrev[s] + i * g);
                double cell = dcBefore[s] + dm[s] * o * (1 - tau * tau);
                double[] want = {cell * g * i * (1 - i), cell * cPrev[s] * f * (1 - f), cell * i * (1 - g * g),
                        dm[s] * tau * o * (1 - o)};
                double bound = 2e-6 * (1 + Math.abs(dm[s]) + Math.abs(dcBefore[s]));
                for (int gate = 0; gate < 4; gate++) {
                    float got = da[a + position(4, gate, u)];
                    if (u >= hidden) {
                        assertEquals(0f, got, where + ": padded lane " + u + " gate " + gate);
                    } else {
                        assertClose(want[gate], got, bound, where + " row " + r + " unit " + u + " gate " + gate);
                    }
                }
                if (u >= hidden) {
                    assertEquals(0f, dc[s], where + ": padded dc lane " + u);
                } else {
                    assertClose(cell * f, dc[s], bound, where + " dc row " + r + " unit " + u);
                }
                if (projection) {
                    if (u >= hidden) {
                        assertEquals(0f, m[s], where + ": padded m lane " + u);
                    } else {
                        assertClose(o * tau, m[s], 1e-6, where + " m row " + r + " unit " + u);
                    }
                }
            }
        }
    }

    @Test
    void gruEpilogueMatchesEquations() {
        for (int hidden : SIZES) {
            for (int rows : new int[] {1, 2, 5}) {
                checkGruEpilogue(hidden, rows);
            }
        }
        checkGruEpilogue(300, 3);
    }

    private void checkGruEpilogue(int hidden, int rows) {
        int blocks = WeightLayouts.ceilDiv(hidden, LANES);
        int padded = blocks * LANES;
        int gateWidth = GateBlocks.panelRowWidth(3 * blocks);
        int stateStride = padded + 2 * LANES;
        float[] act = new float[rows * gateWidth];
        float[] hn = new float[rows * stateStride];
        float[] hPrev = new float[rows * stateStride];
        float[] dh = new float[rows * stateStride];
        for (int r = 0; r < rows; r++) {
            for (int u = 0; u < padded; u++) {
                boolean real = u < hidden;
                act[r * gateWidth + position(3, 0, u)] = real ? (float) (0.02 + 0.96 * random.nextDouble()) : 0.5f;
                act[r * gateWidth + position(3, 1, u)] = real ? (float) (0.02 + 0.96 * random.nextDouble()) : 0.5f;
                act[r * gateWidth + position(3, 2, u)] = real ? 0.98f * value() : 0f;
                hn[r * stateStride + u] = real ? 3 * value() : 0f;
                hPrev[r * stateStride + u] = real ? value() : 0f;
                dh[r * stateStride + u] = real ? value() : 0f;
            }
        }
        float[] daInput = new float[rows * gateWidth];
        float[] daRecurrent = new float[rows * gateWidth];
        float[] dhPrev = new float[rows * stateStride];
        java.util.Arrays.fill(dhPrev, Float.NaN);
        GradientBlocks.gruGateGradients(rows, blocks, act, 0, gateWidth, hn, 0, stateStride, hPrev, 0, stateStride, dh, 0,
                stateStride, daInput, daRecurrent, 0, gateWidth, dhPrev, 0, stateStride);
        String where = "gru epilogue H=" + hidden + " rows=" + rows;
        for (int r = 0; r < rows; r++) {
            for (int u = 0; u < padded; u++) {
                int a = r * gateWidth;
                int s = r * stateStride + u;
                double reset = act[a + position(3, 0, u)];
                double update = act[a + position(3, 1, u)];
                double n = act[a + position(3, 2, u)];
                double an = dh[s] * (1 - update) * (1 - n * n);
                double az = dh[s] * (hPrev[s] - n) * update * (1 - update);
                double ar = an * hn[s] * reset * (1 - reset);
                double[] input = {ar, az, an};
                double[] recurrent = {ar, az, an * reset};
                double bound = 2e-6 * (1 + Math.abs(dh[s]) * (1 + Math.abs(hn[s]) + Math.abs(hPrev[s])));
                for (int gate = 0; gate < 3; gate++) {
                    float gotInput = daInput[a + position(3, gate, u)];
                    float gotRecurrent = daRecurrent[a + position(3, gate, u)];
                    if (u >= hidden) {
                        assertEquals(0f, gotInput, where + ": padded lane " + u);
                        assertEquals(0f, gotRecurrent, where + ": padded lane " + u);
                    } else {
                        assertClose(input[gate], gotInput, bound, where + " input side row " + r + " unit " + u + " gate " + gate);
                        assertClose(recurrent[gate], gotRecurrent, bound,
                                where + " recurrent side row " + r + " unit " + u + " gate " + gate);
                    }
                }
                if (u >= hidden) {
                    assertEquals(0f, dhPrev[s], where + ": padded dh_prev lane " + u);
                } else {
                    assertClose(dh[s] * update, dhPrev[s], 1e-6, where + " dh_prev row " + r + " unit " + u);
                }
            }
        }
    }

    // ---- helpers ----

    /** Index in a gate row {@code [units/V][G][V]} of gate {@code gate} of unit {@code u}. */
    private static int position(int gates, int gate, int u) {
        return (u / LANES * gates + gate) * LANES + u % LANES;
    }

    private static double gamma(int terms) {
        double n = terms * UNIT_ROUNDOFF;
        return n / (1 - n);
    }

    private static void assertClose(double want, float got, double bound, String where) {
        double allowed = bound + Math.ulp((float) want) / 2;
        assertTrue(Math.abs(got - want) <= allowed, () -> where + ": got " + got + ", want " + want + " (±" + allowed + ")");
    }

    private float value() {
        return (float) (random.nextDouble() * 2 - 1);
    }

    private float[] values(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = value();
        }
        return a;
    }
}
