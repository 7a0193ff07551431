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
 * Java twins of two PyTorch models, each run with the weights and input of the golden case of the
 * same shape and checked against it:
 * <pre>
 * lstm = nn.LSTM(input_size=512, hidden_size=128, num_layers=2, batch_first=True)
 * output, (h_n, c_n) = lstm(x, (h0, c0))          # x: [8, 10, 512]
 *
 * bilstm = nn.LSTM(input_size=5, hidden_size=7, num_layers=2, bidirectional=True)
 * packed = pack_padded_sequence(x, lengths=[2, 6, 4], enforce_sorted=False)   # x: [6, 3, 5]
 * out, (h_n, c_n) = bilstm(packed, (h0, c0))
 * output, _ = pad_packed_sequence(out, total_length=6)                       # [6, 3, 14]
 * </pre>
 */
public final class PyTorchTwinExample {
    static final String CASE = "lstm-seq-b8-t10-i512-h128-l2-bf";
    static final String BIDIRECTIONAL_CASE = "lstm-seq-b3-t6-i5-h7-l2-bi-len";

    private PyTorchTwinExample() {
    }

    /** Returns true if both twins agree with PyTorch within their cases' tolerances. */
    public static boolean run(Path goldenDir, PrintStream out) {
        boolean ok = runStacked(goldenDir, out);
        out.println();
        return runBidirectionalWithLengths(goldenDir, out) && ok;
    }

    private static boolean runStacked(Path goldenDir, PrintStream out) {
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
        return agrees(golden, caseDir, new float[][] {output, hN, cN}, out);
    }

    private static boolean runBidirectionalWithLengths(Path goldenDir, PrintStream out) {
        Path caseDir = goldenDir.resolve(BIDIRECTIONAL_CASE);
        if (!Files.isDirectory(caseDir)) {
            out.println("golden case " + caseDir + " not found: nothing to compare");
            return true;
        }
        GoldenCase golden = GoldenCase.load(caseDir);
        int batch = 3, seqLen = 6, inputSize = 5, hiddenSize = 7, layers = 2, directions = 2;
        LstmConfig config = LstmConfig.builder(inputSize, hiddenSize).numLayers(layers).bidirectional(true).build();
        LstmWeights weights = LstmWeights.fromStateDict(config, golden.parameters()); // weight_ih_l0_reverse, ...
        int[] lengths = {2, 6, 4};                                       // any order: rows need not be sorted
        float[] x = golden.floats("x");                                  // [T, B, I]; padded steps are ignored
        float[] output = new float[seqLen * batch * directions * hiddenSize];   // [T, B, 2·H], 0 past each length
        float[] hN = golden.floats("h0");                                // [L·D, B, H], row l·D + d
        float[] cN = golden.floats("c0");
        try (LstmKernel bilstm = LstmKernels.prepare(config, weights)) {
            bilstm.sequence(seqLen, batch, lengths, x, output, hN, cN);
            out.println(config + ", lengths " + Arrays.toString(lengths));
            out.println("backend: " + bilstm.backendName());
        }
        out.println("output: [" + seqLen + ", " + batch + ", " + directions * hiddenSize + "]  h_n, c_n: ["
                + layers * directions + ", " + batch + ", " + hiddenSize + "]");
        return agrees(golden, caseDir, new float[][] {output, hN, cN}, out);
    }

    private static boolean agrees(GoldenCase golden, Path caseDir, float[][] got, PrintStream out) {
        if (golden == null) {
            out.println("golden case " + caseDir + " not found: ran on random weights, nothing to compare");
            return true;
        }
        boolean ok = true;
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
