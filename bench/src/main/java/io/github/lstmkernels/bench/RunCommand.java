package io.github.lstmkernels.bench;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.LstmProperties;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.formats.ModelFiles;
import io.github.lstmkernels.spi.LstmBackend;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code run}: a model file on raw float32 input, for checking a model from the shell. */
@Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Runs the recurrent layers of a model file on raw float32 input and writes the outputs.",
                "Tensors are raw little-endian float32 files, row-major, in PyTorch's layouts:",
                "x [T, B, I] ([B, T, I] with --batch-first), output [T, B, D*Hout] ([B, T, D*Hout]),",
                "h0 and h_n [L*D, B, Hout], c0 and c_n [L*D, B, H]."},
        footer = {"", "Examples:",
                "  lstm-kernels run --model model.safetensors --prefix encoder.rnn. --input x.f32 --seq-len 10 --batch 8 --output y.f32",
                "  lstm-kernels run --model model.onnx --node /rnn/LSTM,/rnn/LSTM_1 --input x.f32 --seq-len 10 --batch 8 --output y.f32"})
final class RunCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "FILE",
            description = "A .safetensors state_dict or an .onnx export.")
    Path model;

    @ArgGroup(exclusive = true)
    Selector selector;

    static final class Selector {
        @Option(names = "--prefix", paramLabel = "P",
                description = "safetensors: the layer's name prefix, e.g. encoder.rnn. (default: none)")
        String prefix;
        @Option(names = "--node", paramLabel = "NODE", split = ",", splitSynopsisLabel = ",",
                description = "ONNX: the LSTM/GRU node; a comma-separated list (one node per layer, in order) "
                        + "runs as one stack (default: the graph's only recurrent node)")
        List<String> nodes;
    }

    @Option(names = "--input", required = true, paramLabel = "x.f32", description = "The input x.")
    Path input;
    @Option(names = "--seq-len", required = true, paramLabel = "T", description = "Time steps in x.")
    int seqLen;
    @Option(names = "--batch", required = true, paramLabel = "B", description = "Sequences in x.")
    int batch;
    @Option(names = "--batch-first", description = "x and the output are [B, T, ...] (PyTorch's batch_first=True).")
    boolean batchFirst;
    @Option(names = "--backend", paramLabel = "NAME",
            description = "scalar, simd, onednn (default: the " + LstmProperties.BACKEND + " property, else the best available).")
    String backend;
    @Option(names = "--h0", paramLabel = "FILE", description = "Initial h (default: zeros).")
    Path h0;
    @Option(names = "--c0", paramLabel = "FILE", description = "Initial c, LSTM only (default: zeros).")
    Path c0;
    @Option(names = "--output", required = true, paramLabel = "y.f32", description = "Where the output sequence goes.")
    Path output;
    @Option(names = "--h-n", paramLabel = "FILE", description = "Where the final h goes.")
    Path hN;
    @Option(names = "--c-n", paramLabel = "FILE", description = "Where the final c goes (LSTM only).")
    Path cN;

    @Override
    public Integer call() throws IOException {
        if (seqLen < 1 || batch < 1) {
            throw new IllegalArgumentException("--seq-len and --batch must be >= 1, got " + seqLen + " and " + batch);
        }
        // A wrong backend name is found before any file is read.
        LstmBackend chosen = backend != null ? LstmKernels.backend(backend)
                : LstmKernels.select(System.getProperty(LstmProperties.BACKEND));
        LstmWeights weights = load();
        LstmConfig read = weights.config();
        if (batchFirst) {
            LstmConfig config = LstmConfig.builder(read.inputSize(), read.hiddenSize()).cell(read.cell())
                    .numLayers(read.numLayers()).bias(read.bias()).bidirectional(read.bidirectional())
                    .projectionSize(read.projectionSize()).batchFirst(true).build();
            weights = LstmWeights.fromStateDict(config, weights.toStateDict());
        }
        LstmConfig config = weights.config();
        boolean gru = config.cell() == CellType.GRU;
        if (gru && (c0 != null || cN != null)) {
            throw new IllegalArgumentException("the model is a GRU, which has no cell state: drop --c0 and --c-n");
        }
        int rows = config.numLayers() * config.numDirections();
        float[] x = read(input, "--input", count(seqLen, batch, config.inputSize()),
                (batchFirst ? "[B, T, I] = [" + batch + ", " + seqLen : "[T, B, I] = [" + seqLen + ", " + batch) + ", " + config.inputSize() + "]");
        float[] h = h0 == null ? new float[rows * batch * config.outputSize()]
                : read(h0, "--h0", (long) rows * batch * config.outputSize(), "[L*D, B, Hout] = [" + rows + ", " + batch + ", " + config.outputSize() + "]");
        float[] c = c0 == null ? new float[rows * batch * config.hiddenSize()]
                : read(c0, "--c0", (long) rows * batch * config.hiddenSize(), "[L*D, B, H] = [" + rows + ", " + batch + ", " + config.hiddenSize() + "]");
        long outputs = count(seqLen, batch, config.numDirections() * config.outputSize());
        if (outputs > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("the output would have " + outputs + " floats, more than one array holds");
        }
        float[] y = new float[(int) outputs];

        try (LstmKernel kernel = chosen.prepare(config, weights)) {
            sequence(kernel, seqLen, batch, x, y, h, c);
        }
        write(output, y);
        if (hN != null) {
            write(hN, h);
        }
        if (cN != null) {
            write(cN, c);
        }
        int width = config.numDirections() * config.outputSize();
        spec.commandLine().getOut().printf(Locale.ROOT, "%s on %s: output %s written to %s%s%s%n", config, chosen.name(),
                batchFirst ? List.of(batch, seqLen, width) : List.of(seqLen, batch, width), output,
                hN != null ? ", h_n to " + hN : "", cN != null ? ", c_n to " + cN : "");
        return 0;
    }

    private LstmWeights load() throws IOException {
        boolean onnx = isOnnx(model);
        if (onnx && selector != null && selector.prefix != null) {
            throw new IllegalArgumentException("--prefix selects tensors of a safetensors file; " + model + " is ONNX: use --node");
        }
        if (!onnx && selector != null && selector.nodes != null) {
            throw new IllegalArgumentException("--node selects a node of an ONNX model; " + model + " is safetensors: use --prefix");
        }
        if (!onnx) {
            return ModelFiles.readSafetensors(model, selector == null || selector.prefix == null ? "" : selector.prefix);
        }
        if (selector == null || selector.nodes == null) {
            try {
                return ModelFiles.readOnnx(model, null);
            } catch (IllegalArgumentException e) {
                List<String> nodes = ModelFiles.onnxRecurrentNodes(model);
                if (nodes.size() > 1) {
                    throw new IllegalArgumentException(e.getMessage() + "; to run them as one stack: --node " + String.join(",", nodes), e);
                }
                throw e;
            }
        }
        List<LstmWeights> layers = new ArrayList<>();
        for (String node : selector.nodes) {
            layers.add(ModelFiles.readOnnx(model, node));
        }
        return ModelFiles.stackLayers(layers);
    }

    /** By the name, else by the content: a safetensors file has its JSON header's '{' at byte 8. */
    private static boolean isOnnx(Path file) throws IOException {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".onnx")) {
            return true;
        }
        if (name.endsWith(".safetensors")) {
            return false;
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] head = in.readNBytes(9);
            return head.length < 9 || head[8] != '{';
        }
    }

    /** The product, or Long.MAX_VALUE when it would not fit (then every size check refuses it). */
    private static long count(long a, long b, long c) {
        try {
            return Math.multiplyExact(Math.multiplyExact(a, b), c);
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    private static float[] read(Path file, String option, long floats, String shape) throws IOException {
        long size = Files.size(file);
        if (floats > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(option + ": " + shape + " is more floats than one array holds");
        }
        if (size != floats * 4) {
            throw new IllegalArgumentException(option + " " + file + " has " + size + " bytes; " + shape + " float32 needs "
                    + floats * 4);
        }
        float[] out = new float[(int) floats];
        ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }

    private static void write(Path file, float[] values) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(values);
        Files.write(file, bytes.array());
    }

    /** {@code sequence} for either cell: a GRU has no cell state, so its c is left out. */
    private static void sequence(LstmKernel kernel, int seqLen, int batch, float[] x, float[] y, float[] h, float[] c) {
        kernel.sequence(seqLen, batch, null, x, y, h, kernel.config().cell() == CellType.GRU ? null : c);
    }
}
