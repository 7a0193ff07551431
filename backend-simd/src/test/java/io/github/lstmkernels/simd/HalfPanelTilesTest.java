package io.github.lstmkernels.simd;

import static io.github.lstmkernels.simd.GateBlocks.LANES;
import static io.github.lstmkernels.simd.GateBlocks.PANEL_WIDTH;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The 16-register tiles ({@link GateBlocks#halfPanelRows}: 6 × 2, 4 × 2 and 3 × 2 half-panel tiles,
 * the rest by the one-row tile) against a plain-Java twin, in double, on awkward sizes: every row count
 * from 1 to 14 (every mix of 6-, 4-, 3- and 1-row tiles) and column counts 1, 2, 3, V − 1, V, V + 1,
 * primes and a thousand-odd, with non-zero offsets and strides wider than a row. They are called
 * directly, so they are tested on every machine, whichever tiles its register count selects.
 * Tolerance: the float sums of K products of values in (−1, 1) are within K·2⁻²³·Σ|terms| of the
 * exact sum (a loose bound on the rounding of K additions); the sums start from a non-zero output
 * (the tiles accumulate onto it).
 */
class HalfPanelTilesTest {
    @Test
    void halfPanelRowsEqualsItsTwin() {
        SplittableRandom random = new SplittableRandom(16);
        int[] columnCounts = {1, 2, 3, LANES - 1, LANES, LANES + 1, 7, 13, 31, 61, 1031};
        for (int columns : columnCounts) {
            for (int rows = 1; rows <= 14; rows++) {
                check(random, columns, rows);
            }
        }
    }

    private static void check(SplittableRandom random, int columns, int rows) {
        int panels = 2;
        int weightsOffset = PANEL_WIDTH * 3;
        int inOffset = 5;
        int inStride = columns + 3;
        int outOffset = 7;
        int outStride = panels * PANEL_WIDTH + 11;
        float[] w = values(random, weightsOffset + panels * columns * PANEL_WIDTH);
        float[] in = values(random, inOffset + rows * inStride);
        float[] out = values(random, outOffset + rows * outStride);
        float[] before = out.clone();
        for (int p = 0; p < panels; p++) {
            GateBlocks.halfPanelRows(w, weightsOffset + p * columns * PANEL_WIDTH, columns, in, inOffset, inStride, rows,
                    out, outOffset + p * PANEL_WIDTH, outStride, out, outOffset + p * PANEL_WIDTH, outStride);
        }
        for (int r = 0; r < rows; r++) {
            for (int n = 0; n < panels * PANEL_WIDTH; n++) {
                int p = n / PANEL_WIDTH;
                double sum = before[outOffset + r * outStride + n];
                double magnitude = Math.abs(sum);
                for (int k = 0; k < columns; k++) {
                    double term = (double) in[inOffset + r * inStride + k]
                            * w[weightsOffset + (p * columns + k) * PANEL_WIDTH + n % PANEL_WIDTH];
                    sum += term;
                    magnitude += Math.abs(term);
                }
                double tolerance = (columns + 1) * Math.ulp(1f) * magnitude;
                assertEquals(sum, out[outOffset + r * outStride + n], tolerance,
                        "columns " + columns + ", rows " + rows + ", row " + r + ", output " + n);
            }
            // Nothing outside the row's outputs is written.
            for (int n = panels * PANEL_WIDTH; n < outStride && outOffset + r * outStride + n < out.length; n++) {
                assertEquals(before[outOffset + r * outStride + n], out[outOffset + r * outStride + n],
                        "padding after row " + r);
            }
        }
        for (int i = 0; i < outOffset; i++) {
            assertEquals(before[i], out[i], "before the first row");
        }
    }

    private static float[] values(SplittableRandom random, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return v;
    }
}
