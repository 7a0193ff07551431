package io.github.lstmkernels.fuzz;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;

/**
 * The memory one fuzz input's tensors live in: heap arrays of several element types and native
 * segments of this execution's arena, each a {@link Buf} whose whole contents are snapshotted
 * before a call and compared after it (so a write anywhere, in a tensor or beside it, is seen);
 * plus memory no call may use: a closed arena's segments and segments confined to another thread.
 */
final class Memory implements AutoCloseable {
    /** Where a tensor's bytes live. */
    enum Kind {
        FLOAT_ARRAY, LONG_ARRAY, BYTE_ARRAY, NATIVE, CLOSED_ARENA, OTHER_THREAD
    }

    /** One backing store. */
    static final class Buf {
        final Kind kind;
        final MemorySegment whole;
        /** The heap array behind it (null for native memory). */
        final Object array;
        private byte[] snapshot;

        Buf(Kind kind, MemorySegment whole, Object array) {
            this.kind = kind;
            this.whole = whole;
            this.array = array;
        }

        /** Whether this thread can read it (closed and foreign memory cannot be, nor need to be, checked). */
        boolean readable() {
            return kind != Kind.CLOSED_ARENA && kind != Kind.OTHER_THREAD;
        }
    }

    /**
     * Memory confined to another thread: a confined arena that a daemon thread opens and keeps
     * open. (Allocated by an instance of a class of its own, not a lambda of this class: the owner
     * thread must not wait for this class's initialisation, which waits for it.)
     */
    private static final MemorySegment FOREIGN = ForeignOwner.segment();

    private static final class ForeignOwner implements Runnable {
        private final CompletableFuture<MemorySegment> result = new CompletableFuture<>();

        static MemorySegment segment() {
            ForeignOwner owner = new ForeignOwner();
            Thread t = new Thread(owner, "fuzz-foreign-memory-owner");
            t.setDaemon(true);
            t.start();
            return owner.result.join();
        }

        @Override
        public void run() {
            result.complete(Arena.ofConfined().allocate(1 << 16, 64));
            while (true) {
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    private final Arena arena = Arena.ofConfined();
    private final List<Buf> bufs = new ArrayList<>();
    private final SplittableRandom random;

    Memory(long seed) {
        this.random = new SplittableRandom(seed);
    }

    /** A store of {@code bytes} bytes of the given kind, filled with random floats (guards included). */
    Buf allocate(Kind kind, long bytes) {
        bytes = Math.max(bytes, 0);
        Buf buf = switch (kind) {
            case FLOAT_ARRAY -> {
                float[] a = new float[(int) ((bytes + 3) / 4)];
                yield new Buf(kind, MemorySegment.ofArray(a), a);
            }
            case LONG_ARRAY -> {
                long[] a = new long[(int) ((bytes + 7) / 8)];
                yield new Buf(kind, MemorySegment.ofArray(a), a);
            }
            case BYTE_ARRAY -> {
                byte[] a = new byte[(int) bytes];
                yield new Buf(kind, MemorySegment.ofArray(a), a);
            }
            case NATIVE -> new Buf(kind, arena.allocate(Math.max(bytes, 1), 64).asSlice(0, bytes), null);
            case CLOSED_ARENA -> {
                Arena dead = Arena.ofConfined();
                MemorySegment s = dead.allocate(Math.max(bytes, 1), 64).asSlice(0, bytes);
                dead.close();
                yield new Buf(kind, s, null);
            }
            case OTHER_THREAD -> new Buf(kind, FOREIGN.asSlice(0, Math.min(bytes, FOREIGN.byteSize())), null);
        };
        if (buf.readable()) {
            fill(buf.whole);
        }
        bufs.add(buf);
        return buf;
    }

    /** A float[] of exactly n elements (the array forms), filled like everything else. */
    Buf floatArray(int n) {
        return allocate(Kind.FLOAT_ARRAY, 4L * Math.max(n, 0));
    }

    private void fill(MemorySegment s) {
        long n = s.byteSize() / 4;
        for (long i = 0; i < n; i++) {
            s.set(ValueLayout.JAVA_FLOAT_UNALIGNED, 4 * i, (float) random.nextDouble(-8, 8));
        }
    }

    /** Snapshots every readable store. */
    void snapshot() {
        for (Buf b : bufs) {
            if (b.readable()) {
                b.snapshot = b.whole.toArray(ValueLayout.JAVA_BYTE);
            }
        }
    }

    /**
     * The first store changed since {@link #snapshot} outside the given writable views (all of
     * it, when none are given), or null.
     */
    String firstChange(MemorySegment... writable) {
        for (Buf b : bufs) {
            if (!b.readable() || b.snapshot == null) {
                continue;
            }
            byte[] now = b.whole.toArray(ValueLayout.JAVA_BYTE);
            if (Arrays.equals(now, b.snapshot)) {
                continue;
            }
            for (int i = 0; i < now.length; i++) {
                if (now[i] != b.snapshot[i] && !inside(b, i, writable)) {
                    return b.kind + " store of " + now.length + " bytes changed at byte " + i;
                }
            }
        }
        return null;
    }

    private static boolean inside(Buf b, long byteOffset, MemorySegment[] views) {
        for (MemorySegment v : views) {
            if (v == null) {
                continue;
            }
            // A view is inside b when it shares b's memory: the same array, or the same native range.
            long start;
            if (b.array != null) {
                if (v.heapBase().orElse(null) != b.array) {
                    continue;
                }
                start = v.address() - b.whole.address();
            } else {
                if (!v.isNative()) {
                    continue;
                }
                start = v.address() - b.whole.address();
            }
            if (byteOffset >= start && byteOffset < start + v.byteSize()) {
                return true;
            }
        }
        return false;
    }

    /** The float values of a view, if it can be read from this thread as floats; else null. */
    static float[] values(MemorySegment view) {
        if (view == null || view.byteSize() % 4 != 0 || !view.scope().isAlive()
                || !view.isAccessibleBy(Thread.currentThread())) {
            return null;
        }
        return view.toArray(ValueLayout.JAVA_FLOAT_UNALIGNED);
    }

    @Override
    public void close() {
        arena.close();
    }
}
