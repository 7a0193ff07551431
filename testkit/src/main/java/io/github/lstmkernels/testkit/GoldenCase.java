package io.github.lstmkernels.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.lstmkernels.CellType;
import io.github.lstmkernels.Feature;
import io.github.lstmkernels.LstmConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * One golden case (format of {@code golden/README.md}): the configuration read from
 * {@code case.json} and its tensors read from their little-endian files on demand.
 */
public final class GoldenCase {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** An output tensor with the tolerance rule {@code |got - ref| <= atol + rtol·|ref|}. */
    public record Output(String name, int[] shape, double atol, double rtol) {
    }

    private final Path dir;
    private final JsonNode json;
    private final Map<String, JsonNode> tensors = new LinkedHashMap<>();

    private GoldenCase(Path dir, JsonNode json) {
        this.dir = dir;
        this.json = json;
        for (JsonNode t : json.path("tensors")) {
            tensors.put(t.path("name").asText(), t);
        }
    }

    /** Every case below {@code root}: each subfolder holding a {@code case.json}, sorted by name. */
    public static List<GoldenCase> findAll(Path root) {
        if (!Files.isDirectory(root)) {
            throw new IllegalArgumentException("golden directory " + root.toAbsolutePath() + " does not exist");
        }
        try (Stream<Path> children = Files.list(root)) {
            return children.filter(p -> Files.isRegularFile(p.resolve("case.json"))).sorted()
                    .map(GoldenCase::load).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + root, e);
        }
    }

    public static GoldenCase load(Path dir) {
        try {
            return new GoldenCase(dir, JSON.readTree(dir.resolve("case.json").toFile()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + dir.resolve("case.json"), e);
        }
    }

    public String name() {
        return json.path("name").asText(dir.getFileName().toString());
    }

    /** {@code "sequence"}, {@code "step"} or {@code "backward"}. */
    public String mode() {
        return json.path("mode").asText();
    }

    public String kind() {
        return json.path("kind").asText();
    }

    public int seqLen() {
        return json.path("seq_len").asInt();
    }

    public int batch() {
        return json.path("batch").asInt();
    }

    public boolean hasInitialState() {
        return json.path("has_initial_state").asBoolean(true);
    }

    public boolean hasLengths() {
        return json.path("has_lengths").asBoolean(false);
    }

    /** The configuration of {@code case.json} as an {@link LstmConfig}. */
    public LstmConfig config() {
        return LstmConfig.builder(json.path("input_size").asInt(), json.path("hidden_size").asInt())
                .cell("gru".equals(kind()) ? CellType.GRU : CellType.LSTM)
                .numLayers(json.path("num_layers").asInt(1))
                .bias(json.path("bias").asBoolean(true))
                .batchFirst(json.path("batch_first").asBoolean(false))
                .bidirectional(json.path("bidirectional").asBoolean(false))
                .projectionSize(json.path("proj_size").asInt(0))
                .build();
    }

    /** What a backend must implement to run this case: the configuration's features plus the call's. */
    public Set<Feature> requiredFeatures() {
        Set<Feature> features = EnumSet.noneOf(Feature.class);
        features.addAll(config().requiredFeatures());
        if (hasLengths()) {
            features.add(Feature.VARIABLE_LENGTHS);
        }
        if ("backward".equals(mode())) {
            features.add(Feature.BACKWARD);
        }
        return features;
    }

    /** The parameters (role {@code param}) under their PyTorch names. */
    public Map<String, float[]> parameters() {
        Map<String, float[]> params = new LinkedHashMap<>();
        tensors.forEach((name, t) -> {
            if ("param".equals(t.path("role").asText())) {
                params.put(name, floats(name));
            }
        });
        return params;
    }

    public List<Output> outputs() {
        List<Output> outputs = new ArrayList<>();
        tensors.forEach((name, t) -> {
            if ("output".equals(t.path("role").asText())) {
                JsonNode tol = t.path("tolerance");
                outputs.add(new Output(name, shape(name), tol.path("atol").asDouble(0), tol.path("rtol").asDouble(0)));
            }
        });
        return outputs;
    }

    public int[] shape(String tensor) {
        JsonNode shape = entry(tensor).path("shape");
        int[] dims = new int[shape.size()];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = shape.get(i).asInt();
        }
        return dims;
    }

    /** A float32 tensor, checked to hold exactly {@code prod(shape)} values. */
    public float[] floats(String tensor) {
        JsonNode t = entry(tensor);
        if (!"float32".equals(t.path("dtype").asText("float32"))) {
            throw new IllegalStateException(name() + ": tensor " + tensor + " is " + t.path("dtype").asText() + ", not float32");
        }
        Path file = dir.resolve(t.path("file").asText(tensor + ".f32"));
        try {
            byte[] bytes = Files.readAllBytes(file);
            long expected = 4L * product(shape(tensor));
            if (bytes.length != expected) {
                throw new IllegalStateException(file + ": " + bytes.length + " bytes, expected " + expected);
            }
            float[] values = new float[bytes.length / 4];
            ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
            return values;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    /** The int32 {@code lengths [B]} of a case with per-sequence lengths. */
    public int[] lengths() {
        JsonNode t = entry("lengths");
        Path file = dir.resolve(t.path("file").asText("lengths.i32"));
        try {
            byte[] bytes = Files.readAllBytes(file);
            if (bytes.length != 4L * product(shape("lengths"))) {
                throw new IllegalStateException(file + ": " + bytes.length + " bytes, expected " + 4L * product(shape("lengths")));
            }
            int[] values = new int[bytes.length / 4];
            ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(values);
            return values;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    private JsonNode entry(String tensor) {
        JsonNode t = tensors.get(tensor);
        if (t == null) {
            throw new IllegalArgumentException(name() + " has no tensor '" + tensor + "'");
        }
        return t;
    }

    static long product(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public String toString() {
        return name();
    }
}
