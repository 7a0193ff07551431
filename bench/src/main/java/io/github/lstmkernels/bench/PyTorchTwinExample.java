package io.github.lstmkernels.bench;

import io.github.lstmkernels.testkit.GoldenCase;
import io.github.lstmkernels.testkit.GoldenRunner;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.LstmWeights;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The Java twin of
 * <pre>
 * lstm = nn.LSTM(input_size=512, hidden_size=128, num_layers=2, batch_first=True)
 * output, (h_n, c_n) = lstm(x)          # x: [8, 10, 512]
 * </pre>
 * (or {@code lstm(x, (h0, c0))} when the case gives an initial state), run with the weights and
 * input of the golden case of the same shape, and checked against it.
 */
public final class PyTorchTwinExample {
    static final String CASE = "lstm-seq-b8-t10-i512-h128-l2-bf";

    private PyTorchTwinExample() {
    }

    /** Returns true if the result agrees with PyTorch's within the case's tolerance. */
    public static boolean run(Path goldenDir, PrintStream out) {
        int batch = 8, seqLen = 10, inputSize = 512, hiddenSize = 128, layers = 2;
        LstmConfig config = LstmConfig.builder(inputSize, hiddenSize).numLayers(layers).batchFirst(true).build();

        Path caseDir = goldenDir.resolve(CASE);
        GoldenCase golden = Files.isDirectory(caseDir) ? GoldenCase.load(caseDir) : null;
        LstmWeights weights = golden != null ? LstmWeights.fromStateDict(config, golden.parameters())
                : LstmWeights.random(config, 42);
        float[] x = golden != null ? golden.floats("x") : new float[batch * seqLen * inputSize];
        float[] output = new float[batch * seqLen * hiddenSize];   // [B, T, H]
        // h and c are [L, B, H], in and out: (h0, c0) on entry, (h_n, c_n) on return; zeros = PyTorch's hx=None.
        boolean initial = golden != null && golden.hasInitialState();
        float[] hN = initial ? golden.floats("h0") : new float[layers * batch * hiddenSize];
        float[] cN = initial ? golden.floats("c0") : new float[layers * batch * hiddenSize];

        try (LstmKernel lstm = LstmKernels.prepare(config, weights)) {
            lstm.sequence(seqLen, batch, x, output, hN, cN);
            out.println(config);
            out.println("backend: " + lstm.backendName());
        }
        out.println("output: [" + batch + ", " + seqLen + ", " + hiddenSize + "]  h_n: [" + layers + ", " + batch + ", "
                + hiddenSize + "]  c_n: [" + layers + ", " + batch + ", " + hiddenSize + "]");
        out.println("output[0, 0, :4] = " + Arrays.toString(Arrays.copyOf(output, 4)));
        if (golden == null) {
            out.println("golden case " + caseDir + " not found: ran on random weights, nothing to compare");
            return true;
        }
        boolean ok = true;
        float[][] got = {output, hN, cN};
        String[] names = {"output", "h_n", "c_n"};
        for (int i = 0; i < names.length; i++) {
            String name = names[i];
            GoldenCase.Output spec = golden.outputs().stream().filter(o -> o.name().equals(name)).findFirst()
                    .orElseThrow();
            GoldenRunner.Comparison cmp = GoldenRunner.compare(spec, got[i], golden.floats(spec.name()));
            ok &= cmp.passed();
            out.printf("vs PyTorch (float64) %-6s max abs err %.3g (tolerance %.0e + %.0e·|ref|): %s%n", spec.name(),
                    cmp.maxAbsError(), cmp.atol(), cmp.rtol(), cmp.passed() ? "agrees" : "DISAGREES");
        }
        return ok;
    }
}
