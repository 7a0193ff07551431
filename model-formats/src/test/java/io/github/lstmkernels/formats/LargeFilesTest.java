package io.github.lstmkernels.formats;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.formats.onnx.OnnxProto.AttributeProto;
import io.github.lstmkernels.formats.onnx.OnnxProto.GraphProto;
import io.github.lstmkernels.formats.onnx.OnnxProto.ModelProto;
import io.github.lstmkernels.formats.onnx.OnnxProto.NodeProto;
import io.github.lstmkernels.formats.onnx.OnnxProto.TensorProto;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Files over the mapping threshold take the memory-mapped path; they read exactly as small ones do. */
class LargeFilesTest {
    @TempDir
    Path dir;

    private static final LstmConfig LSTM = LstmConfig.builder(256, 160).bidirectional(true).build();

    @Test
    void largeSafetensorsFileIsMappedAndReadExactly() throws IOException {
        LstmWeights weights = LstmWeights.random(LSTM, 11);
        Map<String, float[]> sd = weights.toStateDict();
        StringBuilder header = new StringBuilder("{");
        long offset = 0;
        for (Map.Entry<String, int[]> e : LstmWeights.tensorShapes(LSTM).entrySet()) {
            long bytes = 4L * sd.get(e.getKey()).length;
            header.append(header.length() > 1 ? "," : "").append("\"rnn.").append(e.getKey()).append("\":{\"dtype\":\"F32\",\"shape\":")
                    .append(java.util.Arrays.toString(e.getValue()).replace(" ", "")).append(",\"data_offsets\":[").append(offset)
                    .append(',').append(offset + bytes).append("]}");
            offset += bytes;
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + h.length + (int) offset).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(h.length).put(h);
        for (String name : LstmWeights.tensorShapes(LSTM).keySet()) {
            for (float v : sd.get(name)) {
                out.putFloat(v);
            }
        }
        Path file = dir.resolve("big.safetensors");
        Files.write(file, out.array());
        assertTrue(Files.size(file) > Safetensors.MAP_THRESHOLD);

        LstmWeights read = ModelFiles.readSafetensors(file, "rnn.");
        assertEquals(LSTM, read.config());
        for (String name : sd.keySet()) {
            assertArrayEquals(sd.get(name), read.toStateDict().get(name), name);
        }
    }

    @Test
    void largeOnnxFileIsMappedAndReadExactly() throws IOException {
        LstmConfig gru = LstmConfig.builder(256, 200).cell(CellType.GRU).bidirectional(true).build();
        LstmWeights weights = LstmWeights.random(gru, 12);
        Map<String, float[]> sd = weights.toStateDict();
        int hidden = 200;
        // PyTorch's r, z, n back to ONNX's z, r, h: ONNX block k is PyTorch block TO_ONNX[k].
        int[] toOnnx = {1, 0, 2};
        float[] w = new float[2 * 3 * hidden * 256];
        float[] r = new float[2 * 3 * hidden * hidden];
        float[] b = new float[2 * 6 * hidden];
        for (int d = 0; d < 2; d++) {
            String sfx = LstmWeights.suffix(0, d);
            for (int k = 0; k < 3; k++) {
                int src = toOnnx[k];
                System.arraycopy(sd.get("weight_ih" + sfx), src * hidden * 256, w, (d * 3 + k) * hidden * 256, hidden * 256);
                System.arraycopy(sd.get("weight_hh" + sfx), src * hidden * hidden, r, (d * 3 + k) * hidden * hidden, hidden * hidden);
                System.arraycopy(sd.get("bias_ih" + sfx), src * hidden, b, d * 6 * hidden + k * hidden, hidden);
                System.arraycopy(sd.get("bias_hh" + sfx), src * hidden, b, d * 6 * hidden + (3 + k) * hidden, hidden);
            }
        }
        GraphProto graph = GraphProto.newBuilder()
                .addInitializer(tensor("W", w, 2, 3 * hidden, 256))
                .addInitializer(tensor("R", r, 2, 3 * hidden, hidden))
                .addInitializer(tensor("B", b, 2, 6 * hidden))
                .addNode(NodeProto.newBuilder().setName("gru").setOpType("GRU").addInput("X").addInput("W").addInput("R")
                        .addInput("B").addOutput("Y")
                        .addAttribute(AttributeProto.newBuilder().setName("direction").setS(ByteString.copyFromUtf8("bidirectional")))
                        .addAttribute(AttributeProto.newBuilder().setName("hidden_size").setI(hidden))
                        .addAttribute(AttributeProto.newBuilder().setName("linear_before_reset").setI(1)))
                .build();
        Path file = dir.resolve("big.onnx");
        Files.write(file, ModelProto.newBuilder().setIrVersion(8).setGraph(graph).build().toByteArray());
        assertTrue(Files.size(file) > Safetensors.MAP_THRESHOLD);

        LstmWeights read = ModelFiles.readOnnx(file, "gru");
        assertEquals(gru, read.config());
        for (String name : sd.keySet()) {
            assertArrayEquals(sd.get(name), read.toStateDict().get(name), name);
        }
    }

    private static TensorProto tensor(String name, float[] values, long... dims) {
        ByteBuffer raw = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        raw.asFloatBuffer().put(values);
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE)
                .setRawData(ByteString.copyFrom(raw.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }
}
