package io.github.lstmkernels.fuzz;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.LstmTraining;
import io.github.lstmkernels.LstmWeights;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/**
 * Reproducers of what the fuzz campaign found (README.md, "Findings"), kept as regression tests
 * now that each is fixed.
 */
class KnownIssuesTest {

    /**
     * A refused {@code forward} (bad lengths) changes the training state's batch schedule before
     * it throws ({@code BatchSchedule.load} stores seqLen, batch, the lengths and "packed" before
     * checking them); the next {@code backward}, of the last accepted forward, then walks the
     * wrong schedule: wrong gradients without an error (here: gradX of one row instead of three),
     * or an undocumented IndexOutOfBoundsException when the accepted forward had lengths and the
     * refused one a larger batch.
     */
    @Test
    void backwardAfterARefusedForwardIsTheBackwardOfTheLastAcceptedForward() {
        LstmConfig config = LstmConfig.builder(2, 3).build();
        int t = 4;
        int b = 3;
        float[] x = new float[t * b * 2];
        float[] gradY = new float[t * b * 3];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) Math.sin(i);
        }
        for (int i = 0; i < gradY.length; i++) {
            gradY[i] = (float) Math.cos(i);
        }
        float[][] gradX = new float[2][];
        try (LstmKernel kernel = LstmKernels.backend("scalar").prepare(config, LstmWeights.random(config, 1))) {
            for (int variant = 0; variant < 2; variant++) {
                try (LstmTraining training = kernel.newTraining()) {
                    training.forward(t, b, null, x, new float[t * b * 3], new float[b * 3], new float[b * 3]);
                    if (variant == 1) {
                        // Refused (lengths[0] > T); must change nothing. (What the fuzzer found: T=1, B=5, then B=1, lengths [2].)
                        assertThrows(IllegalArgumentException.class, () -> training.forward(t, 1, new int[] {t + 1},
                                new float[t * 2], new float[t * 3], new float[3], new float[3]));
                    }
                    gradX[variant] = new float[t * b * 2];
                    training.backward(gradY, new float[b * 3], new float[b * 3], gradX[variant], new float[b * 3],
                            new float[b * 3], LstmGradients.overwriting(config));
                }
            }
        }
        assertArrayEquals(gradX[0], gradX[1]);
    }

    /**
     * {@code LstmConfig.Builder.build()} computes the largest weight matrix with
     * {@code Math.multiplyExact}, which overflows a long for sizes near 2^31 and throws an
     * undocumented ArithmeticException instead of the IllegalArgumentException ("too large").
     */
    @Test
    void hugeSizesAreAnIllegalArgument() {
        assertThrows(IllegalArgumentException.class, () -> LstmConfig.builder(1, Integer.MAX_VALUE).build());
        assertThrows(IllegalArgumentException.class, () -> LstmConfig.builder(1848405614, 1701736036).build());
    }

    /**
     * {@code TensorChecks.overlaps} compares {@code heapBase()} of two heap segments, but a
     * read-only heap segment has none ({@code heapBase()} is empty for read-only segments), so a
     * read-only x that shares its array with y (or h, c) passes the check; the kernel then writes
     * y over the x it is reading. Every backend (the check is shared).
     */
    @Test
    void aReadOnlyInputOverlappingAnOutputIsRefused() {
        LstmConfig config = LstmConfig.builder(2, 3).build();
        try (LstmKernel kernel = LstmKernels.backend("scalar").prepare(config, LstmWeights.random(config, 1))) {
            float[] shared = new float[16];
            MemorySegment x = MemorySegment.ofArray(shared).asSlice(0, 4 * 2).asReadOnly();
            MemorySegment y = MemorySegment.ofArray(shared).asSlice(4, 4 * 3);
            float[] before = shared.clone();
            assertThrows(IllegalArgumentException.class, () -> kernel.step(1, x, y, MemorySegment.ofArray(new float[3]),
                    MemorySegment.ofArray(new float[3])));
            assertArrayEquals(before, shared);
        }
    }
}
