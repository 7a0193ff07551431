package io.github.lstmkernels.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Jazzer fuzz targets over the whole public API, on every available backend (README.md says what
 * each builds and what it asserts). Plain {@code ./mvnw verify} runs each target once per input of
 * its committed corpus ({@code src/test/resources/io/github/lstmkernels/fuzz/ApiFuzzTestInputs/<target>/});
 * {@code JAZZER_FUZZ=1} with {@code -Dtest=ApiFuzzTest#<target>} fuzzes one.
 */
class ApiFuzzTest {

    /** Every backend module of this build takes part; a missing one would silently shrink the campaign. */
    @Test
    void everyBackendIsAvailable() {
        assertEquals(List.of("onednn", "scalar", "simd"), Kernels.BACKENDS);
    }

    /** Inference calls of every form, with right and wrong arguments, on open and closed kernels. */
    @FuzzTest(maxDuration = "5m")
    void inference(FuzzedDataProvider data) {
        Contract.newInput();
        Inference.run(data);
    }

    /** Training sessions: forward, backward, closing, in any order, with right and wrong arguments. */
    @FuzzTest(maxDuration = "5m")
    void training(FuzzedDataProvider data) {
        Contract.newInput();
        Training.run(data);
    }

    /** State dicts with wrong names, sizes, nulls, NaN and infinities; then prepare and one call. */
    @FuzzTest(maxDuration = "5m")
    void weights(FuzzedDataProvider data) {
        Contract.newInput();
        Weights.run(data);
    }

    /** The configuration builder over the int range, backend lookup by any name, tensor names. */
    @FuzzTest(maxDuration = "5m")
    void surface(FuzzedDataProvider data) {
        Contract.newInput();
        Surface.run(data);
    }

    /** Every target in one, the first choice picking which: what the long campaign fuzzes. */
    @FuzzTest(maxDuration = "20m")
    void everything(FuzzedDataProvider data) {
        Contract.newInput();
        switch (data.consumeInt(0, 9)) {
            case 0, 1, 2, 3, 4 -> Inference.run(data);
            case 5, 6 -> Training.run(data);
            case 7, 8 -> Weights.run(data);
            default -> Surface.run(data);
        }
    }
}
