package io.github.lstmkernels.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Measures this core's float32 FMA peak with a Vector API loop: twelve independent accumulator
 * chains, enough to cover the FMA latency, at the preferred vector width. The result is what the
 * "share of peak" column divides by.
 */
final class FmaPeak {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private FmaPeak() {
    }

    /** GFLOP/s of one thread, best of a few half-second rounds. */
    static double measureGflops() {
        double best = 0;
        for (int round = 0; round < 6; round++) {
            long fmas = 0;
            long start = System.nanoTime();
            long elapsed;
            float sink = 0;
            do {
                sink += chains(20_000);
                fmas += 20_000L * 12;
                elapsed = System.nanoTime() - start;
            } while (elapsed < 300_000_000L);
            if (sink == 42) {
                System.err.print("");
            }
            best = Math.max(best, 2.0 * SPECIES.length() * fmas / elapsed);
        }
        return best;
    }

    private static float chains(int n) {
        FloatVector a = FloatVector.broadcast(SPECIES, 0.999f);
        FloatVector b = FloatVector.broadcast(SPECIES, 1e-6f);
        FloatVector c0 = FloatVector.broadcast(SPECIES, 1f);
        FloatVector c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (int i = 0; i < n; i++) {
            c0 = c0.fma(a, b);
            c1 = c1.fma(a, b);
            c2 = c2.fma(a, b);
            c3 = c3.fma(a, b);
            c4 = c4.fma(a, b);
            c5 = c5.fma(a, b);
            c6 = c6.fma(a, b);
            c7 = c7.fma(a, b);
            c8 = c8.fma(a, b);
            c9 = c9.fma(a, b);
            c10 = c10.fma(a, b);
            c11 = c11.fma(a, b);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11)
                .reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }
}
