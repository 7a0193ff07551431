package io.github.lstmkernels.formats;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Reads a trained PyTorch recurrent layer stack ({@code nn.LSTM}, {@code nn.GRU}) from the files
 * PyTorch users keep: a {@code .safetensors} {@code state_dict}, or an ONNX export.
 *
 * <pre>{@code
 * LstmWeights weights = ModelFiles.readSafetensors(Path.of("model.safetensors"), "encoder.rnn.");
 * try (LstmKernel rnn = LstmKernels.prepare(weights.config(), weights)) {
 *     rnn.sequence(seqLen, batch, x, y, h, c);
 * }
 * }</pre>
 *
 * <p>Files are untrusted input: every length, offset, shape and byte count is checked against the
 * file before anything is allocated or read. A damaged, truncated or unsupported file gives an
 * {@link IllegalArgumentException} whose message starts with the file's name and names the tensor,
 * field or attribute at fault; an I/O failure gives an {@link IOException}. Files over 1 MiB are
 * memory-mapped, and only the tensors of the layer are copied onto the heap.
 *
 * <p>The configuration is returned in {@code weights.config()}, time-major. To run batch-first, make
 * weights for that configuration: {@code LstmWeights.fromStateDict(batchFirstConfig, weights.toStateDict())}.
 */
public final class ModelFiles {
    private ModelFiles() {
    }

    /**
     * The recurrent layers of a safetensors file. Every tensor whose name starts with {@code prefix}
     * (e.g. {@code "encoder.rnn."}; {@code ""} when the file holds only the layer) is taken, with the
     * prefix removed, as a {@code state_dict} entry under PyTorch's names ({@code weight_ih_l0},
     * {@code weight_hh_l1_reverse}, ...); all other tensors are ignored (but their header entries are
     * still checked). The configuration is inferred: the number of layers from the highest
     * {@code _l{k}}, bidirectional from {@code _reverse}, projection from {@code weight_hr}, bias from
     * the presence of {@code bias_ih}, LSTM or GRU from the rows of {@code weight_hh} (4 or 3 times the
     * hidden size). dtypes F32, F16 and BF16 are widened exactly to float32; any other dtype of a
     * selected tensor is refused.
     *
     * @throws IllegalArgumentException for a damaged file, a tensor set that is no {@code nn.LSTM}/{@code nn.GRU},
     *                                  or no tensor under {@code prefix}; the message names the tensor or field
     * @throws IOException              if the file cannot be read
     */
    public static LstmWeights readSafetensors(Path file, String prefix) throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(prefix, "prefix");
        return Safetensors.read(file, prefix);
    }

    /**
     * The weights of one ONNX {@code LSTM} or {@code GRU} node, converted to PyTorch's names and
     * layouts: gate blocks reordered (ONNX i, o, f, c → PyTorch i, f, g, o; ONNX z, r, h → PyTorch
     * r, z, n), {@code B = [Wb, Rb]} split into {@code bias_ih}/{@code bias_hh}, one or two
     * directions. <b>One node is one layer</b>: PyTorch exports a k-layer module as k nodes
     * ({@code /rnn/LSTM}, {@code /rnn/LSTM_1}, ...); read each and join them with
     * {@link #stackLayers}. The weights must be stored in the file (initializers or Constant nodes,
     * as {@code torch.onnx.export} writes them with its default {@code do_constant_folding=True}).
     *
     * <p>Refused, with the attribute or input named: {@code direction = reverse}, {@code clip},
     * {@code input_forget ≠ 0}, {@code activations} other than the defaults, GRU's
     * {@code linear_before_reset = 0} (ONNX's default; PyTorch exports 1), {@code layout = 1},
     * non-zero peepholes {@code P}, and weights stored in external files.
     *
     * @param nodeName the node's name (a node without a name goes by its first output's name); null
     *                 when the graph has exactly one recurrent node
     * @throws IllegalArgumentException for a damaged file, a refused attribute, or a missing or
     *                                  ambiguous node (the message lists the graph's recurrent nodes)
     * @throws IOException              if the file cannot be read
     */
    public static LstmWeights readOnnx(Path file, String nodeName) throws IOException {
        Objects.requireNonNull(file, "file");
        return Onnx.withModel(file, model -> Onnx.read(file, model, nodeName));
    }

    /** The names of an ONNX model's LSTM and GRU nodes, in graph order (one per layer in PyTorch's export). */
    public static List<String> onnxRecurrentNodes(Path file) throws IOException {
        Objects.requireNonNull(file, "file");
        return Onnx.withModel(file, model -> Onnx.recurrentNodes(file, model));
    }

    /**
     * Stacks layers read separately (for example the nodes of an ONNX export, in order) into one
     * multi-layer stack: layer k + 1 reads layer k's output, as in {@code nn.LSTM(num_layers=...)}.
     *
     * @throws IllegalArgumentException if the layers differ in cell, hidden size, bias, directions or
     *                                  projection, or a layer's input size is not its predecessor's output size
     */
    public static LstmWeights stackLayers(List<LstmWeights> layers) {
        Objects.requireNonNull(layers, "layers");
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("no layers to stack");
        }
        LstmConfig first = layers.getFirst().config();
        Map<String, float[]> stateDict = new LinkedHashMap<>();
        int total = 0;
        for (int i = 0; i < layers.size(); i++) {
            LstmConfig c = Objects.requireNonNull(layers.get(i), "layers[" + i + "]").config();
            if (c.cell() != first.cell() || c.hiddenSize() != first.hiddenSize() || c.bias() != first.bias()
                    || c.bidirectional() != first.bidirectional() || c.projectionSize() != first.projectionSize()) {
                throw new IllegalArgumentException("layers[" + i + "] is " + c + ", which does not stack on layers[0], " + first);
            }
            if (i > 0 && c.inputSize() != first.numDirections() * first.outputSize()) {
                throw new IllegalArgumentException("layers[" + i + "] has input size " + c.inputSize() + ", but the layer below "
                        + "gives " + first.numDirections() * first.outputSize() + " features");
            }
            for (Map.Entry<String, float[]> e : layers.get(i).toStateDict().entrySet()) {
                stateDict.put(renumber(e.getKey(), total), e.getValue());
            }
            total += c.numLayers();
        }
        LstmConfig config = LstmConfig.builder(first.inputSize(), first.hiddenSize()).cell(first.cell()).numLayers(total)
                .bias(first.bias()).batchFirst(first.batchFirst()).bidirectional(first.bidirectional())
                .projectionSize(first.projectionSize()).build();
        return LstmWeights.fromStateDict(config, stateDict);
    }

    /** {@code weight_ih_l1_reverse} with offset 2 → {@code weight_ih_l3_reverse}. */
    private static String renumber(String name, int offset) {
        int at = name.lastIndexOf("_l");
        int end = at + 2;
        while (end < name.length() && Character.isDigit(name.charAt(end))) {
            end++;
        }
        return name.substring(0, at + 2) + (Integer.parseInt(name.substring(at + 2, end)) + offset) + name.substring(end);
    }
}
