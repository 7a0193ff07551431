package io.github.lstmkernels.tests;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.spi.TensorChecks;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * {@link TensorChecks#sharedAcrossThreads}: what decides whether a backend may hand a caller's
 * tensor to its worker threads (simd's split output writes, its directions side by side). Only a
 * confined arena's memory must stay with its owner, whichever thread asks.
 */
class TensorSharingTest {

    @Test
    void onlyConfinedMemoryStaysWithItsThread() throws Exception {
        assertTrue(TensorChecks.sharedAcrossThreads(null), "an absent tensor");
        assertTrue(TensorChecks.sharedAcrossThreads(MemorySegment.ofArray(new float[4])), "heap");
        assertTrue(TensorChecks.sharedAcrossThreads(Arena.global().allocate(16)), "global arena");
        assertTrue(TensorChecks.sharedAcrossThreads(Arena.ofAuto().allocate(16)), "automatic arena");
        try (Arena shared = Arena.ofShared(); Arena confined = Arena.ofConfined()) {
            assertTrue(TensorChecks.sharedAcrossThreads(shared.allocate(16)), "shared arena");
            MemorySegment mine = confined.allocate(16);
            assertFalse(TensorChecks.sharedAcrossThreads(mine), "confined arena, asked by its owner");
            AtomicBoolean seenElsewhere = new AtomicBoolean(true);
            Thread other = new Thread(() -> seenElsewhere.set(TensorChecks.sharedAcrossThreads(mine)));
            other.start();
            other.join();
            assertFalse(seenElsewhere.get(), "confined arena, asked by another thread");
        }
    }
}
