package io.github.lstmkernels.simd;

import io.github.lstmkernels.spi.WeightLayouts;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The hot loops of the simd forward pass, and (with {@link GradientBlocks}, the backward pass's
 * tiles) the only place that knows the packed weight layouts.
 *
 * <p><b>Gate rows.</b> The pre-activations of one batch row ("gate row") are laid out
 * {@code [H/V][G][V]}: hidden units in blocks of V vector lanes, and per block the G gate vectors
 * side by side (LSTM i, f, g, o; GRU r, z, n). The row is padded to whole panels (below).
 *
 * <p><b>Panels: one GEMM micro-kernel.</b> Every plain matrix product of the backend — the input
 * projection {@code x·W_ih} of a chunk of steps, the LSTM's recurrent {@code h·W_hh}, the LSTMP
 * projection {@code W_hr·m} — adds {@code in · W} to an output row made of vectors (or to a bias
 * row, written to the output row: {@link #panelRows} with a start), 4 vectors
 * (a "panel", 4V outputs) at a time. A weight matrix is packed {@code [panels][K][4][V]}
 * ({@link #packPanels}): per input column, the weights of a panel's 4 output vectors side by side.
 * The tiles {@link #accumulate5}/{@link #accumulate6}/{@link #accumulate4} (and 3, 2, 1 rows)
 * keep a rows × 4-vector tile of accumulators in registers while they stream one panel's weights
 * once. For the LSTM a panel is exactly one block of units with its four gates, so the recurrent
 * product can be followed block by block by the fused cell ({@link #cells}) while the sums are in
 * L1. For the GRU input projection a panel spans 4 of the row's 3·H/V gate vectors; for the
 * projection ({@code [P, H]}, one "gate") 4 blocks of output units.
 *
 * <p><b>GRU recurrence.</b> The n gate's recurrent sum {@code W_hn h + b_hn} is multiplied by r, so
 * it cannot be added to the n gate's input sum: {@link #gruAccumulate6}/{@link #gruAccumulate4}/
 * {@link #gruAccumulate1} are three-gate tiles over {@code W_hh} packed {@code [H/V][H][3][V]} that
 * add r's and z's recurrent sums to the gate row and put n's, started from {@code b_hn}, in a row
 * of its own; {@link #gruCells} then applies the cell.
 *
 * <p>Accumulators must be local variables for C2 to keep them in registers, so each tile height
 * and gate count is written out; {@link #panelRows} and {@link #gruRows} pick the tiles for a
 * number of rows ({@link #fiveRowTiles}, {@link #sixRowTiles}). Padded lanes (units past H or P)
 * have zero weights and zero bias, so they hold zero in every row and state.
 */
final class GateBlocks {
    static final VectorSpecies<Float> SPECIES = VectorWidth.SPECIES;
    /** V: lanes per vector, the width of a block of hidden units. */
    static final int LANES = SPECIES.length();
    /** Vectors per panel: the width of every GEMM tile. */
    static final int PANEL = 4;
    /** Floats per column of a packed panel: 4 vectors. */
    static final int PANEL_WIDTH = PANEL * LANES;
    /**
     * Whether this CPU has the 32 vector registers that 5- and 6-row tiles of a whole panel need (20
     * and 24 accumulators). With 16 (AVX2) a 6 × 4 tile spills most of its accumulators to the stack on
     * every column (seen in C2's code: a load and a store around 15 of its 24 FMAs), so there
     * {@link #panelRows} runs half panels ({@link #accumulate6x2}) and the other tiles stop at 4 rows.
     */
    static final boolean WIDE_TILES = VectorWidth.REGISTERS >= 32;
    /**
     * Rows of the tile {@link #panelRows} runs most rows in ({@link #accumulate5}; without
     * {@link #WIDE_TILES}, {@link #accumulate6x2}): over a multiple of it, that tile alone.
     */
    static final int MAIN_TILE = WIDE_TILES ? 5 : 6;
    /** Floats per column of a GRU block of {@code W_hh}: r, z, n. */
    static final int GRU_STRIDE = 3 * LANES;
    private static final float TANH_P0 = VectorMath.TANH_P0;
    private static final float TANH_P1 = VectorMath.TANH_P1;
    private static final FloatVector TANH_P2 = FloatVector.broadcast(SPECIES, VectorMath.TANH_P2);
    private static final FloatVector TANH_P3 = FloatVector.broadcast(SPECIES, VectorMath.TANH_P3);
    private static final FloatVector TANH_P4 = FloatVector.broadcast(SPECIES, VectorMath.TANH_P4);

    private GateBlocks() {
    }

    /** Floats in a row of {@code vectors} vectors padded to whole panels. */
    static int panelRowWidth(int vectors) {
        return WeightLayouts.ceilDiv(vectors, PANEL) * PANEL_WIDTH;
    }

    /**
     * Packs a gate-stacked matrix {@code W [G·units, K]} for {@link #gemm}: its output rows in the
     * gate-row order {@code [units/V][G][V]} (vector j is block j / G, gate j % G), grouped in
     * panels of 4 vectors, {@code [panels][K][4][V]}. Padding is zero. With G = 4 this is
     * {@code WeightLayouts.packGateBlocks} itself.
     */
    static float[] packPanels(MemorySegment weight, int gates, int units, int columns) {
        float[] blocked = WeightLayouts.packGateBlocks(weight, gates, units, columns, LANES);
        int vectors = WeightLayouts.ceilDiv(units, LANES) * gates;
        float[] packed = new float[Math.multiplyExact(panelRowWidth(vectors), columns)];
        for (int j = 0; j < vectors; j++) {
            int block = j / gates;
            int gate = j % gates;
            for (int k = 0; k < columns; k++) {
                System.arraycopy(blocked, ((block * columns + k) * gates + gate) * LANES,
                        packed, ((j / PANEL * columns + k) * PANEL + j % PANEL) * LANES, LANES);
            }
        }
        return packed;
    }

    /** A gate-stacked bias {@code [G·units]} in the gate-row layout, padded to whole panels. */
    static float[] packGateRow(float[] bias, int gates, int units) {
        float[] blocked = WeightLayouts.packGateBlocks(bias, gates, units, LANES);
        return Arrays.copyOf(blocked, panelRowWidth(blocked.length / LANES));
    }

    /**
     * {@code out[r·outStride + n] += Σ_k in[r·inStride + k] · W[n][k]} for {@code rows} rows and every
     * output n of {@code panels} panels, W packed by {@link #packPanels} with {@code columns} columns.
     * Panels outside, rows inside: one panel's weights stay in cache while every row tile passes.
     */
    static void gemm(float[] w, int panels, int columns, float[] in, int inStride, int rows, float[] out,
                     int outStride) {
        for (int p = 0; p < panels; p++) {
            panelRows(w, p * columns * PANEL_WIDTH, columns, in, 0, inStride, rows, out, p * PANEL_WIDTH, outStride);
        }
    }

    /**
     * One panel (weights from {@code w[weights]}) of {@link #gemm} over {@code rows} rows: 5-row
     * tiles ({@link #fiveRowTiles}), then the tail in 6- and 4-row tiles and one tile of the 1–3 rows
     * left (3 and 2 rows only in all: a batch of 2 or 3 streams the panel once, not once a row).
     * Every tile but the 1-row one sums each output in the same order, so only which rows go to
     * single-row passes changes bits.
     */
    static void panelRows(float[] w, int weights, int columns, float[] in, int in0, int inStride, int rows,
                          float[] out, int out0, int outStride) {
        panelRows(w, weights, columns, in, in0, inStride, rows, out, out0, outStride, out, out0, outStride);
    }

    /**
     * {@link #panelRows} with each row's sums started from {@code start[start0 + r·startStride]}
     * rather than from the output row: {@code out = start + in·W}, start being the output rows
     * themselves or rows that do not overlap them. With a bias row and stride 0 this
     * begins an input projection without first copying the bias into every gate row: those rows
     * are fresh lines, so the copy and then the tiles' first loads of them both missed the cache
     * (without: d, a and k 1–2 % faster, more with two threads; README, measured results). Each
     * row's sums are the same as after such a copy, bit for bit. Every tile takes these three
     * arguments; to accumulate, they name the output itself.
     */
    static void panelRows(float[] w, int weights, int columns, float[] in, int in0, int inStride, int rows,
                          float[] out, int out0, int outStride, float[] start, int start0, int startStride) {
        if (!WIDE_TILES) {
            halfPanelRows(w, weights, columns, in, in0, inStride, rows, out, out0, outStride, start, start0, startStride);
            return;
        }
        int r = 0;
        for (int end = 5 * fiveRowTiles(rows); r < end; r += 5) {
            accumulate5(w, weights, columns, in, in0 + r * inStride, inStride, out, out0 + r * outStride, outStride,
                    start, start0 + r * startStride, startStride);
        }
        for (int end = r + 6 * sixRowTiles(rows - r); r < end; r += 6) {
            accumulate6(w, weights, columns, in, in0 + r * inStride, inStride, out, out0 + r * outStride, outStride,
                    start, start0 + r * startStride, startStride);
        }
        for (; r + 4 <= rows; r += 4) {
            accumulate4(w, weights, columns, in, in0 + r * inStride, inStride, out, out0 + r * outStride, outStride,
                    start, start0 + r * startStride, startStride);
        }
        int last = in0 + r * inStride;
        int lastOut = out0 + r * outStride;
        int lastStart = start0 + r * startStride;
        switch (rows - r) {
            case 3 -> accumulate3(w, weights, columns, in, last, inStride, out, lastOut, outStride, start, lastStart,
                    startStride);
            case 2 -> accumulate2(w, weights, columns, in, last, inStride, out, lastOut, outStride, start, lastStart,
                    startStride);
            case 1 -> accumulate1(w, weights, columns, in, last, out, lastOut, start, lastStart);
            default -> { }
        }
    }

    /**
     * The GRU's recurrent product for one block of V units ({@code W_hh} packed {@code [H/V][H][3][V]},
     * the block's weights from {@code w[weights]}) over {@code rows} rows of h: r's and z's sums are
     * added to the gate rows ({@code gates[g0 + r·gateStride]}, layout [3][V]); n's,
     * {@code b_hn + W_hn h}, go to {@code hn[n0 + r·nStride]}. The n slot of the gate rows (the n
     * gate's input sum) is not touched. Rows are cut as {@link #halfPanelRows} cuts them, with 6-row
     * tiles only with {@link #WIDE_TILES} (18 accumulators), so that there no row from 6 rows on
     * takes a single-row pass (batch 7: 4 + 3, 3.5 % faster than 6 + 1; batch 9: 6 + 3, not
     * 4 + 4 + 1); with 16 registers 4-row tiles, then one tile of the 1–3 rows left.
     */
    static void gruRows(float[] w, int weights, int columns, float[] in, int in0, int inStride, int rows,
                        float[] gates, int g0, int gateStride, float[] bhn, int bias, float[] hn, int n0, int nStride) {
        int r = 0;
        for (int end = WIDE_TILES ? 6 * sixRowTilesBeforeFoursAndThree(rows) : 0; r < end; r += 6) {
            gruAccumulate6(w, weights, columns, in, in0 + r * inStride, inStride, gates, g0 + r * gateStride, gateStride,
                    bhn, bias, hn, n0 + r * nStride, nStride);
        }
        for (; r + 4 <= rows; r += 4) {
            gruAccumulate4(w, weights, columns, in, in0 + r * inStride, inStride, gates, g0 + r * gateStride, gateStride,
                    bhn, bias, hn, n0 + r * nStride, nStride);
        }
        int last = in0 + r * inStride;
        int lastGates = g0 + r * gateStride;
        int lastN = n0 + r * nStride;
        switch (rows - r) {
            case 3 -> gruAccumulate3(w, weights, columns, in, last, inStride, gates, lastGates, gateStride, bhn, bias,
                    hn, lastN, nStride);
            case 2 -> gruAccumulate2(w, weights, columns, in, last, inStride, gates, lastGates, gateStride, bhn, bias,
                    hn, lastN, nStride);
            case 1 -> gruAccumulate1(w, weights, columns, in, last, gates, lastGates, bhn, bias, hn, lastN);
            default -> { }
        }
    }

    /**
     * How many 6-row tiles {@link #panelRows} runs in the tail after its 5-row tiles, and the
     * backward's outer products over their columns ({@link GradientBlocks}); 4-row tiles take the
     * rest but for 1–3 rows (in panelRows one tile of them, in the outer products, which have no 3-
     * or 2-row tile, single columns). One 6-row tile fewer turns 8 into 4 + 4 and 9 into 4 + 4 + 1.
     * None without {@link #WIDE_TILES}: a 6-row tile of the outer products (24 accumulators) would
     * spill.
     */
    static int sixRowTiles(int rows) {
        if (!WIDE_TILES) {
            return 0;
        }
        int tiles = rows / 6;
        int rest = rows % 6;
        return (rest == 2 || rest == 3) && tiles > 0 ? tiles - 1 : tiles;
    }

    /**
     * How many 5-row tiles {@link #panelRows} uses for {@code rows} rows; the tail after them is 0,
     * 4, 6, 8 or 12 rows (from 4 rows on; 7 rows run as 5 + 2: 5 % faster than 6 + 1 at c's sizes),
     * which {@link #sixRowTiles} cuts into 6- and 4-row tiles with no single row left. The tail
     * itself holds no 5-row tile, so a call over the tail alone runs it in the same tiles.
     */
    static int fiveRowTiles(int rows) {
        if (!WIDE_TILES) {
            return 0;
        }
        int tiles = rows / 5;
        return switch (rows % 5) {
            case 1, 3 -> Math.max(0, tiles - 1);
            case 2 -> tiles >= 2 ? tiles - 2 : tiles;
            default -> tiles;
        };
    }

    /**
     * How many of {@code rows} rows {@link #panelRows} over all of them puts in its main tiles
     * (5-row tiles; without {@link #WIDE_TILES}, 6 × 2 half-panel tiles): a multiple of
     * {@link #MAIN_TILE}. The rows after them are the tail, whose tiles depend on how many they
     * are (8 rows: 4 + 4, not 5 + 1 + 1 + 1).
     */
    static int mainTileRows(int rows) {
        return mainTileRows(rows, WIDE_TILES);
    }

    /**
     * {@link #mainTileRows(int)} as it is with {@code wide} tiles or without. The rule without them
     * is a function of {@code rows} alone, so it is tested on every machine; with them it counts on
     * {@link #fiveRowTiles}, which is 0 where {@link #WIDE_TILES} is false.
     */
    static int mainTileRows(int rows, boolean wide) {
        return wide ? 5 * fiveRowTiles(rows) : 6 * sixRowTilesBeforeFoursAndThree(rows);
    }

    /**
     * How many 6-row tiles {@link #halfPanelRows} (6 × 2) and {@link #gruRows} run over {@code rows}
     * rows before 4-row tiles and at most one 3-row tile: one fewer where the rest would leave 1, 2
     * or 5 rows, so that 7 rows run as 4 + 3, 8 as 4 + 4 and 11 as 4 + 4 + 3 instead of leaving
     * single rows, each of which streams the whole panel once (d's 32 rows, one thread, 16
     * registers: 4.5 % of the time in the two single rows).
     */
    static int sixRowTilesBeforeFoursAndThree(int rows) {
        int tiles = rows / 6;
        int rest = rows % 6;
        return (rest == 1 || rest == 2 || rest == 5) && tiles > 0 ? tiles - 1 : tiles;
    }

    /**
     * {@link #panelRows} for CPUs with 16 vector registers: each half of the panel (2 of its 4
     * vectors) in 6-row tiles ({@link #accumulate6x2}: 12 accumulators, 2 weights and a broadcast
     * fit in 15 registers, {@link #sixRowTilesBeforeFoursAndThree} of them), the rest in 4-row tiles
     * and at most one 3-row tile; 2 rows in all go to {@link #accumulate2} (a whole panel: 8
     * accumulators fit), and {@link #accumulate1} takes only 1 or 5 rows in all (5 = 4 + 1). A
     * start other than the output rows themselves (see {@link #panelRows}) is copied into them
     * first; it must not overlap them.
     */
    static void halfPanelRows(float[] w, int weights, int columns, float[] in, int in0, int inStride, int rows,
                              float[] out, int out0, int outStride, float[] start, int start0, int startStride) {
        if (start != out || start0 != out0 || startStride != outStride) {
            // The half-panel tiles take no start: with three more arguments C2 kept the 6 × 2 loop
            // one general register short (a vmovq pair every column; d 3 % slower under
            // -XX:UseAVX=2), so the start rows are copied into the output rows first.
            for (int r = 0; r < rows; r++) {
                System.arraycopy(start, start0 + r * startStride, out, out0 + r * outStride, PANEL_WIDTH);
            }
        }
        int sixEnd = 6 * sixRowTilesBeforeFoursAndThree(rows);
        int rest = rows - sixEnd;
        int threes = rest % 4 == 3 ? 1 : 0;
        int fourEnd = sixEnd + 4 * ((rest - 3 * threes) / 4);
        int tiled = fourEnd + 3 * threes;
        for (int half = 0; half < PANEL; half += 2) {
            int wh = weights + half * LANES;
            int oh = out0 + half * LANES;
            int r = 0;
            for (; r < sixEnd; r += 6) {
                accumulate6x2(w, wh, columns, in, in0 + r * inStride, inStride, out, oh + r * outStride, outStride);
            }
            for (; r < fourEnd; r += 4) {
                accumulate4x2(w, wh, columns, in, in0 + r * inStride, inStride, out, oh + r * outStride, outStride);
            }
            if (r < tiled) {
                accumulate3x2(w, wh, columns, in, in0 + r * inStride, inStride, out, oh + r * outStride, outStride);
            }
        }
        int last = out0 + tiled * outStride;
        if (rows - tiled == 2) {
            accumulate2(w, weights, columns, in, in0 + tiled * inStride, inStride, out, last, outStride, out, last,
                    outStride);
        } else if (rows > tiled) {
            accumulate1(w, weights, columns, in, in0 + tiled * inStride, out, last, out, last);
        }
    }

    /**
     * Six rows × two vectors: {@code out[out_r .. out_r + 2V) += Σ_k in[in_r + k] · W[k][0..2V)}
     * with W's columns {@link #PANEL_WIDTH} apart (half a panel, starting at {@code w[weights]}).
     * Per column, two weight loads and six broadcasts feed twelve FMAs.
     */
    static void accumulate6x2(float[] w, int weights, int columns, float[] in, int in0, int inStride,
                              float[] out, int out0, int outStride) {
        int in1 = in0 + inStride;
        int in2 = in1 + inStride;
        int in3 = in2 + inStride;
        int in4 = in3 + inStride;
        int in5 = in4 + inStride;
        int out1 = out0 + outStride;
        int out2 = out1 + outStride;
        int out3 = out2 + outStride;
        int out4 = out3 + outStride;
        int out5 = out4 + outStride;
        FloatVector a00 = FloatVector.fromArray(SPECIES, out, out0);
        FloatVector a01 = FloatVector.fromArray(SPECIES, out, out0 + LANES);
        FloatVector a10 = FloatVector.fromArray(SPECIES, out, out1);
        FloatVector a11 = FloatVector.fromArray(SPECIES, out, out1 + LANES);
        FloatVector a20 = FloatVector.fromArray(SPECIES, out, out2);
        FloatVector a21 = FloatVector.fromArray(SPECIES, out, out2 + LANES);
        FloatVector a30 = FloatVector.fromArray(SPECIES, out, out3);
        FloatVector a31 = FloatVector.fromArray(SPECIES, out, out3 + LANES);
        FloatVector a40 = FloatVector.fromArray(SPECIES, out, out4);
        FloatVector a41 = FloatVector.fromArray(SPECIES, out, out4 + LANES);
        FloatVector a50 = FloatVector.fromArray(SPECIES, out, out5);
        FloatVector a51 = FloatVector.fromArray(SPECIES, out, out5 + LANES);
        for (int k = 0, p = weights; k < columns; k++, p += PANEL_WIDTH) {
            FloatVector w0 = FloatVector.fromArray(SPECIES, w, p);
            FloatVector w1 = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a00 = w0.fma(x, a00);
            a01 = w1.fma(x, a01);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a10 = w0.fma(x, a10);
            a11 = w1.fma(x, a11);
            x = FloatVector.broadcast(SPECIES, in[in2 + k]);
            a20 = w0.fma(x, a20);
            a21 = w1.fma(x, a21);
            x = FloatVector.broadcast(SPECIES, in[in3 + k]);
            a30 = w0.fma(x, a30);
            a31 = w1.fma(x, a31);
            x = FloatVector.broadcast(SPECIES, in[in4 + k]);
            a40 = w0.fma(x, a40);
            a41 = w1.fma(x, a41);
            x = FloatVector.broadcast(SPECIES, in[in5 + k]);
            a50 = w0.fma(x, a50);
            a51 = w1.fma(x, a51);
        }
        a00.intoArray(out, out0);
        a01.intoArray(out, out0 + LANES);
        a10.intoArray(out, out1);
        a11.intoArray(out, out1 + LANES);
        a20.intoArray(out, out2);
        a21.intoArray(out, out2 + LANES);
        a30.intoArray(out, out3);
        a31.intoArray(out, out3 + LANES);
        a40.intoArray(out, out4);
        a41.intoArray(out, out4 + LANES);
        a50.intoArray(out, out5);
        a51.intoArray(out, out5 + LANES);
    }

    /** {@link #accumulate6x2} for four rows, written out for the same reason as every tile. */
    static void accumulate4x2(float[] w, int weights, int columns, float[] in, int in0, int inStride,
                              float[] out, int out0, int outStride) {
        int in1 = in0 + inStride;
        int in2 = in1 + inStride;
        int in3 = in2 + inStride;
        int out1 = out0 + outStride;
        int out2 = out1 + outStride;
        int out3 = out2 + outStride;
        FloatVector a00 = FloatVector.fromArray(SPECIES, out, out0);
        FloatVector a01 = FloatVector.fromArray(SPECIES, out, out0 + LANES);
        FloatVector a10 = FloatVector.fromArray(SPECIES, out, out1);
        FloatVector a11 = FloatVector.fromArray(SPECIES, out, out1 + LANES);
        FloatVector a20 = FloatVector.fromArray(SPECIES, out, out2);
        FloatVector a21 = FloatVector.fromArray(SPECIES, out, out2 + LANES);
        FloatVector a30 = FloatVector.fromArray(SPECIES, out, out3);
        FloatVector a31 = FloatVector.fromArray(SPECIES, out, out3 + LANES);
        for (int k = 0, p = weights; k < columns; k++, p += PANEL_WIDTH) {
            FloatVector w0 = FloatVector.fromArray(SPECIES, w, p);
            FloatVector w1 = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a00 = w0.fma(x, a00);
            a01 = w1.fma(x, a01);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a10 = w0.fma(x, a10);
            a11 = w1.fma(x, a11);
            x = FloatVector.broadcast(SPECIES, in[in2 + k]);
            a20 = w0.fma(x, a20);
            a21 = w1.fma(x, a21);
            x = FloatVector.broadcast(SPECIES, in[in3 + k]);
            a30 = w0.fma(x, a30);
            a31 = w1.fma(x, a31);
        }
        a00.intoArray(out, out0);
        a01.intoArray(out, out0 + LANES);
        a10.intoArray(out, out1);
        a11.intoArray(out, out1 + LANES);
        a20.intoArray(out, out2);
        a21.intoArray(out, out2 + LANES);
        a30.intoArray(out, out3);
        a31.intoArray(out, out3 + LANES);
    }

    /** {@link #accumulate6x2} for three rows, written out for the same reason as every tile. */
    static void accumulate3x2(float[] w, int weights, int columns, float[] in, int in0, int inStride,
                              float[] out, int out0, int outStride) {
        int in1 = in0 + inStride;
        int in2 = in1 + inStride;
        int out1 = out0 + outStride;
        int out2 = out1 + outStride;
        FloatVector a00 = FloatVector.fromArray(SPECIES, out, out0);
        FloatVector a01 = FloatVector.fromArray(SPECIES, out, out0 + LANES);
        FloatVector a10 = FloatVector.fromArray(SPECIES, out, out1);
        FloatVector a11 = FloatVector.fromArray(SPECIES, out, out1 + LANES);
        FloatVector a20 = FloatVector.fromArray(SPECIES, out, out2);
        FloatVector a21 = FloatVector.fromArray(SPECIES, out, out2 + LANES);
        for (int k = 0, p = weights; k < columns; k++, p += PANEL_WIDTH) {
            FloatVector w0 = FloatVector.fromArray(SPECIES, w, p);
            FloatVector w1 = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a00 = w0.fma(x, a00);
            a01 = w1.fma(x, a01);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a10 = w0.fma(x, a10);
            a11 = w1.fma(x, a11);
            x = FloatVector.broadcast(SPECIES, in[in2 + k]);
            a20 = w0.fma(x, a20);
            a21 = w1.fma(x, a21);
        }
        a00.intoArray(out, out0);
        a01.intoArray(out, out0 + LANES);
        a10.intoArray(out, out1);
        a11.intoArray(out, out1 + LANES);
        a20.intoArray(out, out2);
        a21.intoArray(out, out2 + LANES);
    }

    /**
     * For four rows r: {@code out[out_r .. out_r + 4V) = start[start_r .. start_r + 4V) +
     * Σ_k in[in_r + k] · W[panel][k][·][·]}, where {@code in_r = in0 + r·inStride},
     * {@code out_r = out0 + r·outStride}, {@code start_r = start0 + r·startStride} (the output
     * itself to accumulate, a bias row with stride 0 to begin a projection), and the panel's weights
     * start at {@code w[weights]} and span {@code columns} columns. Per column, four weight loads and
     * four broadcasts feed sixteen FMAs.
     */
    static void accumulate4(float[] w, int weights, int columns, float[] in, int in0, int inStride,
                            float[] out, int out0, int outStride, float[] start, int start0, int startStride) {
        int in1 = in0 + inStride;
        int in2 = in1 + inStride;
        int in3 = in2 + inStride;
        int out1 = out0 + outStride;
        int out2 = out1 + outStride;
        int out3 = out2 + outStride;
        int start1 = start0 + startStride;
        int start2 = start1 + startStride;
        int start3 = start2 + startStride;
        FloatVector a00 = FloatVector.fromArray(SPECIES, start, start0);
        FloatVector a01 = FloatVector.fromArray(SPECIES, start, start0 + LANES);
        FloatVector a02 = FloatVector.fromArray(SPECIES, start, start0 + 2 * LANES);
        FloatVector a03 = FloatVector.fromArray(SPECIES, start, start0 + 3 * LANES);
        FloatVector a10 = FloatVector.fromArray(SPECIES, start, start1);
        FloatVector a11 = FloatVector.fromArray(SPECIES, start, start1 + LANES);
        FloatVector a12 = FloatVector.fromArray(SPECIES, start, start1 + 2 * LANES);
        FloatVector a13 = FloatVector.fromArray(SPECIES, start, start1 + 3 * LANES);
        FloatVector a20 = FloatVector.fromArray(SPECIES, start, start2);
        FloatVector a21 = FloatVector.fromArray(SPECIES, start, start2 + LANES);
        FloatVector a22 = FloatVector.fromArray(SPECIES, start, start2 + 2 * LANES);
        FloatVector a23 = FloatVector.fromArray(SPECIES, start, start2 + 3 * LANES);
        FloatVector a30 = FloatVector.fromArray(SPECIES, start, start3);
        FloatVector a31 = FloatVector.fromArray(SPECIES, start, start3 + LANES);
        FloatVector a32 = FloatVector.fromArray(SPECIES, start, start3 + 2 * LANES);
        FloatVector a33 = FloatVector.fromArray(SPECIES, start, start3 + 3 * LANES);
        for (int k = 0, p = weights; k < columns; k++, p += PANEL_WIDTH) {
            FloatVector w0 = FloatVector.fromArray(SPECIES, w, p);
            FloatVector w1 = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector w2 = FloatVector.fromArray(SPECIES, w, p + 2 * LANES);
            FloatVector w3 = FloatVector.fromArray(SPECIES, w, p + 3 * LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a00 = w0.fma(x, a00);
            a01 = w1.fma(x, a01);
            a02 = w2.fma(x, a02);
            a03 = w3.fma(x, a03);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a10 = w0.fma(x, a10);
            a11 = w1.fma(x, a11);
            a12 = w2.fma(x, a12);
            a13 = w3.fma(x, a13);
            x = FloatVector.broadcast(SPECIES, in[in2 + k]);
            a20 = w0.fma(x, a20);
            a21 = w1.fma(x, a21);
            a22 = w2.fma(x, a22);
            a23 = w3.fma(x, a23);
            x = FloatVector.broadcast(SPECIES, in[in3 + k]);
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
     * {@link #accumulate4} for three rows (12 accumulators): batches of 3, which single-row passes
     * ran as three streams of the panel (c's sizes at batch 3: 1.5 × oneDNN). Sums in the order of
     * every multi-row tile, so a row's bits do not depend on which of them it went to.
     */
    static void accumulate3(float[] w, int weights, int columns, float[] in, int in0, int inStride,
                            float[] out, int out0, int outStride, float[] start, int start0, int startStride) {
        int in1 = in0 + inStride;
        int in2 = in1 + inStride;
        int out1 = out0 + outStride;
        int out2 = out1 + outStride;
        int start1 = start0 + startStride;
        int start2 = start1 + startStride;
        FloatVector a00 = FloatVector.fromArray(SPECIES, start, start0);
        FloatVector a01 = FloatVector.fromArray(SPECIES, start, start0 + LANES);
        FloatVector a02 = FloatVector.fromArray(SPECIES, start, start0 + 2 * LANES);
        FloatVector a03 = FloatVector.fromArray(SPECIES, start, start0 + 3 * LANES);
        FloatVector a10 = FloatVector.fromArray(SPECIES, start, start1);
        FloatVector a11 = FloatVector.fromArray(SPECIES, start, start1 + LANES);
        FloatVector a12 = FloatVector.fromArray(SPECIES, start, start1 + 2 * LANES);
        FloatVector a13 = FloatVector.fromArray(SPECIES, start, start1 + 3 * LANES);
        FloatVector a20 = FloatVector.fromArray(SPECIES, start, start2);
        FloatVector a21 = FloatVector.fromArray(SPECIES, start, start2 + LANES);
        FloatVector a22 = FloatVector.fromArray(SPECIES, start, start2 + 2 * LANES);
        FloatVector a23 = FloatVector.fromArray(SPECIES, start, start2 + 3 * LANES);
        for (int k = 0, p = weights; k < columns; k++, p += PANEL_WIDTH) {
            FloatVector w0 = FloatVector.fromArray(SPECIES, w, p);
            FloatVector w1 = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector w2 = FloatVector.fromArray(SPECIES, w, p + 2 * LANES);
            FloatVector w3 = FloatVector.fromArray(SPECIES, w, p + 3 * LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a00 = w0.fma(x, a00);
            a01 = w1.fma(x, a01);
            a02 = w2.fma(x, a02);
            a03 = w3.fma(x, a03);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a10 = w0.fma(x, a10);
            a11 = w1.fma(x, a11);
            a12 = w2.fma(x, a12);
            a13 = w3.fma(x, a13);
            x = FloatVector.broadcast(SPECIES, in[in2 + k]);
            a20 = w0.fma(x, a20);
            a21 = w1.fma(x, a21);
            a22 = w2.fma(x, a22);
            a23 = w3.fma(x, a23);
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
    }

    /**
     * {@link #accumulate4} for two rows (8 accumulators, which also fit 16 vector registers with the
     * 4 weights and a broadcast: {@link #halfPanelRows} uses it too). Sums as {@link #accumulate3}.
     */
    static void accumulate2(float[] w, int weights, int columns, float[] in, int in0, int inStride,
                            float[] out, int out0, int outStride, float[] start, int start0, int startStride) {
        int in1 = in0 + inStride;
        int out1 = out0 + outStride;
        int start1 = start0 + startStride;
        FloatVector a00 = FloatVector.fromArray(SPECIES, start, start0);
        FloatVector a01 = FloatVector.fromArray(SPECIES, start, start0 + LANES);
        FloatVector a02 = FloatVector.fromArray(SPECIES, start, start0 + 2 * LANES);
        FloatVector a03 = FloatVector.fromArray(SPECIES, start, start0 + 3 * LANES);
        FloatVector a10 = FloatVector.fromArray(SPECIES, start, start1);
        FloatVector a11 = FloatVector.fromArray(SPECIES, start, start1 + LANES);
        FloatVector a12 = FloatVector.fromArray(SPECIES, start, start1 + 2 * LANES);
        FloatVector a13 = FloatVector.fromArray(SPECIES, start, start1 + 3 * LANES);
        for (int k = 0, p = weights; k < columns; k++, p += PANEL_WIDTH) {
            FloatVector w0 = FloatVector.fromArray(SPECIES, w, p);
            FloatVector w1 = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector w2 = FloatVector.fromArray(SPECIES, w, p + 2 * LANES);
            FloatVector w3 = FloatVector.fromArray(SPECIES, w, p + 3 * LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a00 = w0.fma(x, a00);
            a01 = w1.fma(x, a01);
            a02 = w2.fma(x, a02);
            a03 = w3.fma(x, a03);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a10 = w0.fma(x, a10);
            a11 = w1.fma(x, a11);
            a12 = w2.fma(x, a12);
            a13 = w3.fma(x, a13);
        }
        a00.intoArray(out, out0);
        a01.intoArray(out, out0 + LANES);
        a02.intoArray(out, out0 + 2 * LANES);
        a03.intoArray(out, out0 + 3 * LANES);
        a10.intoArray(out, out1);
        a11.intoArray(out, out1 + LANES);
        a12.intoArray(out, out1 + 2 * LANES);
        a13.intoArray(out, out1 + 3 * LANES);
    }

    /**
     * {@link #accumulate4} with a 5-row tile (20 accumulators), the tile {@link #panelRows} runs most
     * rows in on CPUs with 32 vector registers: on Zen 4 it ran at 90–98 % of the FMA peak where the
     * 6- and 4-row tiles ran at 86–94 % (GEMMs of 60 rows, K = 80…1 024; README, measured
     * results). The 6-row tile leaves C2 one general register short: it parks the weight array's
     * base in a vector register and takes it back every column.
     */
    static void accumulate5(float[] w, int weights, int columns, float[] in, int in0, int inStride,
                            float[] out, int out0, int outStride, float[] start, int start0, int startStride) {
        int in1 = in0 + inStride;
        int in2 = in1 + inStride;
        int in3 = in2 + inStride;
        int in4 = in3 + inStride;
        int out1 = out0 + outStride;
        int out2 = out1 + outStride;
        int out3 = out2 + outStride;
        int out4 = out3 + outStride;
        int start1 = start0 + startStride;
        int start2 = start1 + startStride;
        int start3 = start2 + startStride;
        int start4 = start3 + startStride;
        FloatVector a00 = FloatVector.fromArray(SPECIES, start, start0);
        FloatVector a01 = FloatVector.fromArray(SPECIES, start, start0 + LANES);
        FloatVector a02 = FloatVector.fromArray(SPECIES, start, start0 + 2 * LANES);
        FloatVector a03 = FloatVector.fromArray(SPECIES, start, start0 + 3 * LANES);
        FloatVector a10 = FloatVector.fromArray(SPECIES, start, start1);
        FloatVector a11 = FloatVector.fromArray(SPECIES, start, start1 + LANES);
        FloatVector a12 = FloatVector.fromArray(SPECIES, start, start1 + 2 * LANES);
        FloatVector a13 = FloatVector.fromArray(SPECIES, start, start1 + 3 * LANES);
        FloatVector a20 = FloatVector.fromArray(SPECIES, start, start2);
        FloatVector a21 = FloatVector.fromArray(SPECIES, start, start2 + LANES);
        FloatVector a22 = FloatVector.fromArray(SPECIES, start, start2 + 2 * LANES);
        FloatVector a23 = FloatVector.fromArray(SPECIES, start, start2 + 3 * LANES);
        FloatVector a30 = FloatVector.fromArray(SPECIES, start, start3);
        FloatVector a31 = FloatVector.fromArray(SPECIES, start, start3 + LANES);
        FloatVector a32 = FloatVector.fromArray(SPECIES, start, start3 + 2 * LANES);
        FloatVector a33 = FloatVector.fromArray(SPECIES, start, start3 + 3 * LANES);
        FloatVector a40 = FloatVector.fromArray(SPECIES, start, start4);
        FloatVector a41 = FloatVector.fromArray(SPECIES, start, start4 + LANES);
        FloatVector a42 = FloatVector.fromArray(SPECIES, start, start4 + 2 * LANES);
        FloatVector a43 = FloatVector.fromArray(SPECIES, start, start4 + 3 * LANES);
        for (int k = 0, p = weights; k < columns; k++, p += PANEL_WIDTH) {
            FloatVector w0 = FloatVector.fromArray(SPECIES, w, p);
            FloatVector w1 = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector w2 = FloatVector.fromArray(SPECIES, w, p + 2 * LANES);
            FloatVector w3 = FloatVector.fromArray(SPECIES, w, p + 3 * LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a00 = w0.fma(x, a00);
            a01 = w1.fma(x, a01);
            a02 = w2.fma(x, a02);
            a03 = w3.fma(x, a03);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a10 = w0.fma(x, a10);
            a11 = w1.fma(x, a11);
            a12 = w2.fma(x, a12);
            a13 = w3.fma(x, a13);
            x = FloatVector.broadcast(SPECIES, in[in2 + k]);
            a20 = w0.fma(x, a20);
            a21 = w1.fma(x, a21);
            a22 = w2.fma(x, a22);
            a23 = w3.fma(x, a23);
            x = FloatVector.broadcast(SPECIES, in[in3 + k]);
            a30 = w0.fma(x, a30);
            a31 = w1.fma(x, a31);
            a32 = w2.fma(x, a32);
            a33 = w3.fma(x, a33);
            x = FloatVector.broadcast(SPECIES, in[in4 + k]);
            a40 = w0.fma(x, a40);
            a41 = w1.fma(x, a41);
            a42 = w2.fma(x, a42);
            a43 = w3.fma(x, a43);
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
    }

    /**
     * {@link #accumulate4} with a 6-row tile: 24 accumulators, for CPUs with 32 vector registers.
     * The same loop at another tile height, written out again on purpose (see the class comment).
     */
    static void accumulate6(float[] w, int weights, int columns, float[] in, int in0, int inStride,
                            float[] out, int out0, int outStride, float[] start, int start0, int startStride) {
        int in1 = in0 + inStride;
        int in2 = in1 + inStride;
        int in3 = in2 + inStride;
        int in4 = in3 + inStride;
        int in5 = in4 + inStride;
        int out1 = out0 + outStride;
        int out2 = out1 + outStride;
        int out3 = out2 + outStride;
        int out4 = out3 + outStride;
        int out5 = out4 + outStride;
        int start1 = start0 + startStride;
        int start2 = start1 + startStride;
        int start3 = start2 + startStride;
        int start4 = start3 + startStride;
        int start5 = start4 + startStride;
        FloatVector a00 = FloatVector.fromArray(SPECIES, start, start0);
        FloatVector a01 = FloatVector.fromArray(SPECIES, start, start0 + LANES);
        FloatVector a02 = FloatVector.fromArray(SPECIES, start, start0 + 2 * LANES);
        FloatVector a03 = FloatVector.fromArray(SPECIES, start, start0 + 3 * LANES);
        FloatVector a10 = FloatVector.fromArray(SPECIES, start, start1);
        FloatVector a11 = FloatVector.fromArray(SPECIES, start, start1 + LANES);
        FloatVector a12 = FloatVector.fromArray(SPECIES, start, start1 + 2 * LANES);
        FloatVector a13 = FloatVector.fromArray(SPECIES, start, start1 + 3 * LANES);
        FloatVector a20 = FloatVector.fromArray(SPECIES, start, start2);
        FloatVector a21 = FloatVector.fromArray(SPECIES, start, start2 + LANES);
        FloatVector a22 = FloatVector.fromArray(SPECIES, start, start2 + 2 * LANES);
        FloatVector a23 = FloatVector.fromArray(SPECIES, start, start2 + 3 * LANES);
        FloatVector a30 = FloatVector.fromArray(SPECIES, start, start3);
        FloatVector a31 = FloatVector.fromArray(SPECIES, start, start3 + LANES);
        FloatVector a32 = FloatVector.fromArray(SPECIES, start, start3 + 2 * LANES);
        FloatVector a33 = FloatVector.fromArray(SPECIES, start, start3 + 3 * LANES);
        FloatVector a40 = FloatVector.fromArray(SPECIES, start, start4);
        FloatVector a41 = FloatVector.fromArray(SPECIES, start, start4 + LANES);
        FloatVector a42 = FloatVector.fromArray(SPECIES, start, start4 + 2 * LANES);
        FloatVector a43 = FloatVector.fromArray(SPECIES, start, start4 + 3 * LANES);
        FloatVector a50 = FloatVector.fromArray(SPECIES, start, start5);
        FloatVector a51 = FloatVector.fromArray(SPECIES, start, start5 + LANES);
        FloatVector a52 = FloatVector.fromArray(SPECIES, start, start5 + 2 * LANES);
        FloatVector a53 = FloatVector.fromArray(SPECIES, start, start5 + 3 * LANES);
        for (int k = 0, p = weights; k < columns; k++, p += PANEL_WIDTH) {
            FloatVector w0 = FloatVector.fromArray(SPECIES, w, p);
            FloatVector w1 = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector w2 = FloatVector.fromArray(SPECIES, w, p + 2 * LANES);
            FloatVector w3 = FloatVector.fromArray(SPECIES, w, p + 3 * LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a00 = w0.fma(x, a00);
            a01 = w1.fma(x, a01);
            a02 = w2.fma(x, a02);
            a03 = w3.fma(x, a03);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a10 = w0.fma(x, a10);
            a11 = w1.fma(x, a11);
            a12 = w2.fma(x, a12);
            a13 = w3.fma(x, a13);
            x = FloatVector.broadcast(SPECIES, in[in2 + k]);
            a20 = w0.fma(x, a20);
            a21 = w1.fma(x, a21);
            a22 = w2.fma(x, a22);
            a23 = w3.fma(x, a23);
            x = FloatVector.broadcast(SPECIES, in[in3 + k]);
            a30 = w0.fma(x, a30);
            a31 = w1.fma(x, a31);
            a32 = w2.fma(x, a32);
            a33 = w3.fma(x, a33);
            x = FloatVector.broadcast(SPECIES, in[in4 + k]);
            a40 = w0.fma(x, a40);
            a41 = w1.fma(x, a41);
            a42 = w2.fma(x, a42);
            a43 = w3.fma(x, a43);
            x = FloatVector.broadcast(SPECIES, in[in5 + k]);
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

    /**
     * The one-row form of {@link #accumulate4}. Two independent sets of accumulators (even and odd
     * columns) keep eight FMA chains in flight, so the loop is limited by the weight stream rather
     * than by FMA latency.
     */
    static void accumulate1(float[] w, int weights, int columns, float[] in, int in0, float[] out, int out0, float[] start,
                            int start0) {
        FloatVector e0 = FloatVector.fromArray(SPECIES, start, start0);
        FloatVector e1 = FloatVector.fromArray(SPECIES, start, start0 + LANES);
        FloatVector e2 = FloatVector.fromArray(SPECIES, start, start0 + 2 * LANES);
        FloatVector e3 = FloatVector.fromArray(SPECIES, start, start0 + 3 * LANES);
        FloatVector o0 = FloatVector.zero(SPECIES);
        FloatVector o1 = FloatVector.zero(SPECIES);
        FloatVector o2 = FloatVector.zero(SPECIES);
        FloatVector o3 = FloatVector.zero(SPECIES);
        int k = 0;
        int p = weights;
        for (; k + 1 < columns; k += 2, p += 2 * PANEL_WIDTH) {
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            e0 = FloatVector.fromArray(SPECIES, w, p).fma(x, e0);
            e1 = FloatVector.fromArray(SPECIES, w, p + LANES).fma(x, e1);
            e2 = FloatVector.fromArray(SPECIES, w, p + 2 * LANES).fma(x, e2);
            e3 = FloatVector.fromArray(SPECIES, w, p + 3 * LANES).fma(x, e3);
            FloatVector y = FloatVector.broadcast(SPECIES, in[in0 + k + 1]);
            o0 = FloatVector.fromArray(SPECIES, w, p + PANEL_WIDTH).fma(y, o0);
            o1 = FloatVector.fromArray(SPECIES, w, p + PANEL_WIDTH + LANES).fma(y, o1);
            o2 = FloatVector.fromArray(SPECIES, w, p + PANEL_WIDTH + 2 * LANES).fma(y, o2);
            o3 = FloatVector.fromArray(SPECIES, w, p + PANEL_WIDTH + 3 * LANES).fma(y, o3);
        }
        if (k < columns) {
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            e0 = FloatVector.fromArray(SPECIES, w, p).fma(x, e0);
            e1 = FloatVector.fromArray(SPECIES, w, p + LANES).fma(x, e1);
            e2 = FloatVector.fromArray(SPECIES, w, p + 2 * LANES).fma(x, e2);
            e3 = FloatVector.fromArray(SPECIES, w, p + 3 * LANES).fma(x, e3);
        }
        e0.add(o0).intoArray(out, out0);
        e1.add(o1).intoArray(out, out0 + LANES);
        e2.add(o2).intoArray(out, out0 + 2 * LANES);
        e3.add(o3).intoArray(out, out0 + 3 * LANES);
    }

    /**
     * The GRU's three-gate tile for four rows (see {@link #gruRows}): r and z accumulate onto the
     * gate rows, n starts from {@code b_hn} ({@code bhn[bias]}) and goes to {@code hn}. Per column,
     * three weight loads and four broadcasts feed twelve FMAs.
     */
    static void gruAccumulate4(float[] w, int weights, int columns, float[] in, int in0, int inStride,
                               float[] gates, int g0, int gateStride, float[] bhn, int bias,
                               float[] hn, int n0, int nStride) {
        int in1 = in0 + inStride;
        int in2 = in1 + inStride;
        int in3 = in2 + inStride;
        int g1 = g0 + gateStride;
        int g2 = g1 + gateStride;
        int g3 = g2 + gateStride;
        int n1 = n0 + nStride;
        int n2 = n1 + nStride;
        int n3 = n2 + nStride;
        FloatVector recurrentBias = FloatVector.fromArray(SPECIES, bhn, bias);
        FloatVector a0r = FloatVector.fromArray(SPECIES, gates, g0);
        FloatVector a0z = FloatVector.fromArray(SPECIES, gates, g0 + LANES);
        FloatVector a0n = recurrentBias;
        FloatVector a1r = FloatVector.fromArray(SPECIES, gates, g1);
        FloatVector a1z = FloatVector.fromArray(SPECIES, gates, g1 + LANES);
        FloatVector a1n = recurrentBias;
        FloatVector a2r = FloatVector.fromArray(SPECIES, gates, g2);
        FloatVector a2z = FloatVector.fromArray(SPECIES, gates, g2 + LANES);
        FloatVector a2n = recurrentBias;
        FloatVector a3r = FloatVector.fromArray(SPECIES, gates, g3);
        FloatVector a3z = FloatVector.fromArray(SPECIES, gates, g3 + LANES);
        FloatVector a3n = recurrentBias;
        for (int k = 0, p = weights; k < columns; k++, p += GRU_STRIDE) {
            FloatVector wr = FloatVector.fromArray(SPECIES, w, p);
            FloatVector wz = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector wn = FloatVector.fromArray(SPECIES, w, p + 2 * LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a0r = wr.fma(x, a0r);
            a0z = wz.fma(x, a0z);
            a0n = wn.fma(x, a0n);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a1r = wr.fma(x, a1r);
            a1z = wz.fma(x, a1z);
            a1n = wn.fma(x, a1n);
            x = FloatVector.broadcast(SPECIES, in[in2 + k]);
            a2r = wr.fma(x, a2r);
            a2z = wz.fma(x, a2z);
            a2n = wn.fma(x, a2n);
            x = FloatVector.broadcast(SPECIES, in[in3 + k]);
            a3r = wr.fma(x, a3r);
            a3z = wz.fma(x, a3z);
            a3n = wn.fma(x, a3n);
        }
        a0r.intoArray(gates, g0);
        a0z.intoArray(gates, g0 + LANES);
        a0n.intoArray(hn, n0);
        a1r.intoArray(gates, g1);
        a1z.intoArray(gates, g1 + LANES);
        a1n.intoArray(hn, n1);
        a2r.intoArray(gates, g2);
        a2z.intoArray(gates, g2 + LANES);
        a2n.intoArray(hn, n2);
        a3r.intoArray(gates, g3);
        a3z.intoArray(gates, g3 + LANES);
        a3n.intoArray(hn, n3);
    }

    /** {@link #gruAccumulate4} for three rows (9 accumulators, 13 registers: fits 16), as {@link #accumulate3}. */
    static void gruAccumulate3(float[] w, int weights, int columns, float[] in, int in0, int inStride,
                               float[] gates, int g0, int gateStride, float[] bhn, int bias,
                               float[] hn, int n0, int nStride) {
        int in1 = in0 + inStride;
        int in2 = in1 + inStride;
        int g1 = g0 + gateStride;
        int g2 = g1 + gateStride;
        int n1 = n0 + nStride;
        int n2 = n1 + nStride;
        FloatVector recurrentBias = FloatVector.fromArray(SPECIES, bhn, bias);
        FloatVector a0r = FloatVector.fromArray(SPECIES, gates, g0);
        FloatVector a0z = FloatVector.fromArray(SPECIES, gates, g0 + LANES);
        FloatVector a0n = recurrentBias;
        FloatVector a1r = FloatVector.fromArray(SPECIES, gates, g1);
        FloatVector a1z = FloatVector.fromArray(SPECIES, gates, g1 + LANES);
        FloatVector a1n = recurrentBias;
        FloatVector a2r = FloatVector.fromArray(SPECIES, gates, g2);
        FloatVector a2z = FloatVector.fromArray(SPECIES, gates, g2 + LANES);
        FloatVector a2n = recurrentBias;
        for (int k = 0, p = weights; k < columns; k++, p += GRU_STRIDE) {
            FloatVector wr = FloatVector.fromArray(SPECIES, w, p);
            FloatVector wz = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector wn = FloatVector.fromArray(SPECIES, w, p + 2 * LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a0r = wr.fma(x, a0r);
            a0z = wz.fma(x, a0z);
            a0n = wn.fma(x, a0n);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a1r = wr.fma(x, a1r);
            a1z = wz.fma(x, a1z);
            a1n = wn.fma(x, a1n);
            x = FloatVector.broadcast(SPECIES, in[in2 + k]);
            a2r = wr.fma(x, a2r);
            a2z = wz.fma(x, a2z);
            a2n = wn.fma(x, a2n);
        }
        a0r.intoArray(gates, g0);
        a0z.intoArray(gates, g0 + LANES);
        a0n.intoArray(hn, n0);
        a1r.intoArray(gates, g1);
        a1z.intoArray(gates, g1 + LANES);
        a1n.intoArray(hn, n1);
        a2r.intoArray(gates, g2);
        a2z.intoArray(gates, g2 + LANES);
        a2n.intoArray(hn, n2);
    }

    /** {@link #gruAccumulate4} for two rows. */
    static void gruAccumulate2(float[] w, int weights, int columns, float[] in, int in0, int inStride,
                               float[] gates, int g0, int gateStride, float[] bhn, int bias,
                               float[] hn, int n0, int nStride) {
        int in1 = in0 + inStride;
        int g1 = g0 + gateStride;
        int n1 = n0 + nStride;
        FloatVector recurrentBias = FloatVector.fromArray(SPECIES, bhn, bias);
        FloatVector a0r = FloatVector.fromArray(SPECIES, gates, g0);
        FloatVector a0z = FloatVector.fromArray(SPECIES, gates, g0 + LANES);
        FloatVector a0n = recurrentBias;
        FloatVector a1r = FloatVector.fromArray(SPECIES, gates, g1);
        FloatVector a1z = FloatVector.fromArray(SPECIES, gates, g1 + LANES);
        FloatVector a1n = recurrentBias;
        for (int k = 0, p = weights; k < columns; k++, p += GRU_STRIDE) {
            FloatVector wr = FloatVector.fromArray(SPECIES, w, p);
            FloatVector wz = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector wn = FloatVector.fromArray(SPECIES, w, p + 2 * LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a0r = wr.fma(x, a0r);
            a0z = wz.fma(x, a0z);
            a0n = wn.fma(x, a0n);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a1r = wr.fma(x, a1r);
            a1z = wz.fma(x, a1z);
            a1n = wn.fma(x, a1n);
        }
        a0r.intoArray(gates, g0);
        a0z.intoArray(gates, g0 + LANES);
        a0n.intoArray(hn, n0);
        a1r.intoArray(gates, g1);
        a1z.intoArray(gates, g1 + LANES);
        a1n.intoArray(hn, n1);
    }

    /** {@link #gruAccumulate4} with a 6-row tile (18 accumulators), written out for the same reason. */
    static void gruAccumulate6(float[] w, int weights, int columns, float[] in, int in0, int inStride,
                               float[] gates, int g0, int gateStride, float[] bhn, int bias,
                               float[] hn, int n0, int nStride) {
        int in1 = in0 + inStride;
        int in2 = in1 + inStride;
        int in3 = in2 + inStride;
        int in4 = in3 + inStride;
        int in5 = in4 + inStride;
        int g1 = g0 + gateStride;
        int g2 = g1 + gateStride;
        int g3 = g2 + gateStride;
        int g4 = g3 + gateStride;
        int g5 = g4 + gateStride;
        int n1 = n0 + nStride;
        int n2 = n1 + nStride;
        int n3 = n2 + nStride;
        int n4 = n3 + nStride;
        int n5 = n4 + nStride;
        FloatVector recurrentBias = FloatVector.fromArray(SPECIES, bhn, bias);
        FloatVector a0r = FloatVector.fromArray(SPECIES, gates, g0);
        FloatVector a0z = FloatVector.fromArray(SPECIES, gates, g0 + LANES);
        FloatVector a0n = recurrentBias;
        FloatVector a1r = FloatVector.fromArray(SPECIES, gates, g1);
        FloatVector a1z = FloatVector.fromArray(SPECIES, gates, g1 + LANES);
        FloatVector a1n = recurrentBias;
        FloatVector a2r = FloatVector.fromArray(SPECIES, gates, g2);
        FloatVector a2z = FloatVector.fromArray(SPECIES, gates, g2 + LANES);
        FloatVector a2n = recurrentBias;
        FloatVector a3r = FloatVector.fromArray(SPECIES, gates, g3);
        FloatVector a3z = FloatVector.fromArray(SPECIES, gates, g3 + LANES);
        FloatVector a3n = recurrentBias;
        FloatVector a4r = FloatVector.fromArray(SPECIES, gates, g4);
        FloatVector a4z = FloatVector.fromArray(SPECIES, gates, g4 + LANES);
        FloatVector a4n = recurrentBias;
        FloatVector a5r = FloatVector.fromArray(SPECIES, gates, g5);
        FloatVector a5z = FloatVector.fromArray(SPECIES, gates, g5 + LANES);
        FloatVector a5n = recurrentBias;
        for (int k = 0, p = weights; k < columns; k++, p += GRU_STRIDE) {
            FloatVector wr = FloatVector.fromArray(SPECIES, w, p);
            FloatVector wz = FloatVector.fromArray(SPECIES, w, p + LANES);
            FloatVector wn = FloatVector.fromArray(SPECIES, w, p + 2 * LANES);
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            a0r = wr.fma(x, a0r);
            a0z = wz.fma(x, a0z);
            a0n = wn.fma(x, a0n);
            x = FloatVector.broadcast(SPECIES, in[in1 + k]);
            a1r = wr.fma(x, a1r);
            a1z = wz.fma(x, a1z);
            a1n = wn.fma(x, a1n);
            x = FloatVector.broadcast(SPECIES, in[in2 + k]);
            a2r = wr.fma(x, a2r);
            a2z = wz.fma(x, a2z);
            a2n = wn.fma(x, a2n);
            x = FloatVector.broadcast(SPECIES, in[in3 + k]);
            a3r = wr.fma(x, a3r);
            a3z = wz.fma(x, a3z);
            a3n = wn.fma(x, a3n);
            x = FloatVector.broadcast(SPECIES, in[in4 + k]);
            a4r = wr.fma(x, a4r);
            a4z = wz.fma(x, a4z);
            a4n = wn.fma(x, a4n);
            x = FloatVector.broadcast(SPECIES, in[in5 + k]);
            a5r = wr.fma(x, a5r);
            a5z = wz.fma(x, a5z);
            a5n = wn.fma(x, a5n);
        }
        a0r.intoArray(gates, g0);
        a0z.intoArray(gates, g0 + LANES);
        a0n.intoArray(hn, n0);
        a1r.intoArray(gates, g1);
        a1z.intoArray(gates, g1 + LANES);
        a1n.intoArray(hn, n1);
        a2r.intoArray(gates, g2);
        a2z.intoArray(gates, g2 + LANES);
        a2n.intoArray(hn, n2);
        a3r.intoArray(gates, g3);
        a3z.intoArray(gates, g3 + LANES);
        a3n.intoArray(hn, n3);
        a4r.intoArray(gates, g4);
        a4z.intoArray(gates, g4 + LANES);
        a4n.intoArray(hn, n4);
        a5r.intoArray(gates, g5);
        a5z.intoArray(gates, g5 + LANES);
        a5n.intoArray(hn, n5);
    }

    /** The one-row form of {@link #gruAccumulate4}, with even and odd columns in separate chains as in {@link #accumulate1}. */
    static void gruAccumulate1(float[] w, int weights, int columns, float[] in, int in0, float[] gates, int g0,
                               float[] bhn, int bias, float[] hn, int n0) {
        FloatVector er = FloatVector.fromArray(SPECIES, gates, g0);
        FloatVector ez = FloatVector.fromArray(SPECIES, gates, g0 + LANES);
        FloatVector en = FloatVector.fromArray(SPECIES, bhn, bias);
        FloatVector or = FloatVector.zero(SPECIES);
        FloatVector oz = FloatVector.zero(SPECIES);
        FloatVector on = FloatVector.zero(SPECIES);
        int k = 0;
        int p = weights;
        for (; k + 1 < columns; k += 2, p += 2 * GRU_STRIDE) {
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            er = FloatVector.fromArray(SPECIES, w, p).fma(x, er);
            ez = FloatVector.fromArray(SPECIES, w, p + LANES).fma(x, ez);
            en = FloatVector.fromArray(SPECIES, w, p + 2 * LANES).fma(x, en);
            FloatVector y = FloatVector.broadcast(SPECIES, in[in0 + k + 1]);
            or = FloatVector.fromArray(SPECIES, w, p + GRU_STRIDE).fma(y, or);
            oz = FloatVector.fromArray(SPECIES, w, p + GRU_STRIDE + LANES).fma(y, oz);
            on = FloatVector.fromArray(SPECIES, w, p + GRU_STRIDE + 2 * LANES).fma(y, on);
        }
        if (k < columns) {
            FloatVector x = FloatVector.broadcast(SPECIES, in[in0 + k]);
            er = FloatVector.fromArray(SPECIES, w, p).fma(x, er);
            ez = FloatVector.fromArray(SPECIES, w, p + LANES).fma(x, ez);
            en = FloatVector.fromArray(SPECIES, w, p + 2 * LANES).fma(x, en);
        }
        er.add(or).intoArray(gates, g0);
        ez.add(oz).intoArray(gates, g0 + LANES);
        en.add(on).intoArray(hn, n0);
    }

    /**
     * The fused LSTM cell update for one block of V units over {@code rows} batch rows, from their
     * gate pre-activations ({@code gates[g0 + r·gateStride]}, layout [4][V]):
     * {@code c = σ(f)·c + σ(i)·tanh(g)}, {@code h = σ(o)·tanh(c)}, state rows at
     * {@code c0/h0 + r·stateStride}. The activations run as array passes over the whole block
     * (see VectorMath on why). Padded lanes (units past H) have zero pre-activations and zero
     * state, and stay zero. {@code scratch} holds at least 3·V·rows floats. Leaves the activations
     * {@code [σ(i), σ(f), tanh(g), σ(o)]} in the gate rows (one store more per block, for training).
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
        VectorMath.sigmoidInPlace(gates, g0, gateStride, rows, 4 * LANES);
        for (int r = 0; r < rows; r++) {
            int g = g0 + r * gateStride;
            int s = s0 + r * stateStride;
            FloatVector i = FloatVector.fromArray(SPECIES, gates, g);
            FloatVector f = FloatVector.fromArray(SPECIES, gates, g + LANES);
            // tanh(g), written out here (not called): C2 may refuse to inline a helper taking vectors.
            FloatVector x = FloatVector.fromArray(SPECIES, scratch, rawG + r * LANES);
            FloatVector large = FloatVector.fromArray(SPECIES, gates, g + 2 * LANES).fma(-2f, 1f);
            large = large.blend(large.neg(), x.compare(VectorOperators.LT, 0f));
            FloatVector z = x.mul(x);
            FloatVector p = z.fma(TANH_P0, TANH_P1).fma(z, TANH_P2).fma(z, TANH_P3).fma(z, TANH_P4);
            FloatVector small = x.mul(z).fma(p, x).blend(x, x.compare(VectorOperators.EQ, 0f));
            FloatVector candidate = large.blend(small, x.abs().compare(VectorOperators.LT, VectorMath.TANH_SMALL));
            // The gate row now holds the activations [i, f, tanh g, o], which a training pass records.
            candidate.intoArray(gates, g + 2 * LANES);
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
            FloatVector large = FloatVector.fromArray(SPECIES, scratch, sigC + r * LANES).fma(-2f, 1f);
            large = large.blend(large.neg(), x.compare(VectorOperators.LT, 0f));
            FloatVector z = x.mul(x);
            FloatVector p = z.fma(TANH_P0, TANH_P1).fma(z, TANH_P2).fma(z, TANH_P3).fma(z, TANH_P4);
            FloatVector small = x.mul(z).fma(p, x).blend(x, x.compare(VectorOperators.EQ, 0f));
            FloatVector tanhC = large.blend(small, x.abs().compare(VectorOperators.LT, VectorMath.TANH_SMALL));
            o.mul(tanhC).intoArray(h, s0 + r * stateStride);
        }
    }

    /**
     * The fused GRU cell update for one block of V units over {@code rows} batch rows, PyTorch's
     * form: from the gate rows ({@code gates[g0 + r·gateStride]}, layout [3][V]: r and z with both
     * sums and biases, n with its input sum and {@code b_in}) and the n gate's recurrent sum
     * {@code hn = W_hn h + b_hn},
     * {@code n = tanh(n_x + σ(r)·hn)}, {@code h' = (1 − σ(z))·n + σ(z)·h}. Rows of hn, h and
     * hNext at {@code s0 + r·stateStride}. Array passes as in {@link #cells}; padded lanes have
     * zero sums and zero state, so n = 0 there and h' stays 0. {@code scratch} holds at least
     * 2·V·rows floats. Leaves the activations {@code [σ(r), σ(z), n]} in the gate rows.
     */
    static void gruCells(float[] gates, int g0, int gateStride, int rows, float[] hn, float[] h, float[] hNext,
                         int s0, int stateStride, float[] scratch) {
        int count = rows * LANES;
        VectorMath.sigmoidInPlace(gates, g0, gateStride, rows, 2 * LANES);
        for (int r = 0; r < rows; r++) {
            int g = g0 + r * gateStride;
            FloatVector reset = FloatVector.fromArray(SPECIES, gates, g);
            FloatVector inputSum = FloatVector.fromArray(SPECIES, gates, g + 2 * LANES);
            reset.fma(FloatVector.fromArray(SPECIES, hn, s0 + r * stateStride), inputSum).intoArray(scratch, r * LANES);
        }
        VectorMath.tanhInPlace(scratch, 0, count, scratch, count);
        for (int r = 0; r < rows; r++) {
            int s = s0 + r * stateStride;
            FloatVector update = FloatVector.fromArray(SPECIES, gates, g0 + r * gateStride + LANES);
            FloatVector candidate = FloatVector.fromArray(SPECIES, scratch, r * LANES);
            // The gate row now holds the activations [r, z, n], which a training pass records.
            candidate.intoArray(gates, g0 + r * gateStride + 2 * LANES);
            FloatVector keep = update.mul(FloatVector.fromArray(SPECIES, h, s));
            update.neg().add(1f).fma(candidate, keep).intoArray(hNext, s);
        }
    }
}
