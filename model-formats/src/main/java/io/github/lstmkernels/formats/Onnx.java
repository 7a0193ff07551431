package io.github.lstmkernels.formats;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.formats.onnx.OnnxProto.AttributeProto;
import io.github.lstmkernels.formats.onnx.OnnxProto.GraphProto;
import io.github.lstmkernels.formats.onnx.OnnxProto.ModelProto;
import io.github.lstmkernels.formats.onnx.OnnxProto.NodeProto;
import io.github.lstmkernels.formats.onnx.OnnxProto.TensorProto;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Reads one ONNX {@code LSTM} or {@code GRU} node's weights into PyTorch's names and layouts. The
 * model is parsed with classes generated from ONNX's own {@code onnx.proto}, from the mapped file
 * (over 1 MiB) with aliasing on, so the weights are not copied onto the heap before they are converted.
 */
final class Onnx {
    /** PyTorch's gate block k comes from ONNX's block LSTM_ORDER[k]: ONNX i, o, f, c → PyTorch i, f, g, o. */
    private static final int[] LSTM_ORDER = {0, 2, 3, 1};
    /** ONNX z, r, h → PyTorch r, z, n. */
    private static final int[] GRU_ORDER = {1, 0, 2};

    private static final Set<String> LSTM_ATTRIBUTES = Set.of("activation_alpha", "activation_beta", "activations", "clip",
            "direction", "hidden_size", "input_forget", "layout");
    private static final Set<String> GRU_ATTRIBUTES = Set.of("activation_alpha", "activation_beta", "activations", "clip",
            "direction", "hidden_size", "layout", "linear_before_reset");

    private Onnx() {
    }

    /**
     * Parses the file and hands the model to {@code body} while the file is mapped: with aliasing,
     * the model's bytes live in the mapping, which is unmapped when this returns.
     */
    static <T> T withModel(Path file, Function<ModelProto, T> body) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            long size = channel.size();
            if (size > Integer.MAX_VALUE) {
                throw fail(file, "is " + size + " bytes; a protobuf holds at most 2 GiB, so such a model keeps its "
                        + "weights in external data, which this reader does not read");
            }
            ByteBuffer buffer = Safetensors.content(file, channel, size, arena).asByteBuffer();
            CodedInputStream in = CodedInputStream.newInstance(buffer);
            in.enableAliasing(true); // raw_data stays in the mapping instead of being copied
            ModelProto model;
            try {
                model = ModelProto.parseFrom(in);
                in.checkLastTagWas(0);
            } catch (InvalidProtocolBufferException e) {
                throw fail(file, "is not a valid ONNX model (protobuf): " + e.getMessage());
            }
            return body.apply(model);
        }
    }

    /** Names of the graph's recurrent nodes (LSTM, GRU), in graph order; a node without a name is named by its first output. */
    static List<String> recurrentNodes(Path file, ModelProto model) {
        return recurrent(graph(file, model)).stream().map(Onnx::id).toList();
    }

    static LstmWeights read(Path file, ModelProto model, String nodeName) {
        GraphProto graph = graph(file, model);
        List<NodeProto> nodes = recurrent(graph);
        NodeProto node = select(file, graph, nodes, nodeName);
        String where = "node '" + id(node) + "' (" + node.getOpType() + ")";
        try {
            return convert(file, graph, node, where);
        } catch (IllegalArgumentException e) {
            throw e.getMessage().startsWith(file.getFileName() + ": ") ? e : fail(file, where + ": " + e.getMessage());
        }
    }

    private static GraphProto graph(Path file, ModelProto model) {
        if (!model.hasGraph()) {
            throw fail(file, "has no graph (field 'graph' of ModelProto is missing): not an ONNX model");
        }
        return model.getGraph();
    }

    private static List<NodeProto> recurrent(GraphProto graph) {
        return graph.getNodeList().stream()
                .filter(n -> (n.getOpType().equals("LSTM") || n.getOpType().equals("GRU"))
                        && (n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx")))
                .toList();
    }

    private static String id(NodeProto node) {
        return !node.getName().isEmpty() || node.getOutputCount() == 0 ? node.getName() : node.getOutput(0);
    }

    private static NodeProto select(Path file, GraphProto graph, List<NodeProto> nodes, String nodeName) {
        String listing = nodes.stream().map(n -> "'" + Json.shorten(id(n)) + "' (" + n.getOpType() + ")").limit(20)
                .collect(Collectors.joining(", "));
        if (nodes.isEmpty()) {
            Set<String> ops = graph.getNodeList().stream().map(NodeProto::getOpType).map(Json::shorten).limit(50)
                    .collect(Collectors.toCollection(java.util.TreeSet::new));
            throw fail(file, "has no LSTM or GRU node (its graph has " + (ops.isEmpty() ? "no nodes" : "the ops " + ops) + ")");
        }
        if (nodeName == null) {
            if (nodes.size() > 1) {
                throw fail(file, "has " + nodes.size() + " recurrent nodes, " + listing
                        + "; name one (PyTorch exports one node per layer)");
            }
            return nodes.getFirst();
        }
        List<NodeProto> named = nodes.stream().filter(n -> id(n).equals(nodeName)).toList();
        if (named.isEmpty()) {
            throw fail(file, "has no LSTM or GRU node named '" + nodeName + "'; its recurrent nodes are " + listing);
        }
        if (named.size() > 1) {
            throw fail(file, "has " + named.size() + " recurrent nodes named '" + nodeName + "'");
        }
        return named.getFirst();
    }

    private static LstmWeights convert(Path file, GraphProto graph, NodeProto node, String where) {
        boolean lstm = node.getOpType().equals("LSTM");
        CellType cell = lstm ? CellType.LSTM : CellType.GRU;
        Map<String, AttributeProto> attributes = attributes(node, lstm ? LSTM_ATTRIBUTES : GRU_ATTRIBUTES);

        int directions = 1;
        AttributeProto direction = attributes.get("direction");
        if (direction != null) {
            String value = string(direction);
            directions = switch (value) {
                case "forward" -> 1;
                case "bidirectional" -> 2;
                case "reverse" -> throw new IllegalArgumentException("attribute direction = \"reverse\" is refused: "
                        + "PyTorch has no reverse-only layer");
                default -> throw new IllegalArgumentException("attribute direction = \"" + Json.shorten(value)
                        + "\" is not one of forward, reverse, bidirectional");
            };
        }
        if (attributes.containsKey("clip")) {
            throw new IllegalArgumentException("attribute clip = " + number(attributes.get("clip"))
                    + " is refused: PyTorch does not clip the gates");
        }
        if (lstm && attributes.containsKey("input_forget") && integer(attributes.get("input_forget")) != 0) {
            throw new IllegalArgumentException("attribute input_forget = " + integer(attributes.get("input_forget"))
                    + " is refused: PyTorch has no coupled input and forget gates");
        }
        if (attributes.containsKey("layout") && integer(attributes.get("layout")) != 0) {
            throw new IllegalArgumentException("attribute layout = " + integer(attributes.get("layout"))
                    + " is refused: only layout 0 (X as [T, B, I], PyTorch's export) is read");
        }
        if (!lstm) {
            AttributeProto reset = attributes.get("linear_before_reset");
            long value = reset == null ? 0 : integer(reset);
            if (value != 1) {
                throw new IllegalArgumentException("attribute linear_before_reset = " + value + (reset == null ? " (the default)" : "")
                        + " is refused: PyTorch's GRU is linear_before_reset = 1 (r multiplies R_h h + Rb_h)");
            }
        }
        AttributeProto activations = attributes.get("activations");
        if (activations != null) {
            List<String> defaults = lstm ? List.of("Sigmoid", "Tanh", "Tanh") : List.of("Sigmoid", "Tanh");
            List<String> expected = new ArrayList<>();
            for (int d = 0; d < directions; d++) {
                expected.addAll(defaults);
            }
            List<String> actual = activations.getStringsList().stream().map(ByteString::toStringUtf8).toList();
            if (!actual.equals(expected)) {
                throw new IllegalArgumentException("attribute activations = " + Json.shorten(actual.toString())
                        + " is refused: PyTorch computes " + expected);
            }
            // activation_alpha/beta are parameters Sigmoid and Tanh do not take: nothing to refuse.
        }

        int gates = cell.gates();
        List<String> inputs = node.getInputList();
        TensorInfo w = tensor(file, graph, inputs, 1, "W");
        TensorInfo r = tensor(file, graph, inputs, 2, "R");
        TensorInfo b = inputs.size() > 3 && !inputs.get(3).isEmpty() ? tensor(file, graph, inputs, 3, "B") : null;
        rank(w, 3);
        rank(r, 3);
        long hidden = r.dims[2];
        AttributeProto hiddenSize = attributes.get("hidden_size");
        if (hiddenSize != null && integer(hiddenSize) != hidden) {
            throw new IllegalArgumentException("attribute hidden_size = " + integer(hiddenSize) + " does not match input R "
                    + Arrays.toString(r.dims));
        }
        if (hidden < 1 || hidden > Integer.MAX_VALUE / 4) {
            throw new IllegalArgumentException("input R " + Arrays.toString(r.dims) + " gives hidden size " + hidden);
        }
        long inputSize = w.dims[2];
        expect(w, new long[] {directions, gates * hidden, inputSize}, "[num_directions, " + gates + "*hidden_size, input_size]");
        expect(r, new long[] {directions, gates * hidden, hidden}, "[num_directions, " + gates + "*hidden_size, hidden_size]");
        if (b != null) {
            expect(b, new long[] {directions, 2 * gates * hidden}, "[num_directions, " + 2 * gates + "*hidden_size]");
        }
        if (lstm && inputs.size() > 7 && !inputs.get(7).isEmpty()) {
            // All-zero peepholes are PyTorch's cell; any other value is not.
            TensorInfo p = tensor(file, graph, inputs, 7, "P (peepholes)");
            expect(p, new long[] {directions, 3 * hidden}, "[num_directions, 3*hidden_size]");
            for (float v : values(p)) {
                if (v != 0) {
                    throw new IllegalArgumentException("input P (peepholes) '" + Json.shorten(p.name) + "' is refused: "
                            + "PyTorch's LSTM has no peephole connections");
                }
            }
        }
        if (inputSize < 1 || inputSize > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("input W " + Arrays.toString(w.dims) + " gives input size " + inputSize);
        }
        LstmConfig config = LstmConfig.builder((int) inputSize, (int) hidden).cell(cell).bias(b != null)
                .bidirectional(directions == 2).build();

        int h = (int) hidden;
        int[] order = lstm ? LSTM_ORDER : GRU_ORDER;
        float[] wv = values(w);
        float[] rv = values(r);
        float[] bv = b == null ? null : values(b);
        Map<String, float[]> stateDict = new LinkedHashMap<>();
        int wBlock = h * (int) inputSize;
        int rBlock = h * h;
        for (int d = 0; d < directions; d++) {
            String suffix = LstmWeights.suffix(0, d);
            stateDict.put("weight_ih" + suffix, reorder(wv, d * gates * wBlock, wBlock, order));
            stateDict.put("weight_hh" + suffix, reorder(rv, d * gates * rBlock, rBlock, order));
            if (bv != null) {
                stateDict.put("bias_ih" + suffix, reorder(bv, d * 2 * gates * h, h, order));
                stateDict.put("bias_hh" + suffix, reorder(bv, d * 2 * gates * h + gates * h, h, order));
            }
        }
        return LstmWeights.fromStateDict(config, stateDict);
    }

    private static float[] reorder(float[] src, int offset, int block, int[] order) {
        float[] out = new float[order.length * block];
        for (int k = 0; k < order.length; k++) {
            System.arraycopy(src, offset + order[k] * block, out, k * block, block);
        }
        return out;
    }

    private static Map<String, AttributeProto> attributes(NodeProto node, Set<String> known) {
        Map<String, AttributeProto> map = new HashMap<>();
        for (AttributeProto a : node.getAttributeList()) {
            if (!known.contains(a.getName())) {
                throw new IllegalArgumentException("unknown attribute '" + Json.shorten(a.getName()) + "' (" + node.getOpType()
                        + " has " + known.stream().sorted().toList() + ")");
            }
            if (!a.getRefAttrName().isEmpty()) {
                throw new IllegalArgumentException("attribute " + a.getName() + " refers to a function attribute ('"
                        + Json.shorten(a.getRefAttrName()) + "'); only values stored in the node are read");
            }
            if (map.put(a.getName(), a) != null) {
                throw new IllegalArgumentException("attribute " + a.getName() + " appears twice");
            }
        }
        return map;
    }

    private static long integer(AttributeProto a) {
        if (!a.hasI()) {
            throw new IllegalArgumentException("attribute " + a.getName() + " must be an integer (field 'i')");
        }
        return a.getI();
    }

    private static String string(AttributeProto a) {
        if (!a.hasS()) {
            throw new IllegalArgumentException("attribute " + a.getName() + " must be a string (field 's')");
        }
        return a.getS().toStringUtf8();
    }

    private static String number(AttributeProto a) {
        return a.hasF() ? String.valueOf(a.getF()) : "(no value)";
    }

    /** A weight tensor as stored: an initializer or the value of a Constant node. */
    private record TensorInfo(String role, String name, TensorProto proto, long[] dims) {
    }

    private static TensorInfo tensor(Path file, GraphProto graph, List<String> inputs, int index, String role) {
        if (inputs.size() <= index || inputs.get(index).isEmpty()) {
            throw new IllegalArgumentException("input " + role + " (input " + index + ") is missing");
        }
        String name = inputs.get(index);
        TensorProto found = null;
        for (TensorProto t : graph.getInitializerList()) {
            if (t.getName().equals(name)) {
                if (found != null) {
                    throw new IllegalArgumentException("input " + role + ": initializer '" + Json.shorten(name) + "' appears twice");
                }
                found = t;
            }
        }
        if (found == null) {
            for (NodeProto n : graph.getNodeList()) {
                if (n.getOutputList().contains(name)) {
                    if (!n.getOpType().equals("Constant")) {
                        throw new IllegalArgumentException("input " + role + " '" + Json.shorten(name) + "' is computed by node '"
                                + Json.shorten(id(n)) + "' (" + Json.shorten(n.getOpType()) + "), not stored in the file; "
                                + "export with do_constant_folding=True");
                    }
                    AttributeProto value = n.getAttributeList().stream().filter(a -> a.getName().equals("value")).findFirst()
                            .orElseThrow(() -> new IllegalArgumentException("input " + role + " '" + Json.shorten(name)
                                    + "': its Constant node has no tensor 'value'"));
                    if (!value.hasT()) {
                        throw new IllegalArgumentException("input " + role + " '" + Json.shorten(name)
                                + "': its Constant node's 'value' holds no tensor");
                    }
                    found = value.getT();
                    break;
                }
            }
        }
        if (found == null) {
            boolean graphInput = graph.getInputList().stream().anyMatch(v -> v.getName().equals(name));
            throw new IllegalArgumentException("input " + role + " '" + Json.shorten(name) + "' is "
                    + (graphInput ? "an input of the graph (was the model exported with export_params=False?)"
                            : "neither an initializer nor a Constant")
                    + ": the weights must be stored in the file");
        }
        long[] dims = new long[found.getDimsCount()];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = found.getDims(i);
            if (dims[i] < 0) {
                throw new IllegalArgumentException("input " + role + " '" + Json.shorten(name) + "' has a negative dimension "
                        + Arrays.toString(found.getDimsList().toArray()));
            }
        }
        return new TensorInfo(role, name, found, dims);
    }

    private static void rank(TensorInfo t, int rank) {
        if (t.dims.length != rank) {
            throw new IllegalArgumentException("input " + t.role + " '" + Json.shorten(t.name) + "' has shape "
                    + Arrays.toString(t.dims) + "; it must have " + rank + " dimensions");
        }
    }

    private static void expect(TensorInfo t, long[] dims, String meaning) {
        if (!Arrays.equals(t.dims, dims)) {
            throw new IllegalArgumentException("input " + t.role + " '" + Json.shorten(t.name) + "' has shape "
                    + Arrays.toString(t.dims) + ", expected " + Arrays.toString(dims) + " " + meaning);
        }
    }

    /** The tensor's values widened to float32; its stored byte or element count is checked against its dims first. */
    private static float[] values(TensorInfo t) {
        TensorProto p = t.proto;
        String what = "input " + t.role + " '" + Json.shorten(t.name) + "'";
        if (p.getDataLocation() == TensorProto.DataLocation.EXTERNAL || p.getExternalDataCount() > 0) {
            throw new IllegalArgumentException(what + " is stored in an external file, which this reader does not read");
        }
        if (p.hasSegment()) {
            throw new IllegalArgumentException(what + " is a segment of a larger tensor, which this reader does not read");
        }
        long count = 1;
        for (long d : t.dims) {
            count = Math.multiplyHigh(count, d) != 0 || count * d > Integer.MAX_VALUE - 8 ? -1 : count * d;
            if (count < 0) {
                throw new IllegalArgumentException(what + " " + Arrays.toString(t.dims) + " has too many elements");
            }
        }
        int n = (int) count;
        int type = p.getDataType();
        TensorProto.DataType dataType = TensorProto.DataType.forNumber(type);
        boolean raw = p.hasRawData();
        float[] out = new float[0];
        if (type == TensorProto.DataType.FLOAT_VALUE) {
            if (raw) {
                checkBytes(what, p.getRawData(), n, 4);
                out = new float[n];
                p.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
            } else {
                if (p.getFloatDataCount() != n) {
                    throw new IllegalArgumentException(what + " " + Arrays.toString(t.dims) + " needs " + n
                            + " values in float_data, found " + p.getFloatDataCount());
                }
                out = new float[n];
                for (int i = 0; i < n; i++) {
                    out[i] = p.getFloatData(i);
                }
            }
        } else if (type == TensorProto.DataType.FLOAT16_VALUE || type == TensorProto.DataType.BFLOAT16_VALUE) {
            boolean half = type == TensorProto.DataType.FLOAT16_VALUE;
            short[] bits = new short[0];
            if (raw) {
                checkBytes(what, p.getRawData(), n, 2);
                bits = new short[n];
                p.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(bits);
            } else {
                // Without raw_data, 16-bit values are stored one per int32_data entry.
                if (p.getInt32DataCount() != n) {
                    throw new IllegalArgumentException(what + " " + Arrays.toString(t.dims) + " needs " + n
                            + " values in int32_data, found " + p.getInt32DataCount());
                }
                bits = new short[n];
                for (int i = 0; i < n; i++) {
                    int v = p.getInt32Data(i);
                    if (v < 0 || v > 0xffff) {
                        throw new IllegalArgumentException(what + ": int32_data[" + i + "] = " + v + " is not a 16-bit value");
                    }
                    bits[i] = (short) v;
                }
            }
            out = new float[n];
            for (int i = 0; i < n; i++) {
                out[i] = half ? Float.float16ToFloat(bits[i]) : Float.intBitsToFloat(bits[i] << 16);
            }
        } else {
            throw new IllegalArgumentException(what + " has data type " + (dataType == null ? type : dataType + " (" + type + ")")
                    + "; only FLOAT, FLOAT16 and BFLOAT16 are read");
        }
        return out;
    }

    private static void checkBytes(String what, ByteString raw, int n, int size) {
        if (raw.size() != (long) n * size) {
            throw new IllegalArgumentException(what + " needs " + (long) n * size + " bytes of raw_data, found " + raw.size());
        }
    }

    static IllegalArgumentException fail(Path file, String message) {
        return Safetensors.fail(file, message);
    }
}
