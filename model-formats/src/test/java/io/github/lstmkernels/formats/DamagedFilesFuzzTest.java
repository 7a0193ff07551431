package io.github.lstmkernels.formats;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Thousands of damaged copies of the PyTorch-made files: truncated, bytes flipped, huge lengths
 * and numbers written in, bytes inserted and removed. Every copy must either read (a flipped weight
 * is still a valid file) or be refused with an IllegalArgumentException whose message starts with
 * the file's name; any other exception or error (out of memory, index out of bounds, ...) fails.
 */
class DamagedFilesFuzzTest {
    private static final int ROUNDS = 500;

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}/{1}")
    @CsvSource(nullValues = "null", value = {
            "lstm_bi_proj, model.safetensors, encoder.rnn.",
            "gru_bf16, model.safetensors, ''",
            "lstm_f16_nobias_bf, model.safetensors, ''",
            "onnx_lstm, state_dict.safetensors, ''",
            "onnx_lstm, model.onnx, /LSTM_1",
            "onnx_gru_bi, model.onnx, null"})
    void damagedCopiesAreReadOrRefusedWithAMessage(String model, String fileName, String selector) throws IOException {
        byte[] original = Files.readAllBytes(TestModels.file(model, fileName));
        boolean onnx = fileName.endsWith(".onnx");
        Path file = dir.resolve(onnx ? "m.onnx" : "m.safetensors");
        // The safetensors header is where structure lives; most damage goes there (the data are any floats).
        int structured = onnx ? original.length
                : 8 + (int) ByteBuffer.wrap(original).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        SplittableRandom random = new SplittableRandom(model.hashCode() * 31L + fileName.hashCode());
        int refused = 0;
        for (int round = 0; round < ROUNDS; round++) {
            byte[] damaged = onnx && random.nextInt(3) == 0 ? mutateOnnxFields(original, random)
                    : mutate(original, structured, onnx, random);
            Files.write(file, damaged);
            try {
                if (onnx) {
                    ModelFiles.readOnnx(file, selector);
                } else {
                    ModelFiles.readSafetensors(file, selector);
                }
            } catch (IllegalArgumentException e) {
                refused++;
                if (e.getMessage() == null || !e.getMessage().startsWith(file.getFileName() + ": ")
                        || e.getMessage().length() < file.getFileName().toString().length() + 10) {
                    fail("round " + round + ": a refusal without a proper message: " + e.getMessage(), e);
                }
            } catch (Throwable t) {
                Path kept = dir.resolve("failing-" + round + "-" + file.getFileName());
                Files.write(kept, damaged);
                fail("round " + round + " of " + model + "/" + fileName + ": " + t + " instead of an IllegalArgumentException", t);
            }
        }
        System.out.printf("DamagedFilesFuzzTest: %s/%s: %d damaged copies, %d refused, %d still valid%n", model, fileName,
                ROUNDS, refused, ROUNDS - refused);
        // Most damage in the structure must be seen: a reader that accepted everything would fail here.
        assertTrue(refused > ROUNDS / 3, "only " + refused + " of " + ROUNDS + " damaged copies were refused");
    }

    private static final long[] ODD_SIZES = {0, -1, 1, 2, 3, Integer.MAX_VALUE, Integer.MAX_VALUE + 1L, 1L << 40, Long.MAX_VALUE,
            Long.MIN_VALUE};

    /** A valid protobuf whose ONNX fields lie: dims, data types, raw data, attributes, inputs. */
    private static byte[] mutateOnnxFields(byte[] original, SplittableRandom random) throws IOException {
        var model = io.github.lstmkernels.formats.onnx.OnnxProto.ModelProto.parseFrom(original).toBuilder();
        var graph = model.getGraphBuilder();
        int edits = 1 + random.nextInt(3);
        for (int e = 0; e < edits; e++) {
            switch (random.nextInt(6)) {
                case 0 -> {
                    var t = graph.getInitializerBuilder(random.nextInt(graph.getInitializerCount()));
                    if (t.getDimsCount() > 0) {
                        t.setDims(random.nextInt(t.getDimsCount()), ODD_SIZES[random.nextInt(ODD_SIZES.length)]);
                    }
                }
                case 1 -> graph.getInitializerBuilder(random.nextInt(graph.getInitializerCount())).setDataType(random.nextInt(-2, 30));
                case 2 -> {
                    var t = graph.getInitializerBuilder(random.nextInt(graph.getInitializerCount()));
                    t.setRawData(t.getRawData().substring(0, random.nextInt(t.getRawData().size() + 1)));
                }
                case 3 -> {
                    var n = graph.getNodeBuilder(random.nextInt(graph.getNodeCount()));
                    if (n.getAttributeCount() > 0) {
                        var a = n.getAttributeBuilder(random.nextInt(n.getAttributeCount()));
                        a.setI(ODD_SIZES[random.nextInt(ODD_SIZES.length)]).setS(com.google.protobuf.ByteString.copyFromUtf8("x"));
                    }
                }
                case 4 -> {
                    var n = graph.getNodeBuilder(random.nextInt(graph.getNodeCount()));
                    var other = graph.getNode(random.nextInt(graph.getNodeCount()));
                    if (n.getInputCount() > 0 && other.getOutputCount() > 0) {
                        n.setInput(random.nextInt(n.getInputCount()), other.getOutput(0)); // a weight computed by another node
                    }
                }
                default -> {
                    var t = graph.getInitializerBuilder(random.nextInt(graph.getInitializerCount()));
                    t.addDims(ODD_SIZES[random.nextInt(ODD_SIZES.length)]);
                }
            }
        }
        return model.build().toByteArray();
    }

    private static final String[] HUGE_NUMBERS = {"18446744073709551615", "9223372036854775807", "4294967296", "2147483647",
            "-1", "99999999999999999999999", "1e308", "0", "4611686018427387904"};

    private static byte[] mutate(byte[] original, int structured, boolean onnx, SplittableRandom random) {
        byte[] b = original.clone();
        switch (random.nextInt(onnx ? 5 : 6)) {
            case 0 -> {
                return Arrays.copyOf(b, random.nextInt(b.length)); // truncated
            }
            case 1 -> {
                int flips = 1 + random.nextInt(8);
                for (int i = 0; i < flips; i++) {
                    int at = random.nextInt(structured);
                    b[at] = random.nextBoolean() ? (byte) (b[at] ^ (1 << random.nextInt(8))) : (byte) random.nextInt(256);
                }
                return b;
            }
            case 2 -> {
                // A huge length: as an 8-byte little-endian value, or as a protobuf varint.
                int at = random.nextInt(Math.max(1, structured - 8));
                if (onnx) {
                    byte[] varint = {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0x07};
                    System.arraycopy(varint, 0, b, at, Math.min(varint.length, b.length - at));
                } else {
                    long huge = random.nextBoolean() ? Long.MAX_VALUE : (random.nextBoolean() ? -1L : 1L << 32);
                    ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(random.nextBoolean() ? 0 : at, huge);
                }
                return b;
            }
            case 3 -> {
                int at = random.nextInt(structured);
                int n = 1 + random.nextInt(16);
                byte[] out = new byte[b.length + n];
                System.arraycopy(b, 0, out, 0, at);
                for (int i = 0; i < n; i++) {
                    out[at + i] = (byte) random.nextInt(256);
                }
                System.arraycopy(b, at, out, at + n, b.length - at);
                return out;
            }
            case 4 -> {
                int at = random.nextInt(structured);
                int n = Math.min(1 + random.nextInt(16), b.length - at);
                byte[] out = new byte[b.length - n];
                System.arraycopy(b, 0, out, 0, at);
                System.arraycopy(b, at + n, out, at, b.length - at - n);
                return out;
            }
            default -> {
                // safetensors: a number of the JSON header replaced by a huge or negative one (keeps the header length right).
                String header = new String(b, 8, structured - 8, StandardCharsets.UTF_8);
                int[] digits = java.util.stream.IntStream.range(0, header.length())
                        .filter(i -> Character.isDigit(header.charAt(i)) && (i == 0 || !Character.isDigit(header.charAt(i - 1))))
                        .toArray();
                int start = digits[random.nextInt(digits.length)];
                int end = start;
                while (end < header.length() && Character.isDigit(header.charAt(end))) {
                    end++;
                }
                String changed = header.substring(0, start) + HUGE_NUMBERS[random.nextInt(HUGE_NUMBERS.length)] + header.substring(end);
                byte[] h = changed.getBytes(StandardCharsets.UTF_8);
                ByteBuffer out = ByteBuffer.allocate(8 + h.length + b.length - structured).order(ByteOrder.LITTLE_ENDIAN);
                out.putLong(h.length).put(h).put(b, structured, b.length - structured);
                return out.array();
            }
        }
    }
}
