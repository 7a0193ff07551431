package io.github.lstmkernels.formats;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a safetensors file: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then
 * the data buffer. The whole header is validated (every entry's dtype, shape and byte count, and
 * that the tensors tile the data buffer exactly, as the reference implementation requires) before
 * any tensor is read; a file over 1 MiB is memory-mapped, and only the selected tensors are copied.
 */
final class Safetensors {
    /** The reference implementation's cap on the header. */
    static final long MAX_HEADER = 100_000_000;

    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Bits per element of every dtype the format defines (its reference implementation refuses any other). */
    private static final Map<String, Integer> DTYPE_BITS = Map.ofEntries(
            Map.entry("BOOL", 8), Map.entry("F4", 4), Map.entry("F6_E2M3", 6), Map.entry("F6_E3M2", 6),
            Map.entry("U8", 8), Map.entry("I8", 8), Map.entry("F8_E5M2", 8), Map.entry("F8_E4M3", 8),
            Map.entry("F8_E8M0", 8), Map.entry("F8_E4M3FNUZ", 8), Map.entry("F8_E5M2FNUZ", 8),
            Map.entry("I16", 16), Map.entry("U16", 16), Map.entry("F16", 16), Map.entry("BF16", 16),
            Map.entry("I32", 32), Map.entry("U32", 32), Map.entry("F32", 32), Map.entry("C64", 64),
            Map.entry("F64", 64), Map.entry("I64", 64), Map.entry("U64", 64));

    private record Entry(String name, String dtype, long[] shape, long begin, long end) {
    }

    private Safetensors() {
    }

    static LstmWeights read(Path file, String prefix) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            long size = channel.size();
            if (size < 8) {
                throw fail(file, "has " + size + " bytes; a safetensors file starts with an 8-byte header length");
            }
            MemorySegment all = content(file, channel, size, arena);
            long headerLength = all.get(LE_LONG, 0);
            if (headerLength < 0 || headerLength > size - 8) {
                throw fail(file, "header length " + Long.toUnsignedString(headerLength) + " is larger than the "
                        + (size - 8) + " bytes after it");
            }
            if (headerLength > MAX_HEADER) {
                throw fail(file, "header length " + headerLength + " is over the format's limit of " + MAX_HEADER + " bytes");
            }
            String header = utf8(file, all.asSlice(8, headerLength).asByteBuffer());
            long dataStart = 8 + headerLength;
            List<Entry> entries = entries(file, header, size - dataStart);

            Map<String, long[]> shapes = new LinkedHashMap<>();
            Map<String, Entry> selected = new LinkedHashMap<>();
            for (Entry e : entries) {
                if (e.name.startsWith(prefix)) {
                    String key = e.name.substring(prefix.length());
                    shapes.put(key, e.shape);
                    selected.put(key, e);
                }
            }
            if (selected.isEmpty()) {
                throw fail(file, "no tensor name starts with '" + prefix + "'; the file has " + names(entries)
                        + prefixHint(entries, prefix));
            }
            LstmConfig config;
            try {
                config = StateDictLayout.infer(shapes, prefix);
            } catch (IllegalArgumentException e) {
                throw fail(file, e.getMessage() + prefixHint(entries, prefix));
            }
            Map<String, float[]> stateDict = new LinkedHashMap<>();
            for (Map.Entry<String, Entry> s : selected.entrySet()) {
                stateDict.put(s.getKey(), floats(file, s.getValue(), all, dataStart));
            }
            return LstmWeights.fromStateDict(config, stateDict);
        }
    }

    /** Files up to this size are read onto the heap: mapping them costs more than it saves. */
    static final long MAP_THRESHOLD = 1 << 20;

    /** The whole file: memory-mapped if large (nothing is copied until a tensor is read), else read. */
    static MemorySegment content(Path file, FileChannel channel, long size, Arena arena) throws IOException {
        if (size > MAP_THRESHOLD) {
            return channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        }
        ByteBuffer bytes = ByteBuffer.allocate((int) size);
        while (bytes.hasRemaining()) {
            if (channel.read(bytes, bytes.position()) < 0) {
                throw new IOException(file + ": the file shrank while it was read");
            }
        }
        return MemorySegment.ofArray(bytes.array());
    }

    private static List<Entry> entries(Path file, String header, long dataLength) {
        Object root;
        try {
            root = Json.parse(header);
        } catch (IllegalArgumentException e) {
            throw fail(file, "header: " + e.getMessage());
        }
        if (!(root instanceof Map<?, ?> map)) {
            throw fail(file, "header is not a JSON object");
        }
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<?, ?> kv : map.entrySet()) {
            String name = (String) kv.getKey();
            if (name.equals("__metadata__")) {
                if (!(kv.getValue() instanceof Map<?, ?> meta) || !meta.values().stream().allMatch(String.class::isInstance)) {
                    throw fail(file, "header field '__metadata__' must map strings to strings");
                }
                continue;
            }
            entries.add(entry(file, name, kv.getValue(), dataLength));
        }
        // The tensors must tile [0, dataLength) exactly: no overlap, no gap, nothing past the end.
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long covered = 0;
        Entry previous = null;
        for (Entry e : sorted) {
            if (e.begin < covered) {
                throw fail(file, "tensor '" + Json.shorten(e.name) + "' [" + e.begin + ", " + e.end + ") overlaps tensor '"
                        + Json.shorten(previous.name) + "' [" + previous.begin + ", " + previous.end + ")");
            }
            if (e.begin > covered) {
                throw fail(file, "tensor '" + Json.shorten(e.name) + "' starts at byte " + e.begin + " of the data, leaving a gap after "
                        + (previous == null ? "the header" : "tensor '" + Json.shorten(previous.name) + "', which ends at " + covered));
            }
            covered = e.end;
            previous = e;
        }
        if (covered != dataLength) {
            throw fail(file, "the tensors cover " + covered + " bytes of data, but the file holds " + dataLength
                    + " after the header");
        }
        return entries;
    }

    private static Entry entry(Path file, String name, Object value, long dataLength) {
        String what = "tensor '" + Json.shorten(name) + "'";
        if (!(value instanceof Map<?, ?> fields)) {
            throw fail(file, what + ": its header entry is not an object");
        }
        if (!(fields.get("dtype") instanceof String dtype)) {
            throw fail(file, what + ": 'dtype' is missing or not a string");
        }
        long[] shape = longs(file, what, "shape", fields.get("shape"), -1);
        long[] offsets = longs(file, what, "data_offsets", fields.get("data_offsets"), 2);
        long begin = offsets[0];
        long end = offsets[1];
        if (begin > end || end > dataLength) {
            throw fail(file, what + ": data_offsets [" + begin + ", " + end + "] are outside the " + dataLength
                    + " bytes of data");
        }
        Integer bits = DTYPE_BITS.get(dtype);
        if (bits == null) {
            throw fail(file, what + ": unknown dtype '" + Json.shorten(dtype) + "'");
        }
        // Element count times bits must equal the byte range; count first against the range, so nothing overflows.
        long available = (end - begin) * 8;
        long count = 1;
        for (long d : shape) {
            if (d != 0 && count > available / d) {
                count = -1; // more elements than the range can hold, or than a long holds
                break;
            }
            count *= d;
        }
        if (shape.length > 0 && java.util.Arrays.stream(shape).anyMatch(d -> d == 0)) {
            count = 0;
        }
        if (count < 0 || count > available / bits || count * bits != available) {
            throw fail(file, what + ": shape " + java.util.Arrays.toString(shape) + " of " + dtype + " does not fit data_offsets ["
                    + begin + ", " + end + "] (" + (end - begin) + " bytes)");
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    private static long[] longs(Path file, String what, String field, Object value, int length) {
        if (!(value instanceof List<?> list) || (length >= 0 && list.size() != length)) {
            throw fail(file, what + ": '" + field + "' must be a list of " + (length >= 0 ? length + " " : "")
                    + "non-negative integers");
        }
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Long v) || v < 0) {
                throw fail(file, what + ": '" + field + "' must hold non-negative integers, found "
                        + Json.shorten(String.valueOf(list.get(i))));
            }
            out[i] = v;
        }
        return out;
    }

    private static float[] floats(Path file, Entry e, MemorySegment all, long dataStart) {
        // Shapes matched the inferred configuration, whose tensors fit in an int (LstmConfig checks it).
        int n = Math.toIntExact(e.end - e.begin) / switch (e.dtype) {
            case "F32" -> 4;
            case "F16", "BF16" -> 2;
            default -> throw fail(file, "tensor '" + e.name + "' has dtype " + Json.shorten(e.dtype)
                    + "; only F32, F16 and BF16 are read");
        };
        MemorySegment data = all.asSlice(dataStart + e.begin, e.end - e.begin);
        float[] out = new float[n];
        switch (e.dtype) {
            case "F32" -> MemorySegment.copy(data, LE_FLOAT, 0, out, 0, n);
            case "F16" -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.float16ToFloat(data.getAtIndex(LE_SHORT, i));
                }
            }
            default -> {
                for (int i = 0; i < n; i++) {
                    // BF16 is the high half of a float32: widening is exact.
                    out[i] = Float.intBitsToFloat(data.getAtIndex(LE_SHORT, i) << 16);
                }
            }
        }
        return out;
    }

    private static String utf8(Path file, ByteBuffer bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(bytes).toString();
        } catch (CharacterCodingException e) {
            throw fail(file, "header is not valid UTF-8 (" + e.getMessage() + ")");
        }
    }

    /** Where the file's recurrent layers are, when the caller's prefix is not one of them. */
    private static String prefixHint(List<Entry> entries, String prefix) {
        List<String> prefixes = entries.stream().map(Entry::name).filter(n -> n.endsWith("weight_ih_l0"))
                .map(n -> n.substring(0, n.length() - "weight_ih_l0".length())).filter(p -> !p.equals(prefix))
                .map(p -> "'" + Json.shorten(p) + "'").distinct().limit(5).toList();
        return prefixes.isEmpty() ? "" : " (recurrent layers are under the prefix " + String.join(", ", prefixes) + ")";
    }

    private static String names(List<Entry> entries) {
        List<String> names = entries.stream().map(e -> "'" + Json.shorten(e.name) + "'").limit(20).toList();
        return entries.isEmpty() ? "no tensors" : String.join(", ", names) + (entries.size() > 20 ? ", ..." : "");
    }

    static IllegalArgumentException fail(Path file, String message) {
        return new IllegalArgumentException(file.getFileName() + ": " + message);
    }
}
