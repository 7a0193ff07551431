package io.github.lstmkernels.tests;

import io.github.lstmkernels.LstmConfig;
import java.util.SplittableRandom;

/** Small helpers for building call arguments in tests. */
final class TestData {
    private TestData() {
    }

    static float[] uniform(int n, double bound, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) random.nextDouble(-bound, bound);
        }
        return a;
    }

    static float[] filled(int n, float value) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, value);
        return a;
    }

    static int[] filledInts(int n, int value) {
        int[] a = new int[n];
        java.util.Arrays.fill(a, value);
        return a;
    }

    static int xLength(LstmConfig config, int seqLen, int batch) {
        return seqLen * batch * config.inputSize();
    }

    static int yLength(LstmConfig config, int seqLen, int batch) {
        return seqLen * batch * config.numDirections() * config.outputSize();
    }

    static int hLength(LstmConfig config, int batch) {
        return config.numLayers() * config.numDirections() * batch * config.outputSize();
    }

    static int cLength(LstmConfig config, int batch) {
        return config.numLayers() * config.numDirections() * batch * config.hiddenSize();
    }
}
