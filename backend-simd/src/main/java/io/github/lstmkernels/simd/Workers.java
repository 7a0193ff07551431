package io.github.lstmkernels.simd;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;

/**
 * The threads a simd kernel computes with besides its caller: {@code threads − 1} daemon workers,
 * started by the first call that splits its work, reused by every later one, stopped by
 * {@link #close()}. One {@link #run} is one parallel region: part 0 runs on the calling thread,
 * parts 1… on workers, and inside the region the parts meet at {@link #await} (once or twice per
 * time step, so waiting spins: a step lasts microseconds, a park/unpark round trip tens of them).
 * A worker idle for longer than {@link #IDLE_SPIN_NANOS} parks, and the next run unparks it.
 *
 * <p>One caller uses the team at a time. A call that finds it busy (another thread of the same
 * kernel is in a region) runs alone on its own thread: with many callers the kernel uses at most
 * {@code threads − 1} threads more than there are callers, and the results are the same either way
 * (how parts split the work never changes what a thread sums, DESIGN §12).
 */
final class Workers implements AutoCloseable {
    /** A parallel region: the same code on every part, {@code part} in {@code [0, parts)}. */
    interface Region {
        void run(int part, int parts);
    }

    /** How long an idle worker spins before it parks: back-to-back calls find it awake. */
    static final long IDLE_SPIN_NANOS = 200_000;
    /**
     * Spins at a barrier before yielding the core (a few microseconds): a partner that is still
     * computing arrives soon; one that has been descheduled (more runnable threads than cores)
     * needs this core, and yielding to it costs little when nothing else is waiting.
     */
    private static final int SPINS_BEFORE_YIELD = 256;

    private final int threads;
    private final String name;
    private final AtomicBoolean busy = new AtomicBoolean();
    private final AtomicIntegerArray parked;
    private final AtomicInteger unfinished = new AtomicInteger();
    private final AtomicInteger arrived = new AtomicInteger();
    private volatile Thread[] team;
    private volatile Region region;
    private volatile int parts;
    private volatile long generation;
    private volatile int barrierGeneration;
    private volatile Throwable failure;
    private volatile boolean closed;

    Workers(int threads, String name) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        this.threads = threads;
        this.name = name;
        this.parked = new AtomicIntegerArray(Math.max(threads - 1, 0));
    }

    /** Threads a region may use, the caller's included. */
    int threads() {
        return threads;
    }

    /**
     * Runs {@code region} as {@code parts} parts (at most {@link #threads()}), part 0 on the calling
     * thread, and returns when every part has finished. With {@code parts = 1}, or when another
     * caller holds the team, the region runs as one part on the calling thread.
     */
    void run(int parts, Region region) {
        if (parts <= 1 || closed || !busy.compareAndSet(false, true)) {
            region.run(0, 1);
            return;
        }
        try {
            startTeam();
            this.region = region;
            this.parts = parts;
            failure = null;
            arrived.set(0);
            // Every worker acknowledges every region, taking part or not, so that none can still be
            // reading this region's fields when the next one is published.
            unfinished.set(threads - 1);
            generation++;
            for (int w = 0; w < threads - 1; w++) {
                if (parked.get(w) != 0) {
                    LockSupport.unpark(team[w]);
                }
            }
            try {
                region.run(0, parts);
            } catch (Throwable t) {
                fail(t);
            }
            for (int spins = 0; unfinished.get() > 0; spins++) {
                pause(spins);
            }
            this.region = null;
            Throwable t = failure;
            if (t != null) {
                failure = null;
                if (t instanceof RuntimeException e) {
                    throw e;
                }
                if (t instanceof Error e) {
                    throw e;
                }
                throw new IllegalStateException(t);
            }
        } finally {
            busy.set(false);
        }
    }

    /**
     * The barrier of a region of {@code parts} parts: returns once every part has arrived. A no-op
     * for a region running as one part (which may not hold the team). If a part failed, the others
     * leave the region instead of waiting for it forever.
     */
    void await(int parts) {
        if (parts <= 1) {
            return;
        }
        int ticket = arrive(parts);
        for (int spins = 0; !passed(ticket); spins++) {
            pause(spins);
        }
    }

    /**
     * {@link #await} in two halves, for a part with work of its own to do while it waits: arrives
     * at the barrier of a region of {@code parts > 1} parts and returns the ticket that
     * {@link #passed} takes.
     */
    int arrive(int parts) {
        int seen = barrierGeneration;
        if (arrived.incrementAndGet() == parts) {
            arrived.set(0);
            barrierGeneration = seen + 1;
        }
        return seen;
    }

    /** Whether every part has arrived at the barrier {@code ticket} came from; throws if a part failed. */
    boolean passed(int ticket) {
        if (barrierGeneration != ticket) {
            return true;
        }
        if (failure != null) {
            throw Abandoned.INSTANCE;
        }
        return false;
    }

    /** Keeps the first failure; {@link Abandoned} is only thrown once there is one. */
    private void fail(Throwable t) {
        if (failure == null) {
            failure = t;
        }
    }

    /** One round of a wait that has gone on for {@code spins} rounds: spin, later yield the core. */
    static void pause(int spins) {
        if (spins < SPINS_BEFORE_YIELD) {
            Thread.onSpinWait();
        } else {
            Thread.yield();
        }
    }

    private void startTeam() {
        if (team != null) {
            return;
        }
        Thread[] started = new Thread[threads - 1];
        for (int w = 0; w < started.length; w++) {
            int index = w;
            Thread thread = new Thread(() -> work(index), name + "-" + (w + 1));
            thread.setDaemon(true);
            started[w] = thread;
        }
        team = started;
        for (Thread thread : started) {
            thread.start();
        }
    }

    /** A worker's life: wait for a new region, run its part if the region has one, repeat. */
    private void work(int index) {
        long seen = 0;
        while (true) {
            long idleSince = System.nanoTime();
            for (int spins = 0; generation == seen && !closed; spins++) {
                if ((spins & 63) == 63 && System.nanoTime() - idleSince > IDLE_SPIN_NANOS) {
                    parked.set(index, 1);
                    if (generation == seen && !closed) {
                        LockSupport.park(this);
                    }
                    parked.set(index, 0);
                    idleSince = System.nanoTime();
                } else {
                    Thread.onSpinWait();
                }
            }
            if (closed) {
                return;
            }
            seen = generation;
            int count = parts;
            Region r = region;
            int part = index + 1;
            try {
                if (part < count && r != null) {
                    r.run(part, count);
                }
            } catch (Throwable t) {
                fail(t);
            } finally {
                unfinished.decrementAndGet();
            }
        }
    }

    /** Stops the workers (they finish the region they are in first: close waits for calls). */
    @Override
    public void close() {
        closed = true;
        Thread[] t = team;
        if (t != null) {
            for (Thread thread : t) {
                LockSupport.unpark(thread);
            }
        }
    }

    /** Thrown at a barrier when another part failed: unwinds a part whose partner is gone. */
    private static final class Abandoned extends RuntimeException {
        private static final long serialVersionUID = 1L;
        static final Abandoned INSTANCE = new Abandoned();

        private Abandoned() {
            super("another part of the region failed", null, false, false);
        }
    }
}
