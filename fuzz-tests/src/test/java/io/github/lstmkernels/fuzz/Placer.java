package io.github.lstmkernels.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Places the tensors of one call where the fuzzer says: exactly sized or ±k floats or a few bytes
 * off; in native memory, a float[], a long[] or a byte[]; at an offset into a larger store, 4-byte
 * aligned or not; read-only; in a closed arena or confined to another thread; null; or several in
 * one shared pool at fuzzer-chosen offsets, so that they overlap or do not. Every choice that makes
 * the call wrong is recorded, with the exception the contract documents for it, in {@link #faults}.
 */
final class Placer {
    /** One argument of a call. */
    static final class Tensor {
        final String name;
        final boolean output;
        /** What the segment forms receive (null when the argument is null). */
        MemorySegment view;
        /** What the float[] forms receive. */
        float[] array;
        Memory.Buf buf;
        long start;

        Tensor(String name, boolean output) {
            this.name = name;
            this.output = output;
        }

        boolean isNull() {
            return view == null;
        }
    }

    private static final float[] SPECIALS = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};

    /** The documented exception types a call with these faults may throw; empty: the call is valid. */
    final Set<Class<? extends RuntimeException>> allowed = new LinkedHashSet<>();
    final List<String> faults = new ArrayList<>();
    final List<Tensor> tensors = new ArrayList<>();

    private final FuzzedDataProvider data;
    private final Memory memory;
    private final boolean arrays;
    private final long poolBytes;
    private Memory.Buf pool;

    /** {@code arrays}: the float[] forms; {@code poolFloats}: room for every tensor of the call side by side. */
    Placer(FuzzedDataProvider data, Memory memory, boolean arrays, long poolFloats) {
        this.data = data;
        this.memory = memory;
        this.arrays = arrays;
        this.poolBytes = 4 * (poolFloats + 64);
    }

    void fault(String what, Class<? extends RuntimeException> type) {
        faults.add(what);
        allowed.add(type);
    }

    boolean valid() {
        return faults.isEmpty();
    }

    /**
     * A tensor of {@code elements} floats as the fuzzer places it. {@code expected}: the element
     * count the call's size arguments require (-1 or Long.MAX_VALUE when they are invalid
     * themselves); {@code nullIsValid}: a null is the right argument (c of a GRU).
     */
    Tensor place(String name, long elements, long expected, boolean output, boolean nullIsValid) {
        Tensor t = new Tensor(name, output);
        tensors.add(t);
        if (Gen.oneIn(data, nullIsValid ? 2 : 32)) {
            if (!nullIsValid) {
                fault(name + " is null", NullPointerException.class);
            }
            return t;
        }
        long bytes = 4 * elements;
        if (Gen.oneIn(data, 16)) {
            int k = data.consumeInt(1, 3);
            bytes = switch (data.consumeInt(0, 3)) {
                case 0 -> bytes + 4L * k;
                case 1 -> Math.max(0, bytes - 4L * k);
                case 2 -> bytes + k;
                default -> 0;
            };
        }
        if (arrays) {
            placeArray(t, bytes);
        } else {
            placeSegment(t, bytes);
        }
        if (t.view.byteSize() != 4 * expected) {
            fault(name + " has " + t.view.byteSize() + " bytes, the call needs " + expected + " floats",
                    IllegalArgumentException.class);
        }
        return t;
    }

    private void placeArray(Tensor t, long bytes) {
        Tensor other = Gen.oneIn(data, 16) ? firstNonNull() : null;
        if (other != null) {
            t.array = other.array;
            t.buf = other.buf;
        } else {
            t.buf = memory.floatArray((int) (bytes / 4));
            t.array = (float[]) t.buf.array;
        }
        t.view = MemorySegment.ofArray(t.array);
        t.start = 0;
    }

    private Tensor firstNonNull() {
        for (Tensor o : tensors) {
            if (!o.isNull()) {
                return o;
            }
        }
        return null;
    }

    private void placeSegment(Tensor t, long bytes) {
        int dice = data.consumeInt(0, 15);
        Memory.Kind kind;
        if (dice <= 6) {
            kind = Memory.Kind.NATIVE;
        } else if (dice <= 9) {
            kind = Memory.Kind.FLOAT_ARRAY;
        } else if (dice <= 11) {
            kind = Memory.Kind.LONG_ARRAY;
        } else if (dice == 12) {
            kind = Memory.Kind.BYTE_ARRAY;
        } else if (dice == 13) {
            kind = Memory.Kind.CLOSED_ARENA;
        } else if (dice == 14) {
            kind = Memory.Kind.OTHER_THREAD;
        } else {
            kind = null;
        }
        int misalign = Gen.oneIn(data, 16) ? data.consumeInt(1, 3) : 0;
        long start;
        if (kind == null) {
            if (pool == null) {
                pool = memory.allocate(data.pickValue(new Memory.Kind[] {Memory.Kind.NATIVE, Memory.Kind.FLOAT_ARRAY,
                        Memory.Kind.LONG_ARRAY}), poolBytes);
            }
            t.buf = pool;
            long room = Math.max(0, (pool.whole.byteSize() - bytes - misalign) / 4);
            start = 4L * data.consumeLong(0, room) + misalign;
        } else {
            long guard = 4L * data.consumeInt(0, 3);
            start = guard + misalign;
            t.buf = memory.allocate(kind, start + bytes + 4L * data.consumeInt(0, 3));
        }
        t.start = start;
        t.view = t.buf.whole.asSlice(start, Math.min(bytes, t.buf.whole.byteSize() - start));
        Memory.Kind k = t.buf.kind;
        if (k == Memory.Kind.BYTE_ARRAY || misalign != 0) {
            fault(t.name + " is not 4-byte aligned (" + k + ", byte offset " + start + ")", IllegalArgumentException.class);
        }
        if (k == Memory.Kind.CLOSED_ARENA) {
            fault(t.name + " is in a closed arena", IllegalArgumentException.class);
        }
        if (k == Memory.Kind.OTHER_THREAD) {
            fault(t.name + " is confined to another thread", IllegalArgumentException.class);
        }
        if (Gen.oneIn(data, 12)) {
            t.view = t.view.asReadOnly();
            if (t.output) {
                fault(t.name + " is read-only", IllegalArgumentException.class);
            }
        }
    }

    /**
     * Records an overlap fault for every pair of present tensors that share memory, at least one
     * of them written by the call (inputs may share memory with each other).
     */
    void checkOverlaps() {
        for (int i = 0; i < tensors.size(); i++) {
            for (int j = i + 1; j < tensors.size(); j++) {
                Tensor a = tensors.get(i);
                Tensor b = tensors.get(j);
                if (a.isNull() || b.isNull() || a.buf != b.buf || !(a.output || b.output)) {
                    continue;
                }
                long aEnd = a.start + a.view.byteSize();
                long bEnd = b.start + b.view.byteSize();
                if (a.view.byteSize() > 0 && b.view.byteSize() > 0 && a.start < bEnd && b.start < aEnd) {
                    fault(a.name + " overlaps " + b.name, IllegalArgumentException.class);
                }
            }
        }
    }

    /**
     * Writes the data of an input or state tensor: uniform in [−range, range], and, when the fuzzer
     * says so, a NaN or an infinity at positions it picks.
     */
    static void fillData(FuzzedDataProvider data, Tensor t, java.util.SplittableRandom random, double range) {
        if (t.isNull() || !t.buf.readable()) {
            return;
        }
        MemorySegment w = t.buf.whole.asSlice(t.start, t.view.byteSize());
        long n = w.byteSize() / 4;
        for (long i = 0; i < n; i++) {
            w.set(ValueLayout.JAVA_FLOAT_UNALIGNED, 4 * i, (float) random.nextDouble(-range, range));
        }
        if (n > 0 && Gen.oneIn(data, 8)) {
            int specials = data.consumeInt(1, 3);
            for (int s = 0; s < specials; s++) {
                float v = SPECIALS[data.consumeInt(0, SPECIALS.length - 1)];
                w.set(ValueLayout.JAVA_FLOAT_UNALIGNED, 4 * data.consumeLong(0, n - 1), v);
            }
        }
    }
}
