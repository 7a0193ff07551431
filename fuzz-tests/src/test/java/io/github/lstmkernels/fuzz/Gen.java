package io.github.lstmkernels.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.spi.LstmBackend;
import io.github.lstmkernels.LstmKernels;

/** What the targets build from the fuzzer's bytes: small valid configurations, a backend, sizes. */
final class Gen {
    static final int MAX_SIZE = 24;
    static final int MAX_LAYERS = 3;
    static final int MAX_T = 12;
    static final int MAX_B = 6;

    private Gen() {
    }

    /**
     * A 1-in-n event. True at the top of the range, so that an exhausted input (the fuzzer's
     * provider then returns minimums) takes the common, valid path.
     */
    static boolean oneIn(FuzzedDataProvider data, int n) {
        return data.consumeInt(1, n) == n;
    }

    static LstmConfig config(FuzzedDataProvider data) {
        CellType cell = data.consumeBoolean() ? CellType.GRU : CellType.LSTM;
        int input = data.consumeInt(1, MAX_SIZE);
        int hidden = data.consumeInt(1, MAX_SIZE);
        int layers = data.consumeInt(1, MAX_LAYERS);
        boolean bidirectional = data.consumeBoolean();
        boolean bias = !data.consumeBoolean();
        boolean batchFirst = data.consumeBoolean();
        int projection = cell == CellType.LSTM && hidden > 1 && Gen.oneIn(data, 4)
                ? data.consumeInt(1, hidden - 1) : 0;
        return LstmConfig.builder(input, hidden).cell(cell).numLayers(layers).bidirectional(bidirectional).bias(bias)
                .batchFirst(batchFirst).projectionSize(projection).build();
    }

    static LstmBackend backend(FuzzedDataProvider data) {
        return LstmKernels.backend(data.pickValue(Kernels.BACKENDS));
    }

    /** A size argument: usually the intended one, sometimes wrong in a way the fuzzer picks. */
    static int sizeArgument(FuzzedDataProvider data, int intended) {
        if (!Gen.oneIn(data, 16)) {
            return intended;
        }
        return switch (data.consumeInt(0, 7)) {
            case 0 -> 0;
            case 1 -> -1;
            case 2 -> intended + 1;
            case 3 -> intended - 1;
            case 4 -> Integer.MAX_VALUE;
            case 5 -> Integer.MIN_VALUE;
            case 6 -> 1 << 16;
            default -> data.consumeInt(-3, 40);
        };
    }

    /** a·b saturating at Long.MAX_VALUE for non-negative factors; negative if either is. */
    static long times(long a, long b) {
        if (a < 0 || b < 0) {
            return -1;
        }
        long high = Math.multiplyHigh(a, b);
        long p = a * b;
        return high != 0 || p < 0 ? Long.MAX_VALUE : p;
    }
}
