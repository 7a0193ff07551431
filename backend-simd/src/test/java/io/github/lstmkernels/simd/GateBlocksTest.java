package io.github.lstmkernels.simd;

import static io.github.lstmkernels.simd.GateBlocks.LANES;
import static io.github.lstmkernels.simd.GateBlocks.PANEL_WIDTH;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.lstmkernels.spi.WeightLayouts;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * The micro-kernels of {@link GateBlocks} against plain-Java twins written here from their
 * definitions (in double), on awkward sizes: 1, 2, 3, V−1, V, V+1, primes, and a few hundred,
 * with row counts that exercise every tile mix of {@link GateBlocks#fiveRowTiles} and
 * {@link GateBlocks#sixRowTiles}.
 *
 * <p><b>Tolerances.</b> A product of K terms summed in float32 differs from the exact sum by at
 * most γ·Σ|terms| with γ = (K+1)·2⁻²⁴ / (1 − (K+1)·2⁻²⁴) (the classic bound for recursive
 * summation; FMA only tightens it). The GRU epilogue: sigmoid and tanh are within 2.4 and 1.3 ulp
 * (VectorMathTest), a handful of float operations follow, so |h' − exact| ≤ 1e-6·(1 + |h| + |hn|)
 * (|n|, σ ≤ 1). A misplaced term (b_hn outside the r-product, r and z swapped) is off by ~0.1.
 * Padded lanes must be exactly zero.
 */
class GateBlocksTest {
    private static final double UNIT_ROUNDOFF = 0x1p-24;
    private static final int[] SIZES = IntStream.of(1, 2, 3, LANES - 1, LANES, LANES + 1, 7, 13, 37)
            .filter(n -> n > 0).distinct().toArray();
    /** Every tile mix: panels 1, 1+1, 5, 6, 6+1, 4+4, 5+4, 5+6, 6+6, 5+4+4; GRU 1, 1+1, 4+1, 6, 6+1, 4+4, 4+4+1, 6+4+1, 6+6, 6+6+1. */
    private static final int[] ROWS = {1, 2, 5, 6, 7, 8, 9, 11, 12, 13};
    private static final int[][] LARGE = {{300, 257}, {257, 300}, {LANES * 16, 211}};

    private final SplittableRandom random = new SplittableRandom(20261127);

    // ---- the panel GEMM: W_ih (any gate count) and W_hr (the projection tile) ----

    @Test
    void projectionTileMatchesPlainProduct() {
        for (int units : SIZES) {
            for (int columns : SIZES) {
                for (int rows : ROWS) {
                    checkGemm(1, units, columns, rows);
                }
            }
        }
        for (int[] size : LARGE) {
            checkGemm(1, size[0], size[1], 1);
            checkGemm(1, size[0], size[1], 9);
        }
    }

    @Test
    void gemmOverGateRowsMatchesPlainProductForThreeAndFourGates() {
        for (int gates : new int[] {3, 4}) {
            for (int units : SIZES) {
                for (int columns : new int[] {1, 2, LANES + 1, 13}) {
                    checkGemm(gates, units, columns, 7);
                }
            }
            checkGemm(gates, 257, 300, 5);
        }
    }

    /**
     * {@code out = init + in · Wᵀ} for a gate-stacked {@code W [G·units, columns]}, the output in the
     * gate-row layout; {@code in} rows padded like the kernel's state rows.
     */
    private void checkGemm(int gates, int units, int columns, int rows) {
        float[] w = values(gates * units * columns);
        int inStride = columns + 3;
        float[] in = values(rows * inStride);
        int vectors = WeightLayouts.ceilDiv(units, LANES) * gates;
        int outStride = GateBlocks.panelRowWidth(vectors);
        float[] out = new float[rows * outStride];
        float[] init = new float[gates * units];
        if (gates > 1) {
            // Start from a bias, as the input projection does.
            init = values(gates * units);
            float[] bias = GateBlocks.packGateRow(init, gates, units);
            for (int r = 0; r < rows; r++) {
                System.arraycopy(bias, 0, out, r * outStride, outStride);
            }
        }
        float[] packed = GateBlocks.packPanels(MemorySegment.ofArray(w), gates, units, columns);
        GateBlocks.gemm(packed, outStride / PANEL_WIDTH, columns, in, inStride, rows, out, outStride);
        String where = "gemm G=" + gates + " units=" + units + " K=" + columns + " rows=" + rows;
        for (int r = 0; r < rows; r++) {
            for (int gate = 0; gate < gates; gate++) {
                for (int u = 0; u < units; u++) {
                    double sum = init[gate * units + u];
                    double magnitude = Math.abs(sum);
                    for (int k = 0; k < columns; k++) {
                        double term = (double) w[(gate * units + u) * columns + k] * in[r * inStride + k];
                        sum += term;
                        magnitude += Math.abs(term);
                    }
                    float got = out[r * outStride + gateRowIndex(gates, gate, u)];
                    assertClose(sum, got, gamma(columns + 1) * magnitude, where + " row " + r + " gate " + gate + " unit " + u);
                }
            }
            assertPaddingZero(out, r * outStride, outStride, gates, units, where);
        }
    }

    // ---- the GRU's three-gate recurrent tile ----

    @Test
    void gruRecurrentTileMatchesPlainProduct() {
        for (int hidden : SIZES) {
            for (int rows : ROWS) {
                checkGruTile(hidden, rows);
            }
        }
        checkGruTile(300, 1);
        checkGruTile(257, 9);
    }

    /** r, z += W_h{r,z} h on the gate rows; hn = b_hn + W_hn h apart; the n slot (input sum) untouched. */
    private void checkGruTile(int hidden, int rows) {
        float[] w = values(3 * hidden * hidden);
        float[] bhn = values(hidden);
        int blocks = WeightLayouts.ceilDiv(hidden, LANES);
        int padded = blocks * LANES;
        int gateWidth = GateBlocks.panelRowWidth(3 * blocks);
        float[] h = new float[rows * padded];
        float[] gates = new float[rows * gateWidth];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(values(hidden), 0, h, r * padded, hidden);
            System.arraycopy(GateBlocks.packGateRow(values(3 * hidden), 3, hidden), 0, gates, r * gateWidth, gateWidth);
        }
        float[] before = gates.clone();
        float[] hn = new float[rows * padded];
        float[] packed = WeightLayouts.packGateBlocks(MemorySegment.ofArray(w), 3, hidden, hidden, LANES);
        float[] bias = java.util.Arrays.copyOf(bhn, padded);
        for (int block = 0; block < blocks; block++) {
            GateBlocks.gruRows(packed, block * hidden * 3 * LANES, hidden, h, 0, padded, rows, gates,
                    block * 3 * LANES, gateWidth, bias, block * LANES, hn, block * LANES, padded);
        }
        String where = "gru tile H=" + hidden + " rows=" + rows;
        for (int r = 0; r < rows; r++) {
            for (int u = 0; u < hidden; u++) {
                for (int gate = 0; gate < 3; gate++) {
                    int at = r * gateWidth + gateRowIndex(3, gate, u);
                    double sum = gate == 2 ? bhn[u] : before[at];
                    double magnitude = Math.abs(sum);
                    for (int k = 0; k < hidden; k++) {
                        double term = (double) w[(gate * hidden + u) * hidden + k] * h[r * padded + k];
                        sum += term;
                        magnitude += Math.abs(term);
                    }
                    float got = gate == 2 ? hn[r * padded + u] : gates[at];
                    assertClose(sum, got, gamma(hidden + 1) * magnitude, where + " row " + r + " gate " + gate + " unit " + u);
                    if (gate == 2) {
                        assertEquals(before[at], gates[at], where + ": the n gate's input sum must stay apart");
                    }
                }
            }
            for (int u = hidden; u < padded; u++) {
                assertEquals(0f, hn[r * padded + u], where + " padded hn");
            }
            assertPaddingZero(gates, r * gateWidth, gateWidth, 3, hidden, where);
        }
    }

    // ---- the GRU epilogue ----

    @Test
    void gruEpilogueMatchesEquations() {
        for (int hidden : SIZES) {
            for (int rows : ROWS) {
                checkGruCells(hidden, rows, false);
            }
            checkGruCells(hidden, 1, true);
        }
        checkGruCells(300, 9, false);
        checkGruCells(300, 1, true);
    }

    /**
     * {@code n = tanh(n_x + σ(r)·hn)}, {@code h' = (1 − σ(z))·n + σ(z)·h} for every block, per block
     * over all rows as the kernel does at batch > 1, or (batch 1) over a lone row's blocks laid out
     * like rows. Pre-activations reach ±12, so both sides of every activation's branches are used.
     */
    private void checkGruCells(int hidden, int rows, boolean blocksAsRows) {
        int blocks = WeightLayouts.ceilDiv(hidden, LANES);
        int padded = blocks * LANES;
        int gateWidth = GateBlocks.panelRowWidth(3 * blocks);
        float[] gates = new float[rows * gateWidth];
        float[] hn = new float[rows * padded];
        float[] h = new float[rows * padded];
        for (int r = 0; r < rows; r++) {
            float[] pre = values(3 * hidden);
            for (int i = 0; i < pre.length; i++) {
                pre[i] *= 12f;
            }
            System.arraycopy(GateBlocks.packGateRow(pre, 3, hidden), 0, gates, r * gateWidth, gateWidth);
            float[] sums = values(hidden);
            float[] state = values(hidden);
            for (int u = 0; u < hidden; u++) {
                hn[r * padded + u] = 4f * sums[u];
                h[r * padded + u] = 2f * state[u];
            }
        }
        float[] original = gates.clone();
        float[] hNext = new float[rows * padded];
        java.util.Arrays.fill(hNext, Float.NaN);
        float[] scratch = new float[3 * Math.max(rows * LANES, padded)];
        if (blocksAsRows) {
            GateBlocks.gruCells(gates, 0, 3 * LANES, blocks, hn, h, hNext, 0, LANES, scratch);
        } else {
            for (int block = 0; block < blocks; block++) {
                GateBlocks.gruCells(gates, block * 3 * LANES, gateWidth, rows, hn, h, hNext, block * LANES, padded,
                        scratch);
            }
        }
        String where = "gru cells H=" + hidden + " rows=" + rows + (blocksAsRows ? " (batch-1 layout)" : "");
        for (int r = 0; r < rows; r++) {
            for (int u = 0; u < padded; u++) {
                int g = r * gateWidth + gateRowIndex(3, 0, u);
                int s = r * padded + u;
                double reset = sigmoid(original[g]);
                double update = sigmoid(original[g + LANES]);
                double candidate = Math.tanh(original[g + 2 * LANES] + reset * hn[s]);
                double want = (1 - update) * candidate + update * h[s];
                if (u >= hidden) {
                    assertEquals(0f, hNext[s], where + " padded lane " + u);
                } else {
                    assertClose(want, hNext[s], 1e-6 * (1 + Math.abs(h[s]) + Math.abs(hn[s])), where + " row " + r + " unit " + u);
                }
            }
        }
    }

    // ---- helpers ----

    /** Index in a gate row {@code [units/V][G][V]} of gate {@code gate} of unit {@code u}. */
    private static int gateRowIndex(int gates, int gate, int u) {
        return (u / LANES * gates + gate) * LANES + u % LANES;
    }

    /** Every slot of a gate row that is no (gate, unit < units) pair, including the panel tail, is 0. */
    private static void assertPaddingZero(float[] row, int from, int width, int gates, int units, String where) {
        boolean[] used = new boolean[width];
        for (int gate = 0; gate < gates; gate++) {
            for (int u = 0; u < units; u++) {
                used[gateRowIndex(gates, gate, u)] = true;
            }
        }
        for (int i = 0; i < width; i++) {
            if (!used[i] && row[from + i] != 0f) {
                fail(where + ": padded slot " + i + " holds " + row[from + i]);
            }
        }
    }

    private static double gamma(int terms) {
        double n = terms * UNIT_ROUNDOFF;
        return n / (1 - n);
    }

    private static void assertClose(double want, float got, double bound, String where) {
        // + half an ulp of the float the result is stored in.
        double allowed = bound + Math.ulp((float) want) / 2;
        assertTrue(Math.abs(got - want) <= allowed, () -> where + ": got " + got + ", want " + want + " (±" + allowed + ")");
    }

    private static double sigmoid(double v) {
        return 1 / (1 + Math.exp(-v));
    }

    private float[] values(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return a;
    }
}
