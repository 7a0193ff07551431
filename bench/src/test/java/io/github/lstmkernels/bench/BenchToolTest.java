package io.github.lstmkernels.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.LstmWeights;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The tool as a user meets it: help everywhere, one-line errors with a non-zero exit, and run on a model file. */
class BenchToolTest {
    @TempDir
    Path dir;

    private record Outcome(int exit, String out, String err) {
    }

    private static Outcome tool(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = BenchTool.execute(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Outcome(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static void oneLineError(Outcome o, int exit, String start) {
        assertEquals(exit, o.exit(), o.err());
        assertTrue(o.err().startsWith("error: " + start), o.err());
        assertEquals(1, o.err().lines().count(), "one line, no stack trace: " + o.err());
    }

    @Test
    void helpListsEveryCommand() {
        Outcome o = tool("--help");
        assertEquals(0, o.exit());
        assertTrue(o.out().startsWith("Usage: lstm-kernels"), o.out());
        for (String command : List.of("compare", "chart", "example", "verify", "leakcheck", "train", "jmh", "run")) {
            assertTrue(o.out().contains("\n  " + command + " "), command + " missing from:\n" + o.out());
        }
        assertEquals("", o.err());
    }

    @ParameterizedTest
    @ValueSource(strings = {"compare", "chart", "example", "verify", "leakcheck", "train", "jmh", "run"})
    void everyCommandHasHelp(String command) {
        Outcome o = tool(command, "--help");
        assertEquals(0, o.exit(), o.err());
        assertTrue(o.out().startsWith("Usage: lstm-kernels " + command), o.out());
        Outcome viaHelp = tool("help", command);
        assertEquals(0, viaHelp.exit(), viaHelp.err());
        assertEquals(o.out(), viaHelp.out(), "'help " + command + "' shows the same");
    }

    @Test
    void wrongFlagsAndCommandsAreOneLineWithExitCode2() {
        oneLineError(tool("run", "--bogus"), 2, "Unknown option or argument: '--bogus'");
        oneLineError(tool("--bogus"), 2, "Unknown option: '--bogus'");
        oneLineError(tool("frobnicate"), 2, "unknown command 'frobnicate'");
        oneLineError(tool("run", "--model", "m.safetensors", "--input", "x.f32", "--seq-len", "two", "--batch", "1",
                "--output", "y.f32"), 2, "Invalid value for option '--seq-len'");
        oneLineError(tool("run", "--model", "m.onnx", "--prefix", "a.", "--node", "b", "--input", "x.f32", "--seq-len", "2",
                "--batch", "1", "--output", "y.f32"), 2, "--prefix=P, --node=NODE are mutually exclusive");
    }

    @Test
    void compareReportsTheLeastDisturbedForksMedian() {
        assertEquals(3.0, Compare.median(List.of(5.0, 1.0, 3.0)));
        assertEquals(3.0, Compare.median(List.of(4.0, 1.0, 100.0, 2.0)));
        assertEquals(502.0, Compare.leastDisturbed(List.of(795.0, 502.0, 767.0)));
        oneLineError(tool("compare", "--forks", "0"), 1, "--forks and --iterations are at least 1");
    }

    @Test
    void runWritesWhatTheKernelComputes() throws IOException {
        LstmConfig config = LstmConfig.builder(3, 4).numLayers(2).build();
        LstmWeights weights = LstmWeights.random(config, 5);
        Path model = dir.resolve("model.safetensors");
        writeSafetensors(model, "encoder.rnn.", weights.toStateDict());
        float[] x = new float[3 * 2 * 3];
        SplittableRandom random = new SplittableRandom(8);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextDouble(-1, 1);
        }
        writeFloats(dir.resolve("x.f32"), x);

        Outcome o = tool("run", "--model", model.toString(), "--prefix", "encoder.rnn.", "--input", dir.resolve("x.f32").toString(),
                "--seq-len", "3", "--batch", "2", "--backend", "scalar", "--output", dir.resolve("y.f32").toString(),
                "--h-n", dir.resolve("h.f32").toString(), "--c-n", dir.resolve("c.f32").toString());
        assertEquals(0, o.exit(), o.err());
        assertTrue(o.out().contains("on scalar: output [3, 2, 4] written to"), o.out());

        float[] y = new float[3 * 2 * 4];
        float[] h = new float[2 * 2 * 4];
        float[] c = new float[2 * 2 * 4];
        try (LstmKernel kernel = LstmKernels.backend("scalar").prepare(config, weights)) {
            kernel.sequence(3, 2, x, y, h, c);
        }
        assertArrayEquals(y, readFloats(dir.resolve("y.f32")));
        assertArrayEquals(h, readFloats(dir.resolve("h.f32")));
        assertArrayEquals(c, readFloats(dir.resolve("c.f32")));
    }

    @Test
    void badFilesAreOneLineWithExitCode1() throws IOException {
        Path x = dir.resolve("x.f32");
        writeFloats(x, new float[7]);
        String[] common = {"--input", x.toString(), "--seq-len", "3", "--batch", "2", "--output", dir.resolve("y.f32").toString()};

        oneLineError(tool(concat(new String[] {"run", "--model", dir.resolve("none.safetensors").toString()}, common)), 1,
                "no such file: ");
        Path damaged = dir.resolve("m.safetensors");
        Files.write(damaged, new byte[] {8, 0, 0, 0, 0, 0, 0, 0, '{', '"'});
        oneLineError(tool(concat(new String[] {"run", "--model", damaged.toString()}, common)), 1, "m.safetensors: header length 8");

        LstmWeights weights = LstmWeights.random(LstmConfig.builder(3, 4).build(), 1);
        Path model = dir.resolve("model.safetensors");
        writeSafetensors(model, "", weights.toStateDict());
        oneLineError(tool(concat(new String[] {"run", "--model", model.toString()}, common)), 1,
                "--input " + x + " has 28 bytes; [T, B, I] = [3, 2, 3] float32 needs 72");
        oneLineError(tool(concat(new String[] {"run", "--model", model.toString(), "--backend", "nosuch"}, common)), 1,
                "no backend named 'nosuch'");
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** A safetensors file, F32, tensors back to back in map order. */
    private static void writeSafetensors(Path file, String prefix, Map<String, float[]> tensors) throws IOException {
        StringBuilder header = new StringBuilder("{");
        long offset = 0;
        for (Map.Entry<String, float[]> e : tensors.entrySet()) {
            int[] shape = LstmWeights.tensorShapes(weightsConfig(tensors)).get(e.getKey());
            header.append(header.length() > 1 ? "," : "").append('"').append(prefix).append(e.getKey())
                    .append("\":{\"dtype\":\"F32\",\"shape\":").append(java.util.Arrays.toString(shape).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(offset).append(',').append(offset + 4L * e.getValue().length).append("]}");
            offset += 4L * e.getValue().length;
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + h.length + (int) offset).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(h.length).put(h);
        tensors.values().forEach(v -> {
            for (float f : v) {
                out.putFloat(f);
            }
        });
        Files.write(file, out.array());
    }

    /** The configurations these tests write: LSTM, input 3, hidden 4, one or two layers. */
    private static LstmConfig weightsConfig(Map<String, float[]> tensors) {
        return LstmConfig.builder(3, 4).numLayers(tensors.containsKey("weight_ih_l1") ? 2 : 1).build();
    }

    private static void writeFloats(Path file, float[] values) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        Files.write(file, b.array());
    }

    private static float[] readFloats(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }
}
