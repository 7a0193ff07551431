package io.github.lstmkernels.simd;

import static io.github.lstmkernels.simd.Twins.LANES;
import static io.github.lstmkernels.simd.Twins.PANEL_WIDTH;
import static io.github.lstmkernels.simd.Twins.ROWS;
import static io.github.lstmkernels.simd.Twins.SIGMOID_ULPS;
import static io.github.lstmkernels.simd.Twins.SMALL;
import static io.github.lstmkernels.simd.Twins.TANH_ULPS;
import static io.github.lstmkernels.simd.Twins.U;
import static io.github.lstmkernels.simd.Twins.WITH_THOUSANDS;
import static io.github.lstmkernels.simd.Twins.assertClose;
import static io.github.lstmkernels.simd.Twins.assertSameBits;
import static io.github.lstmkernels.simd.Twins.assertUlps;
import static io.github.lstmkernels.simd.Twins.assertUnchanged;
import static io.github.lstmkernels.simd.Twins.assertUntouched;
import static io.github.lstmkernels.simd.Twins.gamma;
import static io.github.lstmkernels.simd.Twins.mark;
import static io.github.lstmkernels.simd.Twins.sentinels;
import static io.github.lstmkernels.simd.Twins.sigmoid;
import static io.github.lstmkernels.simd.Twins.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.spi.WeightLayouts;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Every forward micro-kernel of {@link GateBlocks}, called directly, against a plain-Java twin
 * written here from its documented contract (in double), on awkward sizes ({@link Twins#SMALL},
 * thousands of columns), rows 1..13, and offsets and strides that are never 0 or tight: weights,
 * inputs and outputs start inside their arrays and rows are further apart than they are wide. Every
 * kernel must also leave everything outside its outputs bitwise untouched, and its inputs unchanged.
 *
 * <p>Tiles of both register budgets are tested on every machine: the whole-panel 6/5/4/3/2/1-row tiles
 * ({@link GateBlocks#WIDE_TILES}, 32 vector registers) and the half-panel 6×2/3×2 tiles
 * ({@link GateBlocks#halfPanelRows}, 16 registers); {@link GateBlocks#panelRows} and
 * {@link GateBlocks#gruRows} are tested as this JVM dispatches them.
 *
 * <p>The fused epilogues {@link GateBlocks#cells} and {@link GateBlocks#gruCells} are tested
 * themselves, not through {@code VectorMath}: {@code cells} runs its own inlined copies of the tanh
 * polynomial. Every output is checked: the activations left in the gate rows, c, h, h'. Each output
 * is compared with the exact function of the kernel's own earlier outputs (themselves checked), so
 * each step's tolerance is its own: σ within {@value Twins#SIGMOID_ULPS} ulp, tanh within
 * {@value Twins#TANH_ULPS} ulp (VectorMathTest measures 2.35 and 1.28), products and sums within
 * γ(k) of their running error bound (see {@link Twins}). Pre-activations cover the polynomial
 * branch densely (|x| < 0.625), the exp branch, the boundary, ±0 (sign kept), tiny, huge (±1e30,
 * ±MAX_VALUE), ±∞ and NaN (propagated), and padded lanes (zero input, zero state) must come out
 * exactly +0 (and σ = 0.5 exactly).
 */
class GateBlocksTwinTest {
    private final SplittableRandom random = new SplittableRandom(0x7415_2026L);

    // ---- tile choice ----

    @Test
    void sixRowTilesLeavesAtMostOneSingleRowFromSixRowsOn() {
        if (!GateBlocks.WIDE_TILES) {
            // 16 vector registers: no 5- or 6-row tile of a whole panel (it would spill).
            for (int rows = 0; rows < 200; rows++) {
                assertEquals(0, GateBlocks.sixRowTiles(rows), "rows " + rows + " without wide tiles");
                assertEquals(0, GateBlocks.fiveRowTiles(rows), "rows " + rows + " without wide tiles");
                assertEquals(6 * GateBlocks.sixRowTilesBeforeFoursAndThree(rows), GateBlocks.mainTileRows(rows),
                        "rows " + rows + " without wide tiles");
            }
            return;
        }
        // rows → {6-row tiles, 4-row tiles, rows left} as the backward's outer products run them (and
        // panelRows its tail after the 5-row tiles, with the rows left in one 3-, 2- or 1-row tile).
        // gruRows cuts rows as halfPanelRows does (halfPanelRowsLeavesNoSingleRowFromSixRowsOn).
        int[][] expected = {{0, 0, 0}, {0, 0, 1}, {0, 0, 2}, {0, 0, 3}, {0, 1, 0}, {0, 1, 1}, {1, 0, 0}, {1, 0, 1},
                {0, 2, 0}, {0, 2, 1}, {1, 1, 0}, {1, 1, 1}, {2, 0, 0}, {2, 0, 1}, {1, 2, 0}, {1, 2, 1}};
        for (int rows = 0; rows < expected.length; rows++) {
            assertArrayEquals(expected[rows], mix(rows), "rows " + rows);
        }
        for (int rows = 6; rows < 200; rows++) {
            int[] m = mix(rows);
            assertEquals(rows, 6 * m[0] + 4 * m[1] + m[2], "rows " + rows);
            assertTrue(m[2] <= 1 && m[1] <= 2, "rows " + rows + ": " + java.util.Arrays.toString(m));
        }
    }

    @Test
    void panelRowsLeavesASingleRowPassOnlyAtOneRow() {
        if (!GateBlocks.WIDE_TILES) {
            return;
        }
        // rows → {5-row, 6-row, 4-row tiles, rows left} as panelRows runs them: the rows left go in
        // one 3-, 2- or 1-row tile, so a single-row pass is left only at 1 row.
        int[][] expected = {{0, 0, 0, 0}, {0, 0, 0, 1}, {0, 0, 0, 2}, {0, 0, 0, 3}, {0, 0, 1, 0}, {1, 0, 0, 0},
                {0, 1, 0, 0}, {1, 0, 0, 2}, {0, 0, 2, 0}, {1, 0, 1, 0}, {2, 0, 0, 0}, {1, 1, 0, 0}, {0, 2, 0, 0},
                {1, 0, 2, 0}, {2, 0, 1, 0}, {3, 0, 0, 0}, {2, 1, 0, 0}, {1, 2, 0, 0}, {2, 0, 2, 0}};
        for (int rows = 0; rows < expected.length; rows++) {
            assertArrayEquals(expected[rows], panelMix(rows), "rows " + rows);
        }
        for (int rows = 1; rows < 400; rows++) {
            int[] m = panelMix(rows);
            assertEquals(rows, 5 * m[0] + 6 * m[1] + 4 * m[2] + m[3], "rows " + rows);
            assertTrue(m[3] <= 3 && (m[3] != 1 || rows == 1), "rows " + rows + ": " + java.util.Arrays.toString(m));
            assertTrue(rows < 8 || m[3] == 0 && m[1] + m[2] <= 2, "rows " + rows + ": " + java.util.Arrays.toString(m));
            // The tail alone runs in the tiles it gets inside the whole (the input projection's calls rely on it).
            int tail = rows - GateBlocks.mainTileRows(rows);
            assertEquals(5 * m[0], GateBlocks.mainTileRows(rows), "rows " + rows);
            int[] alone = panelMix(tail);
            assertArrayEquals(new int[] {0, m[1], m[2], m[3]}, alone, "tail of rows " + rows);
        }
    }

    @Test
    void halfPanelRowsLeavesNoSingleRowFromSixRowsOn() {
        // rows → {6 × 2, 4 × 2, 3 × 2 tiles, rows left} as halfPanelRows runs them: 2 rows left go in
        // one whole-panel 2-row tile, so a single-row pass is left only at 1 and 5 rows.
        int[][] expected = {{0, 0, 0, 0}, {0, 0, 0, 1}, {0, 0, 0, 2}, {0, 0, 1, 0}, {0, 1, 0, 0}, {0, 1, 0, 1},
                {1, 0, 0, 0}, {0, 1, 1, 0}, {0, 2, 0, 0}, {1, 0, 1, 0}, {1, 1, 0, 0}, {0, 2, 1, 0}, {2, 0, 0, 0},
                {1, 1, 1, 0}, {1, 2, 0, 0}};
        for (int rows = 0; rows < expected.length; rows++) {
            assertArrayEquals(expected[rows], halfMix(rows), "rows " + rows);
        }
        for (int rows = 6; rows < 400; rows++) {
            int[] m = halfMix(rows);
            assertEquals(rows, 6 * m[0] + 4 * m[1] + 3 * m[2] + m[3], "rows " + rows);
            assertTrue(m[3] == 0 && m[2] <= 1 && m[1] <= 2, "rows " + rows + ": " + java.util.Arrays.toString(m));
            // The tail alone runs in the tiles it gets inside the whole (the input projection's calls rely on it).
            assertEquals(6 * m[0], GateBlocks.mainTileRows(rows, false), "rows " + rows);
            int[] alone = halfMix(rows - 6 * m[0]);
            assertArrayEquals(new int[] {0, m[1], m[2], m[3]}, alone, "tail of rows " + rows);
        }
    }

    /**
     * Where single-row passes are, read from the bits: every multi-row tile sums a row's outputs in
     * one order (the 2- and 3-row tiles here give the reference), the single-row tile in another
     * (even and odd columns apart), so over an odd K a row that took a single-row pass has other
     * bits. From 2 rows on, panelRows runs none with wide tiles and only at 5 rows with 16 registers
     * (4 + 1); gruRows only at 5 rows with wide tiles and at rows % 4 == 1 with 16 registers. A
     * row left to a single-row pass streams the whole panel for itself (batch 3 of c's sizes was
     * 1.5 × oneDNN with three of them).
     */
    @Test
    void singleRowPassesOnlyWhereTheTileRulesSay() {
        int columns = 37;
        for (int rows = 2; rows <= 40; rows++) {
            float[] w = values(random, columns * PANEL_WIDTH);
            float[] in = values(random, rows * columns);
            float[] out = values(random, rows * PANEL_WIDTH);
            float[] expected = out.clone();
            GateBlocks.panelRows(w, 0, columns, in, 0, columns, rows, out, 0, PANEL_WIDTH);
            for (int r = 0; r < rows; r += groupOfTwoOrThree(rows - r)) {
                if (groupOfTwoOrThree(rows - r) == 2) {
                    GateBlocks.accumulate2(w, 0, columns, in, r * columns, columns, expected, r * PANEL_WIDTH, PANEL_WIDTH,
                            expected, r * PANEL_WIDTH, PANEL_WIDTH);
                } else {
                    GateBlocks.accumulate3(w, 0, columns, in, r * columns, columns, expected, r * PANEL_WIDTH, PANEL_WIDTH,
                            expected, r * PANEL_WIDTH, PANEL_WIDTH);
                }
            }
            boolean lastSingle = !GateBlocks.WIDE_TILES && rows == 5;
            assertRowsAsMultiRowTiles("panelRows", expected, out, rows, PANEL_WIDTH, lastSingle);

            int gateRow = GateBlocks.GRU_STRIDE + LANES;
            float[] gw = values(random, columns * GateBlocks.GRU_STRIDE);
            float[] bhn = values(random, LANES);
            float[] gates = values(random, rows * gateRow);
            float[] hn = new float[rows * LANES];
            float[] expectedGates = gates.clone();
            float[] expectedHn = new float[rows * LANES];
            GateBlocks.gruRows(gw, 0, columns, in, 0, columns, rows, gates, 0, gateRow, bhn, 0, hn, 0, LANES);
            for (int r = 0; r < rows; r += groupOfTwoOrThree(rows - r)) {
                if (groupOfTwoOrThree(rows - r) == 2) {
                    GateBlocks.gruAccumulate2(gw, 0, columns, in, r * columns, columns, expectedGates, r * gateRow, gateRow,
                            bhn, 0, expectedHn, r * LANES, LANES);
                } else {
                    GateBlocks.gruAccumulate3(gw, 0, columns, in, r * columns, columns, expectedGates, r * gateRow, gateRow,
                            bhn, 0, expectedHn, r * LANES, LANES);
                }
            }
            boolean gruLastSingle = GateBlocks.WIDE_TILES ? rows == 5 : rows % 4 == 1;
            assertRowsAsMultiRowTiles("gruRows gates", expectedGates, gates, rows, gateRow, gruLastSingle);
            assertRowsAsMultiRowTiles("gruRows hn", expectedHn, hn, rows, LANES, gruLastSingle);
        }
    }

    /**
     * The input projection starts its sums from the bias row (stride 0) instead of copying the bias
     * into every gate row and accumulating onto it: the two must give the same bits, for every
     * row count and both register budgets, or the forward pass's results would depend on it.
     */
    @Test
    void startingFromABiasRowGivesTheBitsOfACopiedBias() {
        for (int columns : new int[] {1, 2, 37, LANES + 1, 300}) {
            for (int rows = 1; rows <= 40; rows++) {
                int bias0 = 3;
                float[] bias = values(random, bias0 + PANEL_WIDTH + 2);
                float[] w = values(random, columns * PANEL_WIDTH);
                float[] in = values(random, rows * columns);
                int stride = PANEL_WIDTH + LANES;
                float[] copied = values(random, rows * stride);
                for (int r = 0; r < rows; r++) {
                    System.arraycopy(bias, bias0, copied, r * stride, PANEL_WIDTH);
                }
                float[] started = copied.clone();
                for (int r = 0; r < rows; r++) {
                    java.util.Arrays.fill(started, r * stride, r * stride + PANEL_WIDTH, Float.NaN);
                }
                float[] halfCopied = copied.clone();
                float[] halfStarted = started.clone();
                String where = "rows=" + rows + " K=" + columns;
                GateBlocks.panelRows(w, 0, columns, in, 0, columns, rows, copied, 0, stride);
                GateBlocks.panelRows(w, 0, columns, in, 0, columns, rows, started, 0, stride, bias, bias0, 0);
                assertArrayEquals(copied, started, "panelRows " + where);
                GateBlocks.halfPanelRows(w, 0, columns, in, 0, columns, rows, halfCopied, 0, stride, halfCopied, 0, stride);
                GateBlocks.halfPanelRows(w, 0, columns, in, 0, columns, rows, halfStarted, 0, stride, bias, bias0, 0);
                assertArrayEquals(halfCopied, halfStarted, "halfPanelRows " + where);
            }
        }
    }

    /** The reference's next group of the {@code left} rows (at least 2): threes, with 4 = 2 + 2 and 2 left as 2. */
    private static int groupOfTwoOrThree(int left) {
        return left == 2 || left == 4 ? 2 : 3;
    }

    /** Rows before the last have the reference bits; the last has them exactly unless it took a single-row pass. */
    private static void assertRowsAsMultiRowTiles(String name, float[] expected, float[] got, int rows, int stride,
                                                  boolean lastSingle) {
        for (int r = 0; r < rows; r++) {
            float[] want = java.util.Arrays.copyOfRange(expected, r * stride, (r + 1) * stride);
            float[] have = java.util.Arrays.copyOfRange(got, r * stride, (r + 1) * stride);
            if (r == rows - 1 && lastSingle) {
                assertFalse(java.util.Arrays.equals(want, have), name + " rows=" + rows
                        + ": the last row should have taken a single-row pass (other bits), and did not");
            } else {
                assertArrayEquals(want, have, name + " rows=" + rows + ": row " + r + " took a single-row pass");
            }
        }
    }

    /** The tiles of halfPanelRows, as its comment states them: 6 × 2 tiles, then 4 × 2 and at most one 3 × 2. */
    private static int[] halfMix(int rows) {
        int six = GateBlocks.sixRowTilesBeforeFoursAndThree(rows);
        int rest = rows - 6 * six;
        int three = rest % 4 == 3 ? 1 : 0;
        int four = (rest - 3 * three) / 4;
        return new int[] {six, four, three, rest - 4 * four - 3 * three};
    }

    private static int[] mix(int rows) {
        int six = GateBlocks.sixRowTiles(rows);
        int rest = rows - 6 * six;
        return new int[] {six, rest / 4, rest % 4};
    }

    private static int[] panelMix(int rows) {
        int five = GateBlocks.fiveRowTiles(rows);
        int[] tail = mix(rows - 5 * five);
        return new int[] {five, tail[0], tail[1], tail[2]};
    }

    // ---- the panel tiles: out[r][0, 4V) = start[r][0, 4V) + Σ_k in[r][k] · w[k][0, 4V) ----

    @FunctionalInterface
    private interface PanelTile {
        void run(float[] w, int weights, int columns, float[] in, int in0, int inStride, float[] out, int out0,
                 int outStride, float[] start, int start0, int startStride);
    }

    /**
     * Where a tile's sums start: the output rows themselves (accumulate: the recurrent product),
     * one row of another array for every row (stride 0: a bias, the input projection), or rows of
     * another array with a stride of their own (the contract in general).
     */
    private enum Start { OUTPUT, SHARED_ROW, OWN_ROWS }

    @Test
    void eachPanelTileMatchesItsTwin() {
        PanelTile one = (w, weights, columns, in, in0, inStride, out, out0, outStride, start, start0, startStride) ->
                GateBlocks.accumulate1(w, weights, columns, in, in0, out, out0, start, start0);
        for (int columns : WITH_THOUSANDS) {
            checkPanel("accumulate6", GateBlocks::accumulate6, 6, columns);
            checkPanel("accumulate5", GateBlocks::accumulate5, 5, columns);
            checkPanel("accumulate4", GateBlocks::accumulate4, 4, columns);
            checkPanel("accumulate3", GateBlocks::accumulate3, 3, columns);
            checkPanel("accumulate2", GateBlocks::accumulate2, 2, columns);
            checkPanel("accumulate1", one, 1, columns);
        }
    }

    /**
     * The half-panel tiles (2 of a panel's 4 vectors, W's columns still 4V apart), run without wide
     * tiles. They only accumulate (halfPanelRows copies a start into the output rows first).
     */
    @Test
    void eachHalfPanelTileMatchesItsTwin() {
        for (int columns : WITH_THOUSANDS) {
            checkPanel("accumulate6x2", (w, weights, k, in, in0, inStride, out, out0, outStride, start, start0,
                    startStride) -> GateBlocks.accumulate6x2(w, weights, k, in, in0, inStride, out, out0, outStride),
                    6, columns, 2 * LANES, Start.OUTPUT);
            checkPanel("accumulate4x2", (w, weights, k, in, in0, inStride, out, out0, outStride, start, start0,
                    startStride) -> GateBlocks.accumulate4x2(w, weights, k, in, in0, inStride, out, out0, outStride),
                    4, columns, 2 * LANES, Start.OUTPUT);
            checkPanel("accumulate3x2", (w, weights, k, in, in0, inStride, out, out0, outStride, start, start0,
                    startStride) -> GateBlocks.accumulate3x2(w, weights, k, in, in0, inStride, out, out0, outStride),
                    3, columns, 2 * LANES, Start.OUTPUT);
        }
    }

    /** halfPanelRows (what panelRows runs with 16 vector registers), tested on every machine. */
    @Test
    void halfPanelRowsMatchesItsTwinForRowsOneToThirteen() {
        for (int rows : ROWS) {
            for (int columns : WITH_THOUSANDS) {
                checkPanel("halfPanelRows", (w, weights, k, in, in0, inStride, out, out0, outStride, start, start0,
                        startStride) -> GateBlocks.halfPanelRows(w, weights, k, in, in0, inStride, rows, out, out0, outStride,
                        start, start0, startStride), rows, columns);
            }
        }
    }

    @Test
    void panelRowsMatchesItsTwinForRowsOneToThirteen() {
        for (int rows : ROWS) {
            for (int columns : WITH_THOUSANDS) {
                checkPanel("panelRows", (w, weights, k, in, in0, inStride, out, out0, outStride, start, start0,
                        startStride) -> GateBlocks.panelRows(w, weights, k, in, in0, inStride, rows, out, out0, outStride,
                        start, start0, startStride), rows, columns);
            }
        }
    }

    private void checkPanel(String name, PanelTile tile, int rows, int columns) {
        checkPanel(name, tile, rows, columns, PANEL_WIDTH);
    }

    /** The tile computes outputs [0, width) of each row: 4V for a panel, 2V for a half panel; from every kind of start. */
    private void checkPanel(String name, PanelTile tile, int rows, int columns, int width) {
        for (Start start : Start.values()) {
            checkPanel(name, tile, rows, columns, width, start);
        }
    }

    private void checkPanel(String name, PanelTile tile, int rows, int columns, int width, Start kind) {
        int weights = 3 + random.nextInt(13);
        float[] w = values(random, weights + columns * PANEL_WIDTH + 17);
        int in0 = 1 + random.nextInt(9);
        int inStride = columns + 1 + random.nextInt(7);
        float[] in = values(random, in0 + rows * inStride + 5);
        int out0 = 1 + random.nextInt(LANES + 3);
        int outStride = PANEL_WIDTH + 1 + random.nextInt(2 * LANES);
        float[] out = values(random, out0 + rows * outStride + 11);
        int start0 = kind == Start.OUTPUT ? out0 : 1 + random.nextInt(LANES + 3);
        int startStride = switch (kind) {
            case OUTPUT -> outStride;
            case SHARED_ROW -> 0;
            case OWN_ROWS -> PANEL_WIDTH + 2 + random.nextInt(2 * LANES);
        };
        float[] start = kind == Start.OUTPUT ? out : values(random, start0 + rows * startStride + PANEL_WIDTH + 5);
        float[] wBefore = w.clone();
        float[] inBefore = in.clone();
        float[] outBefore = out.clone();
        float[] startBefore = start.clone();
        tile.run(w, weights, columns, in, in0, inStride, out, out0, outStride, start, start0, startStride);
        String where = name + " rows=" + rows + " K=" + columns + " (V=" + LANES + ", weights@" + weights + ", in0="
                + in0 + "/" + inStride + ", out0=" + out0 + "/" + outStride + ", start " + kind + " " + start0 + "/"
                + startStride + ")";
        for (int r = 0; r < rows; r++) {
            for (int q = 0; q < width; q++) {
                int at = out0 + r * outStride + q;
                double sum = kind == Start.OUTPUT ? outBefore[at] : startBefore[start0 + r * startStride + q];
                double magnitude = Math.abs(sum);
                for (int k = 0; k < columns; k++) {
                    double term = (double) in[in0 + r * inStride + k] * w[weights + k * PANEL_WIDTH + q];
                    sum += term;
                    magnitude += Math.abs(term);
                }
                assertClose(sum, out[at], gamma(columns + 1) * magnitude, where + " row " + r + " output " + q);
            }
        }
        boolean[] written = new boolean[out.length];
        mark(written, out0, outStride, rows, width);
        assertUntouched(outBefore, out, written, where + " out");
        assertUnchanged(wBefore, w, where + " weights");
        assertUnchanged(inBefore, in, where + " in");
        if (kind != Start.OUTPUT) {
            assertUnchanged(startBefore, start, where + " start");
        }
    }

    /** gemm over several panels: panel p's weights at p·K·4V, its outputs at p·4V of every row. */
    @Test
    void gemmMatchesItsTwinOverSeveralPanels() {
        for (int columns : new int[] {1, 2, LANES + 1, 61, 1000, 2999}) {
            for (int rows : new int[] {1, 8, 13}) {
                int panels = 1 + random.nextInt(3);
                float[] w = values(random, panels * columns * PANEL_WIDTH);
                int inStride = columns + 3;
                float[] in = values(random, rows * inStride);
                int outStride = panels * PANEL_WIDTH + 2 * LANES + 1;
                float[] out = values(random, rows * outStride);
                float[] before = out.clone();
                GateBlocks.gemm(w, panels, columns, in, inStride, rows, out, outStride);
                String where = "gemm panels=" + panels + " K=" + columns + " rows=" + rows;
                for (int r = 0; r < rows; r++) {
                    for (int n = 0; n < panels * PANEL_WIDTH; n++) {
                        double sum = before[r * outStride + n];
                        double magnitude = Math.abs(sum);
                        for (int k = 0; k < columns; k++) {
                            double term = (double) in[r * inStride + k] * w[(n / PANEL_WIDTH * columns + k) * PANEL_WIDTH
                                    + n % PANEL_WIDTH];
                            sum += term;
                            magnitude += Math.abs(term);
                        }
                        assertClose(sum, out[r * outStride + n], gamma(columns + 1) * magnitude, where + " row " + r + " n " + n);
                    }
                }
                boolean[] written = new boolean[out.length];
                mark(written, 0, outStride, rows, panels * PANEL_WIDTH);
                assertUntouched(before, out, written, where);
            }
        }
    }

    // ---- packing ----

    @Test
    void packPanelsAndPackGateRowFollowTheirLayoutFormulas() {
        for (int gates : new int[] {1, 3, 4}) {
            for (int units : SMALL) {
                for (int columns : new int[] {1, 2, 7}) {
                    float[] w = values(random, gates * units * columns);
                    float[] packed = GateBlocks.packPanels(MemorySegment.ofArray(w), gates, units, columns);
                    int blocks = WeightLayouts.ceilDiv(units, LANES);
                    int width = GateBlocks.panelRowWidth(blocks * gates);
                    assertEquals(width * columns, packed.length, "packPanels length");
                    float[] want = new float[packed.length];
                    for (int j = 0; j < width / LANES; j++) {
                        for (int lane = 0; lane < LANES; lane++) {
                            int unit = j / gates * LANES + lane;
                            int gate = j % gates;
                            for (int k = 0; k < columns; k++) {
                                if (j < blocks * gates && unit < units) {
                                    want[((j / 4 * columns + k) * 4 + j % 4) * LANES + lane] = w[(gate * units + unit) * columns + k];
                                }
                            }
                        }
                    }
                    assertArrayEquals(want, packed, "packPanels G=" + gates + " units=" + units + " K=" + columns);
                }
                float[] bias = values(random, gates * units);
                float[] row = GateBlocks.packGateRow(bias, gates, units);
                int blocks = WeightLayouts.ceilDiv(units, LANES);
                float[] want = new float[GateBlocks.panelRowWidth(blocks * gates)];
                for (int gate = 0; gate < gates; gate++) {
                    for (int unit = 0; unit < units; unit++) {
                        want[(unit / LANES * gates + gate) * LANES + unit % LANES] = bias[gate * units + unit];
                    }
                }
                assertArrayEquals(want, row, "packGateRow G=" + gates + " units=" + units);
            }
        }
    }

    // ---- the GRU's three-gate tiles ----

    @FunctionalInterface
    private interface GruTile {
        void run(float[] w, int weights, int columns, float[] in, int in0, int inStride, float[] gates, int g0,
                 int gateStride, float[] bhn, int bias, float[] hn, int n0, int nStride);
    }

    @Test
    void eachGruTileMatchesItsTwin() {
        GruTile one = (w, weights, columns, in, in0, inStride, gates, g0, gateStride, bhn, bias, hn, n0, nStride) ->
                GateBlocks.gruAccumulate1(w, weights, columns, in, in0, gates, g0, bhn, bias, hn, n0);
        for (int columns : WITH_THOUSANDS) {
            checkGru("gruAccumulate6", GateBlocks::gruAccumulate6, 6, columns);
            checkGru("gruAccumulate4", GateBlocks::gruAccumulate4, 4, columns);
            checkGru("gruAccumulate3", GateBlocks::gruAccumulate3, 3, columns);
            checkGru("gruAccumulate2", GateBlocks::gruAccumulate2, 2, columns);
            checkGru("gruAccumulate1", one, 1, columns);
        }
    }

    @Test
    void gruRowsMatchesItsTwinForRowsOneToThirteen() {
        for (int rows : ROWS) {
            for (int columns : WITH_THOUSANDS) {
                checkGru("gruRows", (w, weights, k, in, in0, inStride, gates, g0, gateStride, bhn, bias, hn, n0, nStride) ->
                        GateBlocks.gruRows(w, weights, k, in, in0, inStride, rows, gates, g0, gateStride, bhn, bias, hn, n0,
                                nStride), rows, columns);
            }
        }
    }

    /** r, z += Σ_k in·W_{r,z} on the gate rows; hn = b_hn + Σ_k in·W_n (overwritten); the n slot untouched. */
    private void checkGru(String name, GruTile tile, int rows, int columns) {
        int stride = GateBlocks.GRU_STRIDE;
        int weights = 1 + random.nextInt(11);
        float[] w = values(random, weights + columns * stride + 7);
        int in0 = 1 + random.nextInt(5);
        int inStride = columns + 1 + random.nextInt(5);
        float[] in = values(random, in0 + rows * inStride + 3);
        int g0 = 1 + random.nextInt(2 * LANES);
        int gateStride = stride + 1 + random.nextInt(LANES + 2);
        float[] gates = values(random, g0 + rows * gateStride + 5);
        int bias = 1 + random.nextInt(3);
        float[] bhn = values(random, bias + LANES + 2);
        int n0 = 1 + random.nextInt(3);
        int nStride = LANES + 1 + random.nextInt(3);
        float[] hn = sentinels(random, n0 + rows * nStride + 4);
        float[][] before = {w.clone(), in.clone(), gates.clone(), bhn.clone(), hn.clone()};
        tile.run(w, weights, columns, in, in0, inStride, gates, g0, gateStride, bhn, bias, hn, n0, nStride);
        String where = name + " rows=" + rows + " K=" + columns + " (V=" + LANES + ", weights@" + weights + ", in0="
                + in0 + "/" + inStride + ", g0=" + g0 + "/" + gateStride + ", n0=" + n0 + "/" + nStride + ")";
        for (int r = 0; r < rows; r++) {
            for (int gate = 0; gate < 3; gate++) {
                for (int lane = 0; lane < LANES; lane++) {
                    double sum = gate == 2 ? bhn[bias + lane] : before[2][g0 + r * gateStride + gate * LANES + lane];
                    double magnitude = Math.abs(sum);
                    for (int k = 0; k < columns; k++) {
                        double term = (double) in[in0 + r * inStride + k] * w[weights + k * stride + gate * LANES + lane];
                        sum += term;
                        magnitude += Math.abs(term);
                    }
                    float got = gate == 2 ? hn[n0 + r * nStride + lane] : gates[g0 + r * gateStride + gate * LANES + lane];
                    assertClose(sum, got, gamma(columns + 1) * magnitude, where + " row " + r + " gate " + gate + " lane " + lane);
                }
            }
        }
        boolean[] gatesWritten = new boolean[gates.length];
        mark(gatesWritten, g0, gateStride, rows, 2 * LANES);
        assertUntouched(before[2], gates, gatesWritten, where + " gates (the n slot holds the input sum)");
        boolean[] hnWritten = new boolean[hn.length];
        mark(hnWritten, n0, nStride, rows, LANES);
        assertUntouched(before[4], hn, hnWritten, where + " hn");
        assertUnchanged(before[0], w, where + " weights");
        assertUnchanged(before[1], in, where + " in");
        assertUnchanged(before[3], bhn, where + " b_hn");
    }

    // ---- the fused LSTM cell ----

    /**
     * Values that exercise every branch of σ and tanh: ±0, subnormal and tiny (tanh's polynomial
     * keeps x), around the 0.625 branch point, the exp form, σ's clamps (±87.3, ±88.7), huge, ±∞, NaN.
     */
    static final float[] SPECIAL = {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, -Float.MIN_NORMAL,
            1e-30f, -1e-30f, 1e-8f, -1e-8f, 1e-3f, -1e-3f, 0.3f, -0.3f, 0.6249999f, -0.6249999f, 0.625f, -0.625f,
            0.6250001f, -0.6250001f, 1f, -1f, 5f, -5f, 9.01f, -9.01f, 20f, -20f, 87.3f, -87.3f, 88.8f, -88.8f, 100f, -100f,
            1e30f, -1e30f, Float.MAX_VALUE, -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN};

    /** A pre-activation: a special value, the polynomial branch (dense), or the exp branch. */
    private float preActivation() {
        return switch (random.nextInt(4)) {
            case 0 -> SPECIAL[random.nextInt(SPECIAL.length)];
            case 1, 2 -> (float) ((random.nextDouble() * 2 - 1) * 0.7);
            default -> (float) ((random.nextDouble() * 2 - 1) * 12);
        };
    }

    @Test
    void lstmCellsMatchTheirTwinOnEveryOutput() {
        for (int rows : ROWS) {
            for (int units : Twins.distinct(LANES, LANES - 1, 1)) {
                checkCells(rows, units, rows % 2 == 0);
                checkCells(rows, units, rows % 2 != 0);
            }
        }
        for (int repeat = 0; repeat < 40; repeat++) {
            checkCells(13, LANES, repeat % 2 == 0);
        }
    }

    /**
     * One block of V units over {@code rows} rows, lanes past {@code units} padded (zero
     * pre-activations, zero c). Half the rows are "controlled": σ(i) = 0 (i = −∞), σ(f) = 1 (f = +∞)
     * and a finite tanh(g), so c' = c exactly and h = σ(o)·tanh(c) runs the inlined tanh copy over
     * c values chosen like the pre-activations (mostly its polynomial branch).
     */
    private void checkCells(int rows, int units, boolean tight) {
        int g0 = 1 + random.nextInt(2 * LANES);
        int gateStride = tight ? 4 * LANES : 4 * LANES + 1 + random.nextInt(2 * LANES);
        int s0 = 1 + random.nextInt(LANES);
        int stateStride = tight ? LANES : LANES + 1 + random.nextInt(LANES);
        float[] gates = sentinels(random, g0 + rows * gateStride + 3);
        float[] c = sentinels(random, s0 + rows * stateStride + 2);
        float[] h = sentinels(random, s0 + rows * stateStride + 2);
        for (int r = 0; r < rows; r++) {
            boolean controlled = random.nextBoolean();
            for (int lane = 0; lane < LANES; lane++) {
                int g = g0 + r * gateStride + lane;
                int s = s0 + r * stateStride + lane;
                if (lane >= units) {
                    for (int gate = 0; gate < 4; gate++) {
                        gates[g + gate * LANES] = 0f;
                    }
                    c[s] = 0f;
                } else if (controlled) {
                    gates[g] = Float.NEGATIVE_INFINITY;
                    gates[g + LANES] = Float.POSITIVE_INFINITY;
                    gates[g + 2 * LANES] = (float) ((random.nextDouble() * 2 - 1) * 3);
                    gates[g + 3 * LANES] = preActivation();
                    c[s] = preActivation();
                } else {
                    for (int gate = 0; gate < 4; gate++) {
                        gates[g + gate * LANES] = preActivation();
                    }
                    c[s] = random.nextInt(8) == 0 ? SPECIAL[random.nextInt(SPECIAL.length)]
                            : (float) ((random.nextDouble() * 2 - 1) * 4);
                }
            }
        }
        float[] gatesBefore = gates.clone();
        float[] cBefore = c.clone();
        float[] hBefore = h.clone();
        float[] scratch = new float[3 * LANES * rows];
        GateBlocks.cells(gates, g0, gateStride, rows, c, h, s0, stateStride, scratch);
        String where = "cells rows=" + rows + " units=" + units + " (V=" + LANES + ", g0=" + g0 + "/" + gateStride
                + ", s0=" + s0 + "/" + stateStride + ")";
        for (int r = 0; r < rows; r++) {
            for (int lane = 0; lane < LANES; lane++) {
                int g = g0 + r * gateStride + lane;
                int s = s0 + r * stateStride + lane;
                String at = where + " row " + r + " lane " + lane + " (pre-activations i " + gatesBefore[g] + ", f "
                        + gatesBefore[g + LANES] + ", g " + gatesBefore[g + 2 * LANES] + ", o " + gatesBefore[g + 3 * LANES]
                        + ", c " + cBefore[s] + ")";
                float i = gates[g];
                float f = gates[g + LANES];
                float tanhG = gates[g + 2 * LANES];
                float o = gates[g + 3 * LANES];
                if (lane >= units) {
                    for (int gate : new int[] {0, 1, 3}) {
                        assertSameBits(0.5f, gates[g + gate * LANES], at + ": padded σ, gate " + gate);
                    }
                    assertSameBits(0f, tanhG, at + ": padded tanh g");
                    assertSameBits(0f, c[s], at + ": padded c");
                    assertSameBits(0f, h[s], at + ": padded h");
                    continue;
                }
                assertUlps(sigmoid(gatesBefore[g]), i, SIGMOID_ULPS, at + ": σ(i)");
                assertUlps(sigmoid(gatesBefore[g + LANES]), f, SIGMOID_ULPS, at + ": σ(f)");
                assertUlps(sigmoid(gatesBefore[g + 3 * LANES]), o, SIGMOID_ULPS, at + ": σ(o)");
                checkTanh(gatesBefore[g + 2 * LANES], tanhG, at + ": tanh(g)");
                // c' = σ(f)·c + σ(i)·tanh(g): two products and a sum, from the kernel's own activations.
                double cell = (double) f * cBefore[s] + (double) i * tanhG;
                double cellMagnitude = Math.abs((double) f * cBefore[s]) + Math.abs((double) i * tanhG);
                assertCloseWithZeroSign(cell, c[s], gamma(2) * cellMagnitude, at + ": c'");
                // h = σ(o)·tanh(c'), from the kernel's c'.
                double tanhC = Math.tanh(c[s]);
                double hidden = o * tanhC;
                double bound = Math.abs(o) * (TANH_ULPS * Math.ulp((float) tanhC) + Float.MIN_NORMAL);
                assertCloseWithZeroSign(hidden, h[s], bound, at + ": h (c' = " + c[s] + ")");
            }
        }
        boolean[] gatesWritten = new boolean[gates.length];
        mark(gatesWritten, g0, gateStride, rows, 4 * LANES);
        assertUntouched(gatesBefore, gates, gatesWritten, where + " gates");
        boolean[] stateWritten = new boolean[c.length];
        mark(stateWritten, s0, stateStride, rows, LANES);
        assertUntouched(cBefore, c, stateWritten, where + " c");
        assertUntouched(hBefore, h, stateWritten, where + " h");
    }

    /** tanh within {@value Twins#TANH_ULPS} ulp; ±0 and tiny x keep their sign and value. */
    static void checkTanh(float x, float got, String where) {
        double want = Math.tanh(x);
        if (x == 0f || Math.abs(x) < 1e-20f) {
            assertSameBits(x, got, where);
        }
        assertUlps(want, got, TANH_ULPS, where);
    }

    private static void assertCloseWithZeroSign(double want, float got, double bound, String where) {
        if (want == 0) {
            assertSameBits((float) want, got, where);
        }
        assertClose(want, got, bound, where);
    }

    // ---- the fused GRU cell ----

    @Test
    void gruCellsMatchTheirTwinOnEveryOutput() {
        for (int rows : ROWS) {
            for (int units : Twins.distinct(LANES, LANES - 1, 1)) {
                checkGruCells(rows, units, rows % 2 == 0);
                checkGruCells(rows, units, rows % 2 != 0);
            }
        }
        for (int repeat = 0; repeat < 40; repeat++) {
            checkGruCells(13, LANES, repeat % 2 == 0);
        }
    }

    /**
     * {@code n = tanh(n_x + σ(r)·hn)}, {@code h' = (1 − σ(z))·n + σ(z)·h}. Half the rows are
     * "controlled": σ(r) = 0 (r = −∞, hn finite), so n = tanh(n_x) runs over n_x chosen like the
     * pre-activations.
     */
    private void checkGruCells(int rows, int units, boolean tight) {
        int g0 = 1 + random.nextInt(2 * LANES);
        int gateStride = tight ? 3 * LANES : 3 * LANES + 1 + random.nextInt(2 * LANES);
        int s0 = 1 + random.nextInt(LANES);
        int stateStride = tight ? LANES : LANES + 1 + random.nextInt(LANES);
        float[] gates = sentinels(random, g0 + rows * gateStride + 3);
        float[] hn = sentinels(random, s0 + rows * stateStride + 2);
        float[] h = sentinels(random, s0 + rows * stateStride + 2);
        float[] hNext = sentinels(random, s0 + rows * stateStride + 2);
        for (int r = 0; r < rows; r++) {
            boolean controlled = random.nextBoolean();
            for (int lane = 0; lane < LANES; lane++) {
                int g = g0 + r * gateStride + lane;
                int s = s0 + r * stateStride + lane;
                if (lane >= units) {
                    gates[g] = 0f;
                    gates[g + LANES] = 0f;
                    gates[g + 2 * LANES] = 0f;
                    hn[s] = 0f;
                    h[s] = 0f;
                } else {
                    gates[g] = controlled ? Float.NEGATIVE_INFINITY : preActivation();
                    gates[g + LANES] = preActivation();
                    gates[g + 2 * LANES] = preActivation();
                    hn[s] = controlled ? (float) ((random.nextDouble() * 2 - 1) * 3)
                            : random.nextInt(8) == 0 ? SPECIAL[random.nextInt(SPECIAL.length)]
                            : (float) ((random.nextDouble() * 2 - 1) * 4);
                    h[s] = random.nextInt(8) == 0 ? SPECIAL[random.nextInt(SPECIAL.length)] : Twins.values(random, 1)[0];
                }
            }
        }
        float[] gatesBefore = gates.clone();
        float[] hnBefore = hn.clone();
        float[] hBefore = h.clone();
        float[] hNextBefore = hNext.clone();
        float[] scratch = new float[2 * LANES * rows];
        GateBlocks.gruCells(gates, g0, gateStride, rows, hn, h, hNext, s0, stateStride, scratch);
        String where = "gruCells rows=" + rows + " units=" + units + " (V=" + LANES + ", g0=" + g0 + "/" + gateStride
                + ", s0=" + s0 + "/" + stateStride + ")";
        for (int r = 0; r < rows; r++) {
            for (int lane = 0; lane < LANES; lane++) {
                int g = g0 + r * gateStride + lane;
                int s = s0 + r * stateStride + lane;
                String at = where + " row " + r + " lane " + lane + " (pre-activations r " + gatesBefore[g] + ", z "
                        + gatesBefore[g + LANES] + ", n_x " + gatesBefore[g + 2 * LANES] + ", hn " + hn[s] + ", h " + h[s] + ")";
                float reset = gates[g];
                float update = gates[g + LANES];
                float candidate = gates[g + 2 * LANES];
                if (lane >= units) {
                    assertSameBits(0.5f, reset, at + ": padded σ(r)");
                    assertSameBits(0.5f, update, at + ": padded σ(z)");
                    assertSameBits(0f, candidate, at + ": padded n");
                    assertSameBits(0f, hNext[s], at + ": padded h'");
                    continue;
                }
                assertUlps(sigmoid(gatesBefore[g]), reset, SIGMOID_ULPS, at + ": σ(r)");
                assertUlps(sigmoid(gatesBefore[g + LANES]), update, SIGMOID_ULPS, at + ": σ(z)");
                // n = tanh(fma(σ(r), hn, n_x)): the argument rounds once (u·|arg|, damped by 1 − n²).
                double argument = (double) reset * hn[s] + gatesBefore[g + 2 * LANES];
                if (reset == 0f && Float.isFinite(hn[s])) {
                    // The argument is exactly n_x (or +0 for n_x = −0): the polynomial's own accuracy.
                    checkTanh((float) argument, candidate, at + ": n = tanh(n_x)");
                }
                double n = Math.tanh(argument);
                double nBound = TANH_ULPS * Math.ulp((float) n) + U * Math.abs(argument) * (1 - n * n) + Float.MIN_NORMAL;
                if (Float.isInfinite((float) argument)) {
                    // The float fma overflows where the double sum does not: tanh(±∞) = ±1 either way.
                    nBound = TANH_ULPS * Math.ulp(1f);
                }
                assertCloseWithZeroSign(n, candidate, nBound, at + ": n");
                // h' = fma(1 − z, n, z·h): three roundings.
                double next = (1 - (double) update) * candidate + (double) update * h[s];
                double magnitude = Math.abs((1 - (double) update) * candidate) + Math.abs((double) update * h[s]);
                assertCloseWithZeroSign(next, hNext[s], gamma(3) * magnitude, at + ": h'");
            }
        }
        boolean[] gatesWritten = new boolean[gates.length];
        mark(gatesWritten, g0, gateStride, rows, 3 * LANES);
        assertUntouched(gatesBefore, gates, gatesWritten, where + " gates");
        boolean[] stateWritten = new boolean[hNext.length];
        mark(stateWritten, s0, stateStride, rows, LANES);
        assertUntouched(hNextBefore, hNext, stateWritten, where + " h'");
        assertUnchanged(hnBefore, hn, where + " hn");
        assertUnchanged(hBefore, h, where + " h");
    }
}
