package io.github.lstmkernels.formats;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Widening of the 16-bit dtypes, layer stacking, and the JSON reader under the safetensors header. */
class ModelFilesTest {
    @TempDir
    Path dir;

    /** A GRU(1, 1) file: every tensor has 3 elements of the given dtype, filled from {@code bits}. */
    private Path gru11(String dtype, short[] bits) throws IOException {
        String[] names = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"};
        StringBuilder header = new StringBuilder("{");
        for (int i = 0; i < names.length; i++) {
            String shape = names[i].startsWith("weight") ? "[3,1]" : "[3]";
            header.append(i > 0 ? "," : "").append("\"").append(names[i]).append("\":{\"dtype\":\"").append(dtype)
                    .append("\",\"shape\":").append(shape).append(",\"data_offsets\":[").append(6 * i).append(',')
                    .append(6 * i + 6).append("]}");
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + h.length + 24).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(h.length).put(h);
        for (short b : bits) {
            out.putShort(b);
        }
        Path file = dir.resolve(dtype + ".safetensors");
        Files.write(file, out.array());
        return file;
    }

    @Test
    void f16WidensExactly() throws IOException {
        short[] bits = {0x3C00, (short) 0xC000, 0x0001, 0x7BFF, (short) 0xFC00, 0x7C00, 0x3555, (short) 0x8000, 0x0400, 0x03FF,
                0x7E00, 0x0000};
        Map<String, float[]> sd = ModelFiles.readSafetensors(gru11("F16", bits), "").toStateDict();
        assertArrayEquals(new float[] {1f, -2f, 0x1p-24f}, sd.get("weight_ih_l0"));
        assertArrayEquals(new float[] {65504f, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY}, sd.get("weight_hh_l0"));
        assertArrayEquals(new float[] {0.33325195f, -0f, 0x1p-14f}, sd.get("bias_ih_l0"));
        assertEquals(0x3FFp-24f, sd.get("bias_hh_l0")[0]); // the largest subnormal
        assertTrue(Float.isNaN(sd.get("bias_hh_l0")[1]));
        assertEquals(0f, sd.get("bias_hh_l0")[2]);
    }

    @Test
    void bf16WidensExactly() throws IOException {
        short[] bits = {0x3F80, (short) 0xC000, 0x0001, 0x7F7F, (short) 0xFF80, 0x7F80, 0x3EAB, (short) 0x8000, 0x0080, 0x4049,
                0x7FC0, 0x0000};
        Map<String, float[]> sd = ModelFiles.readSafetensors(gru11("BF16", bits), "").toStateDict();
        assertArrayEquals(new float[] {1f, -2f, Float.intBitsToFloat(0x00010000)}, sd.get("weight_ih_l0"));
        assertArrayEquals(new float[] {Float.intBitsToFloat(0x7F7F0000), Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY},
                sd.get("weight_hh_l0"));
        assertArrayEquals(new float[] {Float.intBitsToFloat(0x3EAB0000), -0f, 0x1p-126f}, sd.get("bias_ih_l0"));
        assertEquals(3.140625f, sd.get("bias_hh_l0")[0]);
        assertTrue(Float.isNaN(sd.get("bias_hh_l0")[1]));
    }

    @Test
    void stackLayersJoinsLayersThatChainAndRefusesOthers() {
        LstmConfig first = LstmConfig.builder(5, 6).bidirectional(true).build();
        LstmConfig next = LstmConfig.builder(12, 6).bidirectional(true).build();
        LstmWeights a = LstmWeights.random(first, 1);
        LstmWeights b = LstmWeights.random(next, 2);
        LstmWeights stack = ModelFiles.stackLayers(List.of(a, b));
        assertEquals(LstmConfig.builder(5, 6).bidirectional(true).numLayers(2).build(), stack.config());
        assertArrayEquals(b.toStateDict().get("weight_hh_l0_reverse"), stack.toStateDict().get("weight_hh_l1_reverse"));
        assertArrayEquals(a.toStateDict().get("bias_ih_l0"), stack.toStateDict().get("bias_ih_l0"));

        var wrongInput = assertThrows(IllegalArgumentException.class, () -> ModelFiles.stackLayers(List.of(a, a)));
        assertTrue(wrongInput.getMessage().contains("layers[1] has input size 5, but the layer below gives 12 features"),
                wrongInput.getMessage());
        LstmWeights gru = LstmWeights.random(LstmConfig.builder(12, 6).cell(CellType.GRU).bidirectional(true).build(), 3);
        var wrongCell = assertThrows(IllegalArgumentException.class, () -> ModelFiles.stackLayers(List.of(a, gru)));
        assertTrue(wrongCell.getMessage().startsWith("layers[1] is GRU("), wrongCell.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ModelFiles.stackLayers(List.of()));
    }

    @Test
    void jsonReaderIsStrict() {
        assertEquals(Map.of("a\"\\/\b\f\n\r\t\u00e9", List.of(1L, -2L, 0.5, true, false)),
                Json.parse(" {\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\" : [1, -2, 5e-1, true, false]} "));
        for (String bad : new String[] {"", "{", "{\"a\":1,}", "[1 2]", "01", "-", "1.", "1e", "\"\\x\"", "\"\\u12\"", "nul",
                "{\"a\":1}x", "{a:1}", "\"a\nb\"", "[1,]", "{\"a\" 1}"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> Json.parse(bad), bad);
            assertTrue(e.getMessage().startsWith("malformed JSON at offset "), e.getMessage());
        }
        assertEquals(java.util.Arrays.asList(Long.MAX_VALUE, Long.MIN_VALUE, null),
                Json.parse("[9223372036854775807,-9223372036854775808,null]"));
    }
}
