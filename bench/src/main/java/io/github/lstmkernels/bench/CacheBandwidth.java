package io.github.lstmkernels.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The read bandwidth of one core from its L2 and from L3, measured in the same run as the kernels:
 * the ceiling of a batch-1 kernel, which streams its weights once per step. A Vector API sum over a
 * buffer that fits the level (half of L2; twice L2 but well inside L3), eight accumulators so the
 * loads, not the adds, are the limit; best of several rounds.
 */
final class CacheBandwidth {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    /** Sizes in bytes as the kernel reports them (per core for L2), with fallbacks when sysfs is silent. */
    record Levels(long l2Bytes, long l3Bytes, double l2GBps, double l3GBps) {
        /** The level a stream of {@code bytes} per pass is served from, once warm. */
        String levelOf(double bytes) {
            return bytes <= 0.75 * l2Bytes ? "L2" : bytes <= 0.75 * l3Bytes ? "L3" : "DRAM";
        }

        /** The bandwidth of {@link #levelOf}, or NaN for DRAM (not measured). */
        double bandwidthOf(double bytes) {
            return switch (levelOf(bytes)) {
                case "L2" -> l2GBps;
                case "L3" -> l3GBps;
                default -> Double.NaN;
            };
        }
    }

    private CacheBandwidth() {
    }

    static Levels measure() {
        long l2 = cacheBytes(2, 1L << 20);
        long l3 = cacheBytes(3, 32L << 20);
        long l3Buffer = Math.min(Math.max(2 * l2, l3 / 4), l3 / 2);
        return new Levels(l2, l3, readGBps(l2 / 2), readGBps(l3Buffer));
    }

    /** GB/s of summing a buffer of {@code bytes}, best of eight rounds of at least 0.2 s. */
    static double readGBps(long bytes) {
        float[] data = new float[(int) (bytes / Float.BYTES / SPECIES.length() / 8 * SPECIES.length() * 8)];
        java.util.Arrays.fill(data, 1e-3f);
        double best = 0;
        float sink = 0;
        for (int round = 0; round < 8; round++) {
            long passes = 0;
            long start = System.nanoTime();
            long elapsed;
            do {
                sink += sum(data);
                passes++;
                elapsed = System.nanoTime() - start;
            } while (elapsed < 200_000_000L);
            best = Math.max(best, (double) passes * data.length * Float.BYTES / elapsed);
        }
        if (sink == 42) {
            System.err.print("");
        }
        return best;
    }

    private static float sum(float[] a) {
        int step = SPECIES.length();
        FloatVector s0 = FloatVector.zero(SPECIES), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
        for (int i = 0; i < a.length; i += 8 * step) {
            s0 = s0.add(FloatVector.fromArray(SPECIES, a, i));
            s1 = s1.add(FloatVector.fromArray(SPECIES, a, i + step));
            s2 = s2.add(FloatVector.fromArray(SPECIES, a, i + 2 * step));
            s3 = s3.add(FloatVector.fromArray(SPECIES, a, i + 3 * step));
            s4 = s4.add(FloatVector.fromArray(SPECIES, a, i + 4 * step));
            s5 = s5.add(FloatVector.fromArray(SPECIES, a, i + 5 * step));
            s6 = s6.add(FloatVector.fromArray(SPECIES, a, i + 6 * step));
            s7 = s7.add(FloatVector.fromArray(SPECIES, a, i + 7 * step));
        }
        return s0.add(s1).add(s2).add(s3).add(s4).add(s5).add(s6).add(s7).reduceLanes(VectorOperators.ADD);
    }

    /** Size of cache level {@code level} as cpu0 sees it (its own share for a per-core L2). */
    private static long cacheBytes(int level, long fallback) {
        for (int index = 0; index < 8; index++) {
            Path dir = Path.of("/sys/devices/system/cpu/cpu0/cache/index" + index);
            try {
                if (Files.readString(dir.resolve("level")).trim().equals(String.valueOf(level))
                        && !Files.readString(dir.resolve("type")).trim().equals("Instruction")) {
                    String size = Files.readString(dir.resolve("size")).trim();
                    long unit = size.endsWith("K") ? 1024 : size.endsWith("M") ? 1024 * 1024 : 1;
                    return Long.parseLong(size.replaceAll("[KM]$", "")) * unit;
                }
            } catch (IOException | NumberFormatException e) {
                // not this index, or no sysfs: try the next, then the fallback
            }
        }
        return fallback;
    }
}
