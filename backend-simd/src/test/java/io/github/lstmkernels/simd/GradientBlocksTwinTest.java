package io.github.lstmkernels.simd;

import static io.github.lstmkernels.simd.Twins.LANES;
import static io.github.lstmkernels.simd.Twins.PANEL_WIDTH;
import static io.github.lstmkernels.simd.Twins.ROWS;
import static io.github.lstmkernels.simd.Twins.SMALL;
import static io.github.lstmkernels.simd.Twins.WITH_THOUSANDS;
import static io.github.lstmkernels.simd.Twins.assertClose;
import static io.github.lstmkernels.simd.Twins.assertSameBits;
import static io.github.lstmkernels.simd.Twins.assertUnchanged;
import static io.github.lstmkernels.simd.Twins.assertUntouched;
import static io.github.lstmkernels.simd.Twins.gamma;
import static io.github.lstmkernels.simd.Twins.mark;
import static io.github.lstmkernels.simd.Twins.sentinels;
import static io.github.lstmkernels.simd.Twins.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Every backward micro-kernel of {@link GradientBlocks}, called directly, against a plain-Java twin
 * written here (in double, or in float where the kernel's contract is "exactly as the forward
 * computes it"), on awkward sizes ({@link Twins#SMALL}, thousands), rows 1..13, non-zero offsets
 * and strides wider than the data; nothing outside the outputs may change.
 *
 * <p><b>Tolerances</b> (see {@link Twins}): sums of n products within γ(n + 1)·Σ|terms|; each
 * epilogue output, an expression of at most 9 float operations, within γ(10) of its running error
 * bound (the same expression on absolute values, differences as sums), so cancellation in
 * {@code 1 − τ²} or {@code h − n} is judged against the operands' size; tanh within
 * {@value Twins#TANH_ULPS} ulp. ±∞ and NaN in the incoming gradients must propagate as IEEE
 * arithmetic in double does; padded lanes (σ = 0.5, tanh = 0, zero state and gradients) must give
 * exactly +0.
 */
class GradientBlocksTwinTest {
    private final SplittableRandom random = new SplittableRandom(0x6A4D_2026L);

    // ---- products through transposed weights ----

    @Test
    void transposedProductMatchesItsTwinForRowsOneToThirteen() {
        for (int rows : ROWS) {
            for (int positions : WITH_THOUSANDS) {
                int panels = 1 + (rows + positions) % 2;
                checkTransposed(panels, 0, panels, positions, rows);
            }
        }
    }

    /** The split form (panels [p0, p1) only, as the kernel's workers call it): only those panels change. */
    @Test
    void transposedProductOverAPanelRangeMatchesItsTwin() {
        for (int positions : new int[] {1, LANES + 1, 61, 1000}) {
            for (int rows : new int[] {1, 4, 9, 13}) {
                checkTransposed(4, 1, 3, positions, rows);
                checkTransposed(3, 2, 3, positions, rows);
                checkTransposed(3, 0, 1, positions, rows);
            }
        }
    }

    /** out[out0 + r·oS + p·4V + q] += Σ_c in[in0 + r·iS + c] · wT[(p·C + c)·4V + q], p0 ≤ p < p1. */
    private void checkTransposed(int panels, int p0, int p1, int positions, int rows) {
        float[] wT = values(random, panels * positions * PANEL_WIDTH);
        int in0 = 1 + random.nextInt(7);
        int inStride = positions + 1 + random.nextInt(5);
        float[] in = values(random, in0 + rows * inStride + 2);
        int out0 = 1 + random.nextInt(LANES + 2);
        int outStride = panels * PANEL_WIDTH + 1 + random.nextInt(LANES);
        float[] out = values(random, out0 + rows * outStride + 3);
        float[] outBefore = out.clone();
        float[] wBefore = wT.clone();
        float[] inBefore = in.clone();
        if (p0 == 0 && p1 == panels) {
            GradientBlocks.transposedProduct(wT, panels, positions, in, in0, inStride, rows, out, out0, outStride);
        } else {
            GradientBlocks.transposedProduct(wT, p0, p1, positions, in, in0, inStride, rows, out, out0, outStride);
        }
        String where = "transposedProduct panels=" + panels + " [" + p0 + ", " + p1 + ") C=" + positions + " rows=" + rows + " (V=" + LANES
                + ", in0=" + in0 + "/" + inStride + ", out0=" + out0 + "/" + outStride + ")";
        for (int r = 0; r < rows; r++) {
            for (int n = p0 * PANEL_WIDTH; n < p1 * PANEL_WIDTH; n++) {
                int at = out0 + r * outStride + n;
                double sum = outBefore[at];
                double magnitude = Math.abs(sum);
                for (int c = 0; c < positions; c++) {
                    double term = (double) in[in0 + r * inStride + c] * wT[(n / PANEL_WIDTH * positions + c) * PANEL_WIDTH
                            + n % PANEL_WIDTH];
                    sum += term;
                    magnitude += Math.abs(term);
                }
                assertClose(sum, out[at], gamma(positions + 1) * magnitude, where + " row " + r + " k " + n);
            }
        }
        boolean[] written = new boolean[out.length];
        mark(written, out0 + p0 * PANEL_WIDTH, outStride, rows, (p1 - p0) * PANEL_WIDTH);
        assertUntouched(outBefore, out, written, where + " out");
        assertUnchanged(wBefore, wT, where + " weights");
        assertUnchanged(inBefore, in, where + " in");
    }

    @Test
    void packTransposedFollowsItsLayoutFormula() {
        for (int columns : SMALL) {
            for (int positions : new int[] {1, 5, LANES + 1}) {
                float[][] w = new float[positions][];
                for (int c = 0; c < positions; c++) {
                    w[c] = values(random, columns);
                }
                float[] packed = GradientBlocks.packTransposed((c, k) -> w[c][k], positions, columns);
                int panels = GateBlocks.panelRowWidth(GradientBlocks.ceilDiv(columns, LANES)) / PANEL_WIDTH;
                float[] want = new float[panels * positions * PANEL_WIDTH];
                for (int p = 0; p < panels; p++) {
                    for (int c = 0; c < positions; c++) {
                        for (int q = 0; q < PANEL_WIDTH; q++) {
                            int k = p * PANEL_WIDTH + q;
                            want[(p * positions + c) * PANEL_WIDTH + q] = k < columns ? w[c][k] : 0f;
                        }
                    }
                }
                assertArrayEquals(want, packed, "packTransposed C=" + positions + " K=" + columns);
            }
        }
    }

    /**
     * A call split by panels, the parts in any order, gives the whole call's bits: each output sums
     * its terms in the same order whichever part computes it (the thread-count determinism the
     * kernel's workers rely on).
     */
    @Test
    void panelSplitsGiveTheWholeCallsBits() {
        for (int panels : new int[] {2, 3, 5}) {
            for (int rows : new int[] {1, 6, 9}) {
                int positions = 1 + random.nextInt(300);
                float[] wT = values(random, panels * positions * PANEL_WIDTH);
                float[] in = values(random, rows * (positions + 2) + 1);
                int outStride = panels * PANEL_WIDTH + 1;
                float[] whole = values(random, rows * outStride + 3);
                float[] split = whole.clone();
                GradientBlocks.transposedProduct(wT, panels, positions, in, 1, positions + 2, rows, whole, 2, outStride);
                int cut = 1 + random.nextInt(panels - 1);
                GradientBlocks.transposedProduct(wT, cut, panels, positions, in, 1, positions + 2, rows, split, 2, outStride);
                GradientBlocks.transposedProduct(wT, 0, cut, positions, in, 1, positions + 2, rows, split, 2, outStride);
                assertArrayEquals(whole, split, "transposedProduct split at panel " + cut + " of " + panels);

                int columns = 1 + random.nextInt(13);
                int count = 1 + random.nextInt(2 * GradientBlocks.CHUNK);
                float[] s = values(random, count * (columns + 1) + 2);
                float[] v = values(random, count * (panels * PANEL_WIDTH + 3) + 1);
                float[] outWhole = values(random, columns * outStride);
                float[] outSplit = outWhole.clone();
                GradientBlocks.outerProduct(s, 2, columns + 1, columns, v, 1, panels * PANEL_WIDTH + 3, panels, count, outWhole,
                        outStride);
                for (int p = panels - 1; p >= 0; p--) {
                    GradientBlocks.outerProduct(s, 2, columns + 1, columns, v, 1, panels * PANEL_WIDTH + 3, p, p + 1, count,
                            outSplit, outStride);
                }
                assertArrayEquals(outWhole, outSplit, "outerProduct split into single panels, K=" + columns + " rows=" + count);
            }
        }
    }

    // ---- the outer-product tiles ----

    @FunctionalInterface
    private interface OuterTile {
        void run(float[] s, int s0, int sStride, float[] v, int v0, int vStride, int count, float[] out, int out0,
                 int outStride);
    }

    @Test
    void eachOuterTileMatchesItsTwin() {
        OuterTile one = (s, s0, sStride, v, v0, vStride, count, out, out0, outStride) ->
                GradientBlocks.outer1(s, s0, sStride, v, v0, vStride, count, out, out0);
        for (int count : WITH_THOUSANDS) {
            checkOuterTile("outer6", GradientBlocks::outer6, 6, count);
            checkOuterTile("outer4", GradientBlocks::outer4, 4, count);
            checkOuterTile("outer1", one, 1, count);
        }
    }

    /** out[out0 + j·oS + q] += Σ_r s[s0 + r·sS + j] · v[v0 + r·vS + q], j < height, q < 4V. */
    private void checkOuterTile(String name, OuterTile tile, int height, int count) {
        int s0 = 1 + random.nextInt(5);
        int sStride = height + 1 + random.nextInt(4);
        float[] s = values(random, s0 + count * sStride + 3);
        int v0 = 1 + random.nextInt(LANES + 3);
        int vStride = PANEL_WIDTH + 1 + random.nextInt(LANES);
        float[] v = values(random, v0 + count * vStride + 5);
        int out0 = 1 + random.nextInt(LANES);
        int outStride = PANEL_WIDTH + 1 + random.nextInt(LANES);
        float[] out = values(random, out0 + height * outStride + 2);
        float[] outBefore = out.clone();
        float[] sBefore = s.clone();
        float[] vBefore = v.clone();
        tile.run(s, s0, sStride, v, v0, vStride, count, out, out0, outStride);
        String where = name + " rows=" + count + " (V=" + LANES + ", s0=" + s0 + "/" + sStride + ", v0=" + v0 + "/"
                + vStride + ", out0=" + out0 + "/" + outStride + ")";
        for (int j = 0; j < height; j++) {
            for (int q = 0; q < PANEL_WIDTH; q++) {
                int at = out0 + j * outStride + q;
                double sum = outBefore[at];
                double magnitude = Math.abs(sum);
                for (int r = 0; r < count; r++) {
                    double term = (double) s[s0 + r * sStride + j] * v[v0 + r * vStride + q];
                    sum += term;
                    magnitude += Math.abs(term);
                }
                assertClose(sum, out[at], gamma(count + 1) * magnitude, where + " j " + j + " q " + q);
            }
        }
        boolean[] written = new boolean[out.length];
        mark(written, out0, outStride, height, PANEL_WIDTH);
        assertUntouched(outBefore, out, written, where + " out");
        assertUnchanged(sBefore, s, where + " s");
        assertUnchanged(vBefore, v, where + " v");
    }

    @Test
    void outerProductMatchesItsTwinForColumnsOneToThirteen() {
        for (int columns : ROWS) {
            for (int count : new int[] {1, 2, 3, LANES + 1, 61}) {
                int panels = 1 + random.nextInt(2);
                checkOuterProduct(columns, panels, 0, panels, count);
            }
        }
        for (int columns : new int[] {1, 8, 9, 13}) {
            for (int count : new int[] {GradientBlocks.CHUNK - 1, GradientBlocks.CHUNK + 1, 1000, 2999}) {
                int panels = 1 + random.nextInt(2);
                checkOuterProduct(columns, panels, 0, panels, count);
            }
        }
    }

    /** The split form (panels [p0, p1) only): only those panels change, across chunks. */
    @Test
    void outerProductOverAPanelRangeMatchesItsTwin() {
        for (int columns : new int[] {1, 5, 9, 13}) {
            for (int count : new int[] {1, 7, GradientBlocks.CHUNK + 1}) {
                checkOuterProduct(columns, 4, 1, 3, count);
                checkOuterProduct(columns, 3, 2, 3, count);
                checkOuterProduct(columns, 3, 0, 1, count);
            }
        }
    }

    /** out[k·oS + n] += Σ_r s[s0 + r·sS + k] · v[v0 + r·vS + n], k < columns, p0·4V ≤ n < p1·4V. */
    private void checkOuterProduct(int columns, int panels, int p0, int p1, int count) {
        int s0 = 1 + random.nextInt(5);
        int sStride = columns + 1 + random.nextInt(3);
        float[] s = values(random, s0 + count * sStride + 1);
        int v0 = 1 + random.nextInt(LANES);
        int vStride = panels * PANEL_WIDTH + 1 + random.nextInt(LANES);
        float[] v = values(random, v0 + count * vStride + 2);
        int outStride = panels * PANEL_WIDTH + 1 + random.nextInt(LANES);
        float[] out = values(random, columns * outStride + 3);
        float[] outBefore = out.clone();
        if (p0 == 0 && p1 == panels) {
            GradientBlocks.outerProduct(s, s0, sStride, columns, v, v0, vStride, panels, count, out, outStride);
        } else {
            GradientBlocks.outerProduct(s, s0, sStride, columns, v, v0, vStride, p0, p1, count, out, outStride);
        }
        String where = "outerProduct K=" + columns + " panels=" + panels + " [" + p0 + ", " + p1 + ")" + " rows=" + count + " (V=" + LANES + ", s0="
                + s0 + "/" + sStride + ", v0=" + v0 + "/" + vStride + ", out stride " + outStride + ")";
        for (int k = 0; k < columns; k++) {
            for (int n = p0 * PANEL_WIDTH; n < p1 * PANEL_WIDTH; n++) {
                int at = k * outStride + n;
                double sum = outBefore[at];
                double magnitude = Math.abs(sum);
                for (int r = 0; r < count; r++) {
                    double term = (double) s[s0 + r * sStride + k] * v[v0 + r * vStride + n];
                    sum += term;
                    magnitude += Math.abs(term);
                }
                assertClose(sum, out[at], gamma(count + 1) * magnitude, where + " k " + k + " n " + n);
            }
        }
        boolean[] written = new boolean[out.length];
        mark(written, p0 * PANEL_WIDTH, outStride, columns, (p1 - p0) * PANEL_WIDTH);
        assertUntouched(outBefore, out, written, where + " out");
    }

    @Test
    void columnSumsMatchTheirTwin() {
        for (int count : WITH_THOUSANDS) {
            for (int width : new int[] {LANES, 2 * LANES, 3 * LANES, 12 * LANES}) {
                int v0 = 1 + random.nextInt(LANES + 2);
                int vStride = width + 1 + random.nextInt(LANES);
                float[] v = values(random, v0 + count * vStride + 3);
                float[] out = values(random, width + LANES + 1);
                float[] before = out.clone();
                GradientBlocks.columnSums(v, v0, vStride, width, count, out);
                String where = "columnSums rows=" + count + " width=" + width + " (v0=" + v0 + "/" + vStride + ")";
                for (int n = 0; n < width; n++) {
                    double sum = before[n];
                    double magnitude = Math.abs(sum);
                    for (int r = 0; r < count; r++) {
                        sum += v[v0 + r * vStride + n];
                        magnitude += Math.abs(v[v0 + r * vStride + n]);
                    }
                    assertClose(sum, out[n], gamma(count + 1) * magnitude, where + " n " + n);
                }
                boolean[] written = new boolean[out.length];
                mark(written, 0, width, 1, width);
                assertUntouched(before, out, written, where);
            }
        }
    }

    // ---- the LSTM epilogue ----

    /** An activation σ ∈ [0, 1] as the forward leaves it, the ends and 0.5 included. */
    private float sigmoidActivation() {
        return switch (random.nextInt(8)) {
            case 0 -> 0f;
            case 1 -> 1f;
            case 2 -> 0.5f;
            default -> (float) random.nextDouble();
        };
    }

    /** tanh ∈ [−1, 1], the ends and ±0 included. */
    private float tanhActivation() {
        return switch (random.nextInt(8)) {
            case 0 -> 0f;
            case 1 -> -0f;
            case 2 -> random.nextBoolean() ? 1f : -1f;
            default -> (float) (random.nextDouble() * 2 - 1);
        };
    }

    /** An incoming gradient: mostly O(1), sometimes ±0, huge, ±∞ or NaN. */
    private float gradient() {
        return switch (random.nextInt(24)) {
            case 0 -> 0f;
            case 1 -> -0f;
            case 2 -> random.nextBoolean() ? 1e30f : -1e30f;
            case 3 -> random.nextBoolean() ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
            case 4 -> Float.NaN;
            default -> (float) ((random.nextDouble() * 2 - 1) * 3);
        };
    }

    @Test
    void lstmCellTanhMatchesItsTwin() {
        for (int rows : ROWS) {
            for (int blocks = 1; blocks <= 3; blocks++) {
                checkCellTanh(rows, blocks);
            }
        }
    }

    /**
     * τ = tanh(f·c + i·g) with c' computed in float exactly as the forward does (two products, one
     * sum, no FMA: the contract is bitwise "as the forward cell"), tanh within 2 ulp of Math.tanh
     * of that float. c ranges over every branch of tanh, ±0, ±1e30, ±∞, NaN.
     */
    private void checkCellTanh(int rows, int blocks) {
        int act0 = 1 + random.nextInt(LANES);
        int actStride = 4 * LANES * blocks + random.nextInt(LANES + 1);
        int c0 = 1 + random.nextInt(3);
        int cStride = LANES * blocks + random.nextInt(3);
        float[] act = sentinels(random, act0 + rows * actStride + 2);
        float[] cPrev = sentinels(random, c0 + rows * cStride + 2);
        for (int r = 0; r < rows; r++) {
            for (int u = 0; u < blocks * LANES; u++) {
                int a = act0 + r * actStride + u / LANES * 4 * LANES + u % LANES;
                act[a] = sigmoidActivation();
                act[a + LANES] = sigmoidActivation();
                act[a + 2 * LANES] = tanhActivation();
                act[a + 3 * LANES] = sigmoidActivation();
                cPrev[c0 + r * cStride + u] = random.nextInt(6) == 0
                        ? GateBlocksTwinTest.SPECIAL[random.nextInt(GateBlocksTwinTest.SPECIAL.length)]
                        : (float) ((random.nextDouble() * 2 - 1) * (random.nextBoolean() ? 0.7 : 6));
            }
        }
        float[] actBefore = act.clone();
        float[] cBefore = cPrev.clone();
        float[] scratch = new float[2 * rows * blocks * LANES];
        GradientBlocks.lstmCellTanh(rows, blocks, act, act0, actStride, cPrev, c0, cStride, scratch);
        String where = "lstmCellTanh rows=" + rows + " blocks=" + blocks + " (V=" + LANES + ", act0=" + act0 + "/"
                + actStride + ", c0=" + c0 + "/" + cStride + ")";
        for (int r = 0; r < rows; r++) {
            for (int u = 0; u < blocks * LANES; u++) {
                int a = act0 + r * actStride + u / LANES * 4 * LANES + u % LANES;
                float cell = act[a + LANES] * cPrev[c0 + r * cStride + u] + act[a] * act[a + 2 * LANES];
                GateBlocksTwinTest.checkTanh(cell, scratch[(r * blocks + u / LANES) * LANES + u % LANES],
                        where + " row " + r + " unit " + u + " (c' = " + cell + ")");
            }
        }
        assertUnchanged(actBefore, act, where + " act");
        assertUnchanged(cBefore, cPrev, where + " c");
    }

    @Test
    void lstmGateGradientsMatchTheirTwin() {
        for (int rows : ROWS) {
            for (int blocks = 1; blocks <= 3; blocks++) {
                for (int pad : Twins.distinct(LANES, 1, LANES - 1)) {
                    checkLstmGradients(rows, blocks, pad % LANES, (rows + blocks + pad) % 2 == 0);
                }
            }
        }
    }

    /**
     * PyTorch's LSTM BPTT (see {@link GradientBlocks#lstmGateGradients}) in double from the same
     * floats, with τ given (its tanh is {@link #lstmCellTanhMatchesItsTwin}'s concern). The last
     * {@code pad} lanes of the last block are padding: σ = 0.5, tanh = 0, τ = 0, zero state and
     * gradients.
     */
    private void checkLstmGradients(int rows, int blocks, int pad, boolean projection) {
        int units = blocks * LANES;
        int act0 = 1 + random.nextInt(LANES);
        int actStride = 4 * units + 1 + random.nextInt(LANES);
        int c0 = 1 + random.nextInt(3);
        int cStride = units + 1 + random.nextInt(3);
        int dm0 = 2 + random.nextInt(3);
        int dmStride = units + random.nextInt(4);
        int dc0 = 1 + random.nextInt(3);
        int dcStride = units + 2 + random.nextInt(3);
        int da0 = 3 + random.nextInt(LANES);
        int daStride = 4 * units + 2 + random.nextInt(LANES);
        int m0 = 1 + random.nextInt(2);
        int mStride = units + 3;
        float[] act = sentinels(random, act0 + rows * actStride + 1);
        float[] cPrev = sentinels(random, c0 + rows * cStride + 1);
        float[] tau = new float[rows * units];
        float[] dm = sentinels(random, dm0 + rows * dmStride + 1);
        float[] dc = sentinels(random, dc0 + rows * dcStride + 1);
        float[] da = sentinels(random, da0 + rows * daStride + 2);
        float[] m = projection ? sentinels(random, m0 + rows * mStride + 2) : null;
        for (int r = 0; r < rows; r++) {
            for (int u = 0; u < units; u++) {
                int a = act0 + r * actStride + u / LANES * 4 * LANES + u % LANES;
                boolean padded = u >= units - pad;
                act[a] = padded ? 0.5f : sigmoidActivation();
                act[a + LANES] = padded ? 0.5f : sigmoidActivation();
                act[a + 2 * LANES] = padded ? 0f : tanhActivation();
                act[a + 3 * LANES] = padded ? 0.5f : sigmoidActivation();
                tau[r * units + u] = padded ? 0f : tanhActivation();
                cPrev[c0 + r * cStride + u] = padded ? 0f : (float) ((random.nextDouble() * 2 - 1) * 5);
                dm[dm0 + r * dmStride + u] = padded ? 0f : gradient();
                dc[dc0 + r * dcStride + u] = padded ? 0f : gradient();
            }
        }
        float[][] before = {act.clone(), cPrev.clone(), tau.clone(), dm.clone(), dc.clone(), da.clone(),
                projection ? m.clone() : null};
        GradientBlocks.lstmGateGradients(rows, blocks, act, act0, actStride, cPrev, c0, cStride, tau, dm, dm0, dmStride,
                dc, dc0, dcStride, da, da0, daStride, m, m0, mStride);
        String where = "lstmGateGradients rows=" + rows + " blocks=" + blocks + " pad=" + pad
                + (projection ? " (projection)" : "") + " (V=" + LANES + ")";
        double bound = gamma(10);
        for (int r = 0; r < rows; r++) {
            for (int u = 0; u < units; u++) {
                int a = act0 + r * actStride + u / LANES * 4 * LANES + u % LANES;
                int d = da0 + r * daStride + u / LANES * 4 * LANES + u % LANES;
                double i = act[a];
                double f = act[a + LANES];
                double g = act[a + 2 * LANES];
                double o = act[a + 3 * LANES];
                double t = tau[r * units + u];
                double c = cPrev[c0 + r * cStride + u];
                double gm = dm[dm0 + r * dmStride + u];
                double gc = before[4][dc0 + r * dcStride + u];
                String at = where + " row " + r + " unit " + u + " (i " + i + ", f " + f + ", g " + g + ", o " + o
                        + ", τ " + t + ", c " + c + ", dm " + gm + ", dc " + gc + ")";
                double cell = gm * o * (1 - t * t) + gc;
                double cellMag = Math.abs(gm * o) * (1 + t * t) + Math.abs(gc);
                double[] want = {cell * g * (i * (1 - i)), cell * c * (f * (1 - f)), cell * i * (1 - g * g),
                        gm * t * (o * (1 - o)), cell * f};
                double[] magnitude = {cellMag * Math.abs(g) * i * (1 + i), cellMag * Math.abs(c) * f * (1 + f),
                        cellMag * i * (1 + g * g), Math.abs(gm * t) * o * (1 + o), cellMag * f};
                float[] got = {da[d], da[d + LANES], da[d + 2 * LANES], da[d + 3 * LANES],
                        dc[dc0 + r * dcStride + u]};
                String[] names = {"da_i", "da_f", "da_g", "da_o", "dc"};
                for (int q = 0; q < 5; q++) {
                    if (u >= units - pad) {
                        assertSameBits(0f, got[q], at + ": padded " + names[q]);
                    } else {
                        assertClose(want[q], got[q], bound * magnitude[q], at + ": " + names[q]);
                    }
                }
                if (projection) {
                    assertClose(o * t, m[m0 + r * mStride + u], 0, at + ": m = o·τ");
                    if (u >= units - pad) {
                        assertSameBits(0f, m[m0 + r * mStride + u], at + ": padded m");
                    }
                }
            }
        }
        boolean[] daWritten = new boolean[da.length];
        mark(daWritten, da0, daStride, rows, 4 * units);
        assertUntouched(before[5], da, daWritten, where + " da");
        boolean[] dcWritten = new boolean[dc.length];
        mark(dcWritten, dc0, dcStride, rows, units);
        assertUntouched(before[4], dc, dcWritten, where + " dc");
        if (projection) {
            boolean[] mWritten = new boolean[m.length];
            mark(mWritten, m0, mStride, rows, units);
            assertUntouched(before[6], m, mWritten, where + " m");
        }
        assertUnchanged(before[0], act, where + " act");
        assertUnchanged(before[1], cPrev, where + " c");
        assertUnchanged(before[2], tau, where + " τ");
        assertUnchanged(before[3], dm, where + " dm");
    }

    /**
     * The backward's τ is the forward's tanh(c'), to the bit: {@link GradientBlocks#lstmCellTanh}
     * (which calls {@code VectorMath.tanhInPlace}) recomputes c' from the activations
     * {@link GateBlocks#cells} left and must reproduce c' exactly and then o·τ = h exactly, although
     * the forward runs its own inlined tanh. A drift between the two tanh copies shows here even
     * when both stay within their ulp bounds.
     */
    @Test
    void backwardRecomputesTheForwardCellBitForBit() {
        for (int rows : new int[] {1, 2, 5, 13}) {
            for (int repeat = 0; repeat < 20; repeat++) {
                int gateStride = 4 * LANES;
                float[] gates = new float[rows * gateStride];
                float[] c = new float[rows * LANES];
                for (int k = 0; k < gates.length; k++) {
                    gates[k] = random.nextInt(10) == 0
                            ? GateBlocksTwinTest.SPECIAL[random.nextInt(GateBlocksTwinTest.SPECIAL.length)]
                            : (float) ((random.nextDouble() * 2 - 1) * (random.nextBoolean() ? 0.7 : 8));
                }
                for (int k = 0; k < c.length; k++) {
                    c[k] = (float) ((random.nextDouble() * 2 - 1) * (random.nextBoolean() ? 0.7 : 4));
                }
                float[] cPrev = c.clone();
                float[] h = new float[rows * LANES];
                GateBlocks.cells(gates, 0, gateStride, rows, c, h, 0, LANES, new float[3 * LANES * rows]);
                float[] scratch = new float[2 * rows * LANES];
                GradientBlocks.lstmCellTanh(rows, 1, gates, 0, gateStride, cPrev, 0, LANES, scratch);
                float[] m = new float[rows * LANES];
                GradientBlocks.lstmGateGradients(rows, 1, gates, 0, gateStride, cPrev, 0, LANES, scratch,
                        new float[rows * LANES], 0, LANES, new float[rows * LANES], 0, LANES, new float[rows * gateStride], 0,
                        gateStride, m, 0, LANES);
                for (int k = 0; k < rows * LANES; k++) {
                    String at = "rows=" + rows + " slot " + k + " (c' = " + c[k] + ")";
                    float cell = gates[k / LANES * gateStride + LANES + k % LANES] * cPrev[k]
                            + gates[k / LANES * gateStride + k % LANES] * gates[k / LANES * gateStride + 2 * LANES + k % LANES];
                    assertSameBits(c[k], cell, at + ": the float twin of c'");
                    assertSameBits(h[k], m[k], at + ": backward o·τ against forward h");
                }
            }
        }
    }

    // ---- the GRU epilogue ----

    @Test
    void gruGateGradientsMatchTheirTwin() {
        for (int rows : ROWS) {
            for (int blocks = 1; blocks <= 3; blocks++) {
                for (int pad : Twins.distinct(LANES, 1, LANES - 1)) {
                    checkGruGradients(rows, blocks, pad % LANES);
                }
            }
        }
    }

    private void checkGruGradients(int rows, int blocks, int pad) {
        int units = blocks * LANES;
        int act0 = 1 + random.nextInt(LANES);
        int actStride = 3 * units + 1 + random.nextInt(LANES);
        int hn0 = 1 + random.nextInt(3);
        int hnStride = units + 1 + random.nextInt(2);
        int h0 = 2 + random.nextInt(3);
        int hStride = units + random.nextInt(3);
        int dh0 = 1 + random.nextInt(4);
        int dhStride = units + 2;
        int da0 = 1 + random.nextInt(LANES);
        int daStride = 3 * units + 1 + random.nextInt(LANES);
        int p0 = 3;
        int pStride = units + 1;
        float[] act = sentinels(random, act0 + rows * actStride + 1);
        float[] hn = sentinels(random, hn0 + rows * hnStride + 1);
        float[] hPrev = sentinels(random, h0 + rows * hStride + 1);
        float[] dh = sentinels(random, dh0 + rows * dhStride + 1);
        float[] daInput = sentinels(random, da0 + rows * daStride + 2);
        float[] daRecurrent = sentinels(random, da0 + rows * daStride + 2);
        float[] dhPrev = sentinels(random, p0 + rows * pStride + 2);
        for (int r = 0; r < rows; r++) {
            for (int u = 0; u < units; u++) {
                int a = act0 + r * actStride + u / LANES * 3 * LANES + u % LANES;
                boolean padded = u >= units - pad;
                act[a] = padded ? 0.5f : sigmoidActivation();
                act[a + LANES] = padded ? 0.5f : sigmoidActivation();
                act[a + 2 * LANES] = padded ? 0f : tanhActivation();
                hn[hn0 + r * hnStride + u] = padded ? 0f : (float) ((random.nextDouble() * 2 - 1) * 5);
                hPrev[h0 + r * hStride + u] = padded ? 0f : (float) (random.nextDouble() * 2 - 1);
                dh[dh0 + r * dhStride + u] = padded ? 0f : gradient();
            }
        }
        float[][] before = {act.clone(), hn.clone(), hPrev.clone(), dh.clone(), daInput.clone(), daRecurrent.clone(),
                dhPrev.clone()};
        GradientBlocks.gruGateGradients(rows, blocks, act, act0, actStride, hn, hn0, hnStride, hPrev, h0, hStride, dh,
                dh0, dhStride, daInput, daRecurrent, da0, daStride, dhPrev, p0, pStride);
        String where = "gruGateGradients rows=" + rows + " blocks=" + blocks + " pad=" + pad + " (V=" + LANES + ")";
        double bound = gamma(10);
        for (int r = 0; r < rows; r++) {
            for (int u = 0; u < units; u++) {
                int a = act0 + r * actStride + u / LANES * 3 * LANES + u % LANES;
                int d = da0 + r * daStride + u / LANES * 3 * LANES + u % LANES;
                double reset = act[a];
                double z = act[a + LANES];
                double n = act[a + 2 * LANES];
                double sum = hn[hn0 + r * hnStride + u];
                double h = hPrev[h0 + r * hStride + u];
                double g = dh[dh0 + r * dhStride + u];
                String at = where + " row " + r + " unit " + u + " (r " + reset + ", z " + z + ", n " + n + ", hn " + sum
                        + ", h " + h + ", dh " + g + ")";
                double an = g * (1 - z) * (1 - n * n);
                double anMag = Math.abs(g) * (1 + z) * (1 + n * n);
                double az = g * (h - n) * (z * (1 - z));
                double azMag = Math.abs(g) * (Math.abs(h) + Math.abs(n)) * z * (1 + z);
                double ar = an * sum * (reset * (1 - reset));
                double arMag = anMag * Math.abs(sum) * reset * (1 + reset);
                double[] want = {ar, az, an, ar, az, an * reset, g * z};
                double[] magnitude = {arMag, azMag, anMag, arMag, azMag, anMag * reset, Math.abs(g) * z};
                float[] got = {daInput[d], daInput[d + LANES], daInput[d + 2 * LANES], daRecurrent[d],
                        daRecurrent[d + LANES], daRecurrent[d + 2 * LANES], dhPrev[p0 + r * pStride + u]};
                String[] names = {"input da_r", "input da_z", "input da_n", "recurrent da_r", "recurrent da_z",
                        "recurrent da_n·r", "dh_prev"};
                for (int q = 0; q < want.length; q++) {
                    if (u >= units - pad) {
                        assertSameBits(0f, got[q], at + ": padded " + names[q]);
                    } else {
                        assertClose(want[q], got[q], bound * magnitude[q], at + ": " + names[q]);
                    }
                }
            }
        }
        boolean[] daWritten = new boolean[daInput.length];
        mark(daWritten, da0, daStride, rows, 3 * units);
        assertUntouched(before[4], daInput, daWritten, where + " da input");
        assertUntouched(before[5], daRecurrent, daWritten, where + " da recurrent");
        boolean[] pWritten = new boolean[dhPrev.length];
        mark(pWritten, p0, pStride, rows, units);
        assertUntouched(before[6], dhPrev, pWritten, where + " dh_prev");
        assertUnchanged(before[0], act, where + " act");
        assertUnchanged(before[1], hn, where + " hn");
        assertUnchanged(before[2], hPrev, where + " h");
        assertUnchanged(before[3], dh, where + " dh");
    }
}
