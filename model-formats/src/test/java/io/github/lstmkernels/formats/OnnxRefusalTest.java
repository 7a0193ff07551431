package io.github.lstmkernels.formats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.github.lstmkernels.formats.onnx.OnnxProto.AttributeProto;
import io.github.lstmkernels.formats.onnx.OnnxProto.GraphProto;
import io.github.lstmkernels.formats.onnx.OnnxProto.ModelProto;
import io.github.lstmkernels.formats.onnx.OnnxProto.NodeProto;
import io.github.lstmkernels.formats.onnx.OnnxProto.TensorProto;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What PyTorch's semantics cannot express is refused with the attribute or input named; damaged
 * graphs are refused with the field named. Each case edits PyTorch's own export of a GRU
 * (bidirectional) or LSTM (two nodes) and writes it back.
 */
class OnnxRefusalTest {
    @TempDir
    Path dir;

    private static ModelProto load(String model) throws IOException {
        return ModelProto.parseFrom(Files.readAllBytes(TestModels.file(model, "model.onnx")));
    }

    /** The model with its recurrent node {@code nodeName} replaced by {@code edit(node)}. */
    private Path edited(String model, String nodeName, UnaryOperator<NodeProto.Builder> edit) throws IOException {
        ModelProto.Builder m = load(model).toBuilder();
        GraphProto.Builder g = m.getGraphBuilder();
        boolean found = false;
        for (int i = 0; i < g.getNodeCount(); i++) {
            if (g.getNode(i).getName().equals(nodeName)) {
                g.setNode(i, edit.apply(g.getNode(i).toBuilder()).build());
                found = true;
            }
        }
        assertTrue(found, nodeName);
        return save(m.build());
    }

    private Path save(ModelProto model) throws IOException {
        Path file = dir.resolve("m.onnx");
        Files.write(file, model.toByteArray());
        return file;
    }

    private static AttributeProto intAttribute(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }

    private static void refused(Path file, String node, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelFiles.readOnnx(file, node));
        assertTrue(e.getMessage().startsWith("m.onnx: "), e.getMessage());
        for (String fragment : fragments) {
            assertTrue(e.getMessage().contains(fragment), "'" + fragment + "' not in: " + e.getMessage());
        }
    }

    @Test
    void clipInputForgetLayoutAndActivationsAreRefusedByName() throws IOException {
        refused(edited("onnx_lstm", "/LSTM", n -> n.addAttribute(AttributeProto.newBuilder().setName("clip")
                .setType(AttributeProto.AttributeType.FLOAT).setF(3f))), "/LSTM", "node '/LSTM' (LSTM)", "attribute clip = 3.0");
        refused(edited("onnx_lstm", "/LSTM", n -> n.addAttribute(intAttribute("input_forget", 1))), "/LSTM",
                "attribute input_forget = 1");
        assertEquals(6, ModelFiles.readOnnx(edited("onnx_lstm", "/LSTM", n -> n.addAttribute(intAttribute("input_forget", 0))
                .addAttribute(intAttribute("layout", 0))), "/LSTM").config().hiddenSize());
        refused(edited("onnx_lstm", "/LSTM_1", n -> n.addAttribute(intAttribute("layout", 1))), "/LSTM_1",
                "node '/LSTM_1'", "attribute layout = 1");
        refused(edited("onnx_lstm", "/LSTM", n -> n.addAttribute(AttributeProto.newBuilder().setName("activations")
                .setType(AttributeProto.AttributeType.STRINGS).addStrings(ByteString.copyFromUtf8("Sigmoid"))
                .addStrings(ByteString.copyFromUtf8("Relu")).addStrings(ByteString.copyFromUtf8("Tanh")))), "/LSTM",
                "attribute activations = [Sigmoid, Relu, Tanh]");
        // The defaults spelled out are PyTorch's cell: accepted.
        assertEquals(6, ModelFiles.readOnnx(edited("onnx_lstm", "/LSTM", n -> n.addAttribute(AttributeProto.newBuilder()
                .setName("activations").setType(AttributeProto.AttributeType.STRINGS).addStrings(ByteString.copyFromUtf8("Sigmoid"))
                .addStrings(ByteString.copyFromUtf8("Tanh")).addStrings(ByteString.copyFromUtf8("Tanh")))), "/LSTM").config().hiddenSize());
        refused(edited("onnx_lstm", "/LSTM", n -> n.addAttribute(intAttribute("hidden_size", 6))), "/LSTM",
                "attribute hidden_size appears twice");
        refused(edited("onnx_lstm", "/LSTM", n -> n.addAttribute(intAttribute("output_sequence", 1))), "/LSTM",
                "unknown attribute 'output_sequence'");
    }

    @Test
    void directionReverseIsRefused() throws IOException {
        refused(edited("onnx_gru_bi", "/GRU", n -> n.setAttribute(0, AttributeProto.newBuilder().setName("direction")
                .setType(AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8("reverse")))), null,
                "attribute direction = \"reverse\"");
    }

    @Test
    void gruLinearBeforeResetZeroOrAbsentIsRefused() throws IOException {
        refused(edited("onnx_gru_bi", "/GRU", n -> n.setAttribute(2, intAttribute("linear_before_reset", 0))), null,
                "node '/GRU' (GRU)", "attribute linear_before_reset = 0");
        refused(edited("onnx_gru_bi", "/GRU", n -> n.removeAttribute(2)), null, "linear_before_reset = 0 (the default)");
    }

    @Test
    void peepholesAreRefusedUnlessZero() throws IOException {
        ModelProto base = load("onnx_lstm");
        for (float value : new float[] {0f, 0.25f}) {
            ModelProto.Builder m = base.toBuilder();
            TensorProto.Builder p = TensorProto.newBuilder().setName("peep").setDataType(TensorProto.DataType.FLOAT_VALUE)
                    .addDims(1).addDims(18);
            for (int i = 0; i < 18; i++) {
                p.addFloatData(i == 5 ? value : 0f);
            }
            m.getGraphBuilder().addInitializer(p);
            for (int i = 0; i < m.getGraph().getNodeCount(); i++) {
                if (m.getGraph().getNode(i).getName().equals("/LSTM")) {
                    m.getGraphBuilder().setNode(i, m.getGraph().getNode(i).toBuilder().addInput("peep"));
                }
            }
            Path file = save(m.build());
            if (value == 0f) {
                assertEquals(6, ModelFiles.readOnnx(file, "/LSTM").config().hiddenSize());
            } else {
                refused(file, "/LSTM", "input P (peepholes) 'peep'");
            }
        }
    }

    @Test
    void weightsMustBeStoredReadableAndOfTheRightShape() throws IOException {
        ModelProto base = load("onnx_gru_bi");
        String w = base.getGraph().getNodeList().stream().filter(n -> n.getOpType().equals("GRU")).findFirst().orElseThrow().getInput(1);
        int wi = -1;
        for (int i = 0; i < base.getGraph().getInitializerCount(); i++) {
            if (base.getGraph().getInitializer(i).getName().equals(w)) {
                wi = i;
            }
        }
        TensorProto wt = base.getGraph().getInitializer(wi);

        ModelProto.Builder external = base.toBuilder();
        external.getGraphBuilder().setInitializer(wi, wt.toBuilder().clearRawData()
                .setDataLocation(TensorProto.DataLocation.EXTERNAL));
        refused(save(external.build()), null, "input W '" + w + "' is stored in an external file");

        ModelProto.Builder doubles = base.toBuilder();
        doubles.getGraphBuilder().setInitializer(wi, wt.toBuilder().setDataType(TensorProto.DataType.DOUBLE_VALUE));
        refused(save(doubles.build()), null, "input W '" + w + "' has data type DOUBLE (11)", "only FLOAT, FLOAT16 and BFLOAT16");

        ModelProto.Builder shortRaw = base.toBuilder();
        shortRaw.getGraphBuilder().setInitializer(wi, wt.toBuilder().setRawData(wt.getRawData().substring(4)));
        refused(save(shortRaw.build()), null, "input W '" + w + "' needs 720 bytes of raw_data, found 716");

        ModelProto.Builder wrongShape = base.toBuilder();
        wrongShape.getGraphBuilder().setInitializer(wi, wt.toBuilder().setDims(1, 17));
        refused(save(wrongShape.build()), null, "input W '" + w + "' has shape [2, 17, 5], expected [2, 18, 5]");

        ModelProto.Builder twice = base.toBuilder();
        twice.getGraphBuilder().addInitializer(wt);
        refused(save(twice.build()), null, "initializer '" + w + "' appears twice");

        ModelProto.Builder computed = base.toBuilder();
        computed.getGraphBuilder().removeInitializer(wi).addNode(NodeProto.newBuilder().setName("make_w").setOpType("Identity")
                .addInput("x").addOutput(w));
        refused(save(computed.build()), null, "input W '" + w + "' is computed by node 'make_w' (Identity)", "do_constant_folding");

        ModelProto.Builder gone = base.toBuilder();
        gone.getGraphBuilder().removeInitializer(wi);
        refused(save(gone.build()), null, "input W '" + w + "' is neither an initializer nor a Constant");
        gone.getGraphBuilder().addInput(io.github.lstmkernels.formats.onnx.OnnxProto.ValueInfoProto.newBuilder().setName(w));
        refused(save(gone.build()), null, "input W '" + w + "' is an input of the graph (was the model exported with "
                + "export_params=False?)");

        // The same tensor as a Constant node's value reads as before.
        ModelProto.Builder constant = base.toBuilder();
        constant.getGraphBuilder().removeInitializer(wi).addNode(0, NodeProto.newBuilder().setName("w_const").setOpType("Constant")
                .addOutput(w).addAttribute(AttributeProto.newBuilder().setName("value").setType(AttributeProto.AttributeType.TENSOR)
                        .setT(wt)));
        assertEquals(ModelFiles.readOnnx(TestModels.file("onnx_gru_bi", "model.onnx"), null).toStateDict().get("weight_ih_l0")[7],
                ModelFiles.readOnnx(save(constant.build()), null).toStateDict().get("weight_ih_l0")[7]);
    }

    @Test
    void notAModel() throws IOException {
        Path file = dir.resolve("m.onnx");
        Files.write(file, new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff});
        refused(file, null, "is not a valid ONNX model (protobuf)");
        Files.write(file, new byte[0]);
        refused(file, null, "has no graph");
        Files.write(file, ModelProto.newBuilder().setGraph(GraphProto.newBuilder().addNode(NodeProto.newBuilder().setOpType("Relu")))
                .build().toByteArray());
        refused(file, null, "has no LSTM or GRU node", "[Relu]");
    }
}
