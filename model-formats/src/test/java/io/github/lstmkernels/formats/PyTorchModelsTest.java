package io.github.lstmkernels.formats;

import static io.github.lstmkernels.formats.TestModels.B;
import static io.github.lstmkernels.formats.TestModels.H;
import static io.github.lstmkernels.formats.TestModels.I;
import static io.github.lstmkernels.formats.TestModels.T;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmWeights;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Models made by PyTorch (make_test_models.py) load through {@link ModelFiles} and match PyTorch's
 * float64 outputs: on every backend that implements the configuration (the others show as skipped,
 * with the reason), and always against this module's own float64 reference, so that the weights
 * are checked even while no backend runs the configuration.
 */
class PyTorchModelsTest {
    /** The reference is PyTorch in float64 rounded to float32; this is float32 arithmetic's error on these sizes with margin. */
    private static final double ATOL = 1e-5;
    private static final double RTOL = 1e-5;
    /** The float64 reference against PyTorch's: both exact on the same weights, up to the float32 rounding of the stored results. */
    private static final double ATOL64 = 1e-6;

    @Test
    void bidirectionalProjectedLstmUnderAPrefixIsFoundAmongOtherTensors() throws IOException {
        LstmWeights w = ModelFiles.readSafetensors(TestModels.file("lstm_bi_proj", "model.safetensors"), "encoder.rnn.");
        assertEquals(LstmConfig.builder(I, H).numLayers(2).bidirectional(true).projectionSize(3).build(), w.config());
    }

    @Test
    void bf16GruIsInferredAsAGru() throws IOException {
        LstmWeights w = ModelFiles.readSafetensors(TestModels.file("gru_bf16", "model.safetensors"), "");
        assertEquals(LstmConfig.builder(I, H).cell(CellType.GRU).numLayers(2).build(), w.config());
    }

    @Test
    void f16LstmWithoutBiasIsInferredWithoutBias() throws IOException {
        LstmWeights w = ModelFiles.readSafetensors(TestModels.file("lstm_f16_nobias_bf", "model.safetensors"), "");
        assertEquals(LstmConfig.builder(I, H).bias(false).build(), w.config());
    }

    @Test
    void onnxLstmNodesGiveExactlyPyTorchsStateDict() throws IOException {
        var onnx = TestModels.file("onnx_lstm", "model.onnx");
        assertEquals(List.of("/LSTM", "/LSTM_1"), ModelFiles.onnxRecurrentNodes(onnx));
        var e = assertThrows(IllegalArgumentException.class, () -> ModelFiles.readOnnx(onnx, null));
        assertTrue(e.getMessage().contains("'/LSTM' (LSTM), '/LSTM_1' (LSTM)"), e.getMessage());
        var missing = assertThrows(IllegalArgumentException.class, () -> ModelFiles.readOnnx(onnx, "/GRU"));
        assertTrue(missing.getMessage().contains("no LSTM or GRU node named '/GRU'") && missing.getMessage().contains("'/LSTM_1'"),
                missing.getMessage());

        LstmWeights stacked = ModelFiles.stackLayers(List.of(ModelFiles.readOnnx(onnx, "/LSTM"), ModelFiles.readOnnx(onnx, "/LSTM_1")));
        LstmWeights torch = ModelFiles.readSafetensors(TestModels.file("onnx_lstm", "state_dict.safetensors"), "");
        assertEquals(LstmConfig.builder(I, H).numLayers(2).build(), torch.config());
        assertSameTensors(torch, stacked);
    }

    @Test
    void onnxBidirectionalGruGivesExactlyPyTorchsStateDict() throws IOException {
        var onnx = TestModels.file("onnx_gru_bi", "model.onnx");
        LstmWeights fromOnnx = ModelFiles.readOnnx(onnx, null);
        LstmWeights torch = ModelFiles.readSafetensors(TestModels.file("onnx_gru_bi", "state_dict.safetensors"), "");
        assertEquals(LstmConfig.builder(I, H).cell(CellType.GRU).bidirectional(true).build(), fromOnnx.config());
        assertSameTensors(torch, fromOnnx);
    }

    @TestFactory
    Stream<DynamicTest> everyModelMatchesPyTorch() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        addCase(tests, "lstm_bi_proj", ModelFiles.readSafetensors(TestModels.file("lstm_bi_proj", "model.safetensors"), "encoder.rnn."));
        addCase(tests, "gru_bf16", ModelFiles.readSafetensors(TestModels.file("gru_bf16", "model.safetensors"), ""));
        LstmWeights f16 = ModelFiles.readSafetensors(TestModels.file("lstm_f16_nobias_bf", "model.safetensors"), "");
        // The reference was run batch-first: the caller makes batch-first weights from the time-major ones it read.
        LstmConfig batchFirst = LstmConfig.builder(I, H).bias(false).batchFirst(true).build();
        addCase(tests, "lstm_f16_nobias_bf", LstmWeights.fromStateDict(batchFirst, f16.toStateDict()));
        var lstmOnnx = TestModels.file("onnx_lstm", "model.onnx");
        addCase(tests, "onnx_lstm", ModelFiles.stackLayers(List.of(ModelFiles.readOnnx(lstmOnnx, "/LSTM"),
                ModelFiles.readOnnx(lstmOnnx, "/LSTM_1"))));
        addCase(tests, "onnx_gru_bi", ModelFiles.readOnnx(TestModels.file("onnx_gru_bi", "model.onnx"), null));
        return tests.stream();
    }

    private static void addCase(List<DynamicTest> tests, String model, LstmWeights weights) {
        LstmConfig cfg = weights.config();
        float[] x = TestModels.f32(model, "x");
        float[] h0 = TestModels.f32(model, "h0");
        float[] c0 = TestModels.f32(model, "c0");
        float[] output = TestModels.f32(model, "output");
        float[] hN = TestModels.f32(model, "h_n");
        float[] cN = TestModels.f32(model, "c_n");

        tests.add(DynamicTest.dynamicTest(model + " on the float64 reference", () -> {
            float[] timeMajor = cfg.batchFirst() ? swapBatchAndTime(x, B, T, cfg.inputSize()) : x;
            Reference64.Result r = Reference64.run(weights, T, B, timeMajor, h0, c0);
            int width = cfg.numDirections() * cfg.outputSize();
            float[] out = cfg.batchFirst() ? swapBatchAndTime(output, B, T, width) : output;
            TestModels.assertClose(model + " output", out, r.output(), ATOL64);
            TestModels.assertClose(model + " h_n", hN, r.h(), ATOL64);
            if (cN != null) {
                TestModels.assertClose(model + " c_n", cN, r.c(), ATOL64);
            }
        }));
        for (TestModels.Candidate candidate : TestModels.backends(cfg.requiredFeatures())) {
            tests.add(DynamicTest.dynamicTest(model + " on " + candidate.name(), () -> {
                if (candidate.backend() == null) {
                    String why = "skipped " + model + " on " + candidate.name() + ": " + candidate.skipReason();
                    System.out.println("PyTorchModelsTest: " + why);
                    Assumptions.abort(why);
                }
                int rows = cfg.numLayers() * cfg.numDirections();
                float[] y = new float[output.length];
                float[] h = h0 == null ? new float[rows * B * cfg.outputSize()] : h0.clone();
                float[] c = c0 == null ? new float[rows * B * cfg.hiddenSize()] : c0.clone();
                try (LstmKernel kernel = candidate.backend().prepare(cfg, weights)) {
                    TestModels.sequence(kernel, T, B, x, y, h, c);
                }
                TestModels.assertClose(model + " output on " + candidate.name(), output, y, ATOL, RTOL);
                TestModels.assertClose(model + " h_n on " + candidate.name(), hN, h, ATOL, RTOL);
                if (cN != null) {
                    TestModels.assertClose(model + " c_n on " + candidate.name(), cN, c, ATOL, RTOL);
                }
            }));
        }
    }

    private static float[] swapBatchAndTime(float[] a, int outer, int inner, int width) {
        float[] out = new float[a.length];
        for (int i = 0; i < outer; i++) {
            for (int j = 0; j < inner; j++) {
                System.arraycopy(a, (i * inner + j) * width, out, (j * outer + i) * width, width);
            }
        }
        return out;
    }

    private static void assertSameTensors(LstmWeights expected, LstmWeights actual) {
        assertEquals(expected.config(), actual.config());
        Map<String, float[]> e = expected.toStateDict();
        Map<String, float[]> a = actual.toStateDict();
        assertEquals(e.keySet(), a.keySet());
        for (String name : e.keySet()) {
            assertArrayEquals(e.get(name), a.get(name), name); // bit for bit: reordering moves values, never rounds
        }
    }
}
