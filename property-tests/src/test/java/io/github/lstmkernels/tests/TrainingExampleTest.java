package io.github.lstmkernels.tests;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.Feature;
import io.github.lstmkernels.spi.LstmBackend;
import io.github.lstmkernels.testkit.TrainingExample;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The worked training example learns on every backend with a backward pass: the mean squared error
 * of next-value prediction falls from about 0.5 (the untrained read-out) to below 0.03, where
 * predicting the current value scores about 0.09. A backend without a backward pass is reported.
 */
class TrainingExampleTest {
    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void aTwoLayerLstmLearnsTheNextValueOfANoisySine(LstmBackend backend) {
        if (!backend.features().contains(Feature.BACKWARD)) {
            System.out.println("training example: skipped " + backend.name() + " (no backward pass)");
            return;
        }
        double[] losses = TrainingExample.train(backend, 200, 7, null);
        double first = losses[0];
        double last = (losses[losses.length - 1] + losses[losses.length - 2] + losses[losses.length - 3]) / 3;
        System.out.printf("training example on %s: loss %.4f -> %.4f%n", backend.name(), first, last);
        assertTrue(first > 0.2, "the untrained model already predicts well? " + first);
        assertTrue(last < 0.03, backend.name() + ": loss only fell to " + last + " (from " + first + ")");
    }
}
