package io.github.lstmkernels.formats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each kind of damage the issue lists gives an IllegalArgumentException naming the file and the tensor or field. */
class SafetensorsDamageTest {
    @TempDir
    Path dir;

    /** A one-layer GRU(2, 1) header whose tensors tile 4·(6 + 3 + 3 + 3) = 60 bytes; {@code %s} slots let tests bend it. */
    private static final String GOOD = "{\"__metadata__\":{\"format\":\"pt\"},"
            + "\"weight_ih_l0\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},"
            + "\"weight_hh_l0\":{\"dtype\":\"F32\",\"shape\":[3,1],\"data_offsets\":[24,36]},"
            + "\"bias_ih_l0\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[36,48]},"
            + "\"bias_hh_l0\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[48,60]}}";

    private Path write(String header, int dataBytes) throws IOException {
        return write(header.getBytes(StandardCharsets.UTF_8), dataBytes);
    }

    private Path write(byte[] header, int dataBytes) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
        out.writeBytes(header);
        ByteBuffer data = ByteBuffer.allocate(dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i + 4 <= dataBytes; i += 4) {
            data.putFloat(i, i / 4 + 0.5f);
        }
        out.writeBytes(data.array());
        Path file = dir.resolve("m.safetensors");
        Files.write(file, out.toByteArray());
        return file;
    }

    private static void refused(Path file, String prefix, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelFiles.readSafetensors(file, prefix));
        assertTrue(e.getMessage().startsWith("m.safetensors: "), e.getMessage());
        for (String fragment : fragments) {
            assertTrue(e.getMessage().contains(fragment), "'" + fragment + "' not in: " + e.getMessage());
        }
    }

    @Test
    void theValidFileReadsAsAGru() throws IOException {
        LstmWeights w = ModelFiles.readSafetensors(write(GOOD, 60), "");
        assertEquals(LstmConfig.builder(2, 1).cell(io.github.lstmkernels.CellType.GRU).build(), w.config());
        Map<String, float[]> sd = w.toStateDict();
        assertEquals(0.5f, sd.get("weight_ih_l0")[0]);
        assertEquals(14.5f, sd.get("bias_hh_l0")[2]);
    }

    @Test
    void tooShortForTheHeaderLength() throws IOException {
        Path file = dir.resolve("m.safetensors");
        Files.write(file, new byte[] {1, 2, 3});
        refused(file, "", "3 bytes");
    }

    @Test
    void headerLongerThanTheFile() throws IOException {
        Path file = write(GOOD, 60);
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, bytes.length);
        Files.write(file, bytes);
        refused(file, "", "header length " + bytes.length, "larger than");
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -1L); // 2^64 - 1 as the format's unsigned length
        Files.write(file, bytes);
        refused(file, "", "header length 18446744073709551615");
    }

    @Test
    void headerOverTheFormatsLimit() throws IOException {
        Path file = dir.resolve("m.safetensors");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(100_000_100L); // sparse: nothing is written or read past the length
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(100_000_001L).array());
        }
        refused(file, "", "over the format's limit");
    }

    @Test
    void malformedJson() throws IOException {
        refused(write(GOOD.substring(0, GOOD.length() - 1), 60), "", "header: malformed JSON at offset 294", "expected ',' or '}'");
        refused(write(GOOD.replace("[3,2]", "[3,2"), 60), "", "malformed JSON");
        refused(write("[1,2]", 0), "", "not a JSON object");
        refused(write(new byte[] {'{', '"', (byte) 0xC3, '"', ':', '1', '}'}, 0), "", "not valid UTF-8");
        refused(write("{\"a\":" + "[".repeat(100) + "]".repeat(100) + "}", 0), "", "nested deeper");
    }

    @Test
    void duplicateNames() throws IOException {
        String dup = GOOD.replace("}}", "},\"bias_hh_l0\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[60,72]}}");
        refused(write(dup, 72), "", "duplicate key \"bias_hh_l0\"");
    }

    @Test
    void overlappingTensors() throws IOException {
        refused(write(GOOD.replace("[24,36]", "[20,32]"), 60), "", "tensor 'weight_hh_l0' [20, 32) overlaps tensor 'weight_ih_l0' [0, 24)");
    }

    @Test
    void outOfRangeAndGapsAndShortData() throws IOException {
        refused(write(GOOD.replace("[48,60]", "[48,6000000000000]"), 60), "", "tensor 'bias_hh_l0'", "outside the 60 bytes");
        refused(write(GOOD.replace("[48,60]", "[60,48]"), 60), "", "tensor 'bias_hh_l0'", "outside");
        refused(write(GOOD.replace("[48,60]", "[52,64]"), 64), "", "tensor 'bias_hh_l0' starts at byte 52", "gap");
        refused(write(GOOD, 64), "", "cover 60 bytes", "holds 64");
        refused(write(GOOD.replace("[36,48]", "[36,-48]"), 60), "", "tensor 'bias_ih_l0'", "non-negative");
        refused(write(GOOD.replace("[36,48]", "[36,99999999999999999999]"), 60), "", "does not fit in 64 bits");
    }

    @Test
    void shapeAndBytesDisagree() throws IOException {
        refused(write(GOOD.replace("[3,2]", "[3,3]"), 60), "", "tensor 'weight_ih_l0'", "does not fit data_offsets [0, 24]");
        refused(write(GOOD.replace("[3,2]", "[4611686018427387904,4611686018427387904]"), 60), "", "tensor 'weight_ih_l0'");
    }

    @Test
    void unknownAndUnsupportedDtypes() throws IOException {
        refused(write(GOOD.replace("\"F32\",\"shape\":[3,1]", "\"F33\",\"shape\":[3,1]"), 60), "", "tensor 'weight_hh_l0'",
                "unknown dtype 'F33'");
        refused(write(GOOD.replace("\"F32\",\"shape\":[3,1]", "\"I32\",\"shape\":[3,1]"), 60), "", "tensor 'weight_hh_l0'",
                "dtype I32", "only F32, F16 and BF16");
    }

    @Test
    void missingUnexpectedAndMisshapenTensors() throws IOException {
        String noHh = GOOD.replace("\"bias_hh_l0\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[48,60]}", "\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[48,60]}");
        refused(write(noHh, 60), "", "unexpected tensor 'x'");
        refused(write(GOOD.replace(",\"bias_hh_l0\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[48,60]}", ""), 48), "",
                "missing tensor 'bias_hh_l0' [3]");
        refused(write(GOOD.replace("weight_hh_l0", "weight_hh_l1"), 60), "", "missing tensor 'weight_hh_l0'");
        refused(write(GOOD.replace("\"shape\":[3],\"data_offsets\":[48,60]", "\"shape\":[1,3],\"data_offsets\":[48,60]"), 60),
                "", "tensor 'bias_hh_l0' has shape [1, 3]", "needs [3]");
        refused(write(GOOD.replace("\"shape\":[3,1]", "\"shape\":[1,3]"), 60), "", "tensor 'weight_hh_l0' [1, 3]", "neither 4");
    }

    @Test
    void prefixSelectsAndIsNamedInErrors() throws IOException {
        Path file = write(GOOD.replace("\"weight_", "\"rnn.weight_").replace("\"bias_", "\"rnn.bias_"), 60);
        assertEquals(1, ModelFiles.readSafetensors(file, "rnn.").config().hiddenSize());
        refused(file, "encoder.", "no tensor name starts with 'encoder.'", "'rnn.weight_ih_l0'",
                "(recurrent layers are under the prefix 'rnn.')");
        refused(file, "", "unexpected tensor 'rnn.", "(recurrent layers are under the prefix 'rnn.')");
        Path noBias = write(GOOD.replace("\"weight_", "\"rnn.weight_").replace("\"bias_hh", "\"rnn.bias_hh"), 60);
        refused(noBias, "rnn.", "unexpected tensor 'rnn.bias_hh_l0'");
    }

    @Test
    void aMissingFileIsAnIOException() {
        assertThrows(NoSuchFileException.class, () -> ModelFiles.readSafetensors(dir.resolve("none.safetensors"), ""));
    }
}
