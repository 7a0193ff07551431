package io.github.lstmkernels.simd;

import io.github.lstmkernels.Feature;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmProperties;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.Availability;
import io.github.lstmkernels.spi.BackendProperties;
import io.github.lstmkernels.spi.LstmBackend;
import java.util.EnumSet;
import java.util.Set;

/**
 * The Vector API backend. This class names no Vector API type, so it loads on any JVM; the
 * availability probe checks that {@code jdk.incubator.vector} is resolved before anything touches it,
 * and that this JVM would run it as SIMD instructions ({@link VectorWidth#slowVectorReason}): where it
 * would not, simd says why and the scalar backend is the faster choice.
 */
public final class SimdBackend implements LstmBackend {
    public static final String NAME = "simd";
    private static final System.Logger LOG = System.getLogger(SimdBackend.class.getName());

    private volatile Availability availability;

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return 20;
    }

    @Override
    public Availability availability() {
        Availability a = availability;
        if (a == null) {
            a = probe();
            availability = a;
        }
        return a;
    }

    private static Availability probe() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return Availability.unavailable("the jdk.incubator.vector module is not resolved: add --add-modules jdk.incubator.vector");
        }
        try {
            String slow = VectorWidth.slowVectorReason();
            if (slow != null) {
                return Availability.unavailable(slow);
            }
            String description = VectorWidth.describe() + ", threads: " + threads() + VectorWidth.narrowerThanTheCpu();
            splitMinimum();
            LOG.log(System.Logger.Level.INFO, "lstm-kernels simd: {0}", description);
            return Availability.available(description);
        } catch (IllegalArgumentException e) {
            return Availability.unavailable(e.getMessage());
        } catch (LinkageError e) {
            return Availability.unavailable("the Vector API failed to load: " + e);
        }
    }

    @Override
    public Set<Feature> features() {
        return EnumSet.of(Feature.BIDIRECTIONAL, Feature.PROJECTION, Feature.VARIABLE_LENGTHS, Feature.GRU_CELL,
                Feature.BACKWARD);
    }

    @Override
    public LstmKernel createKernel(LstmConfig config, LstmWeights weights) {
        return new SimdLstmKernel(config, weights, threads(), splitMinimum());
    }

    /**
     * The least work, in multiply-adds per time step, that a part of a split call must get: below
     * it the barrier each step ends with costs more than the part saves, and the call runs on
     * fewer threads (down to the calling thread alone). Measured with
     * {@code SplitThresholdBenchmark} (see the README).
     */
    static final long MIN_STEP_FMAS_PER_PART = 8_192;

    /** {@code lstm.simd.split.min}, or {@link #MIN_STEP_FMAS_PER_PART}. */
    static long splitMinimum() {
        return BackendProperties.atLeast(LstmProperties.SIMD_SPLIT_MIN, 0, MIN_STEP_FMAS_PER_PART);
    }

    /** {@code lstm.simd.threads}, or every available processor. */
    static int threads() {
        return (int) Math.min(Integer.MAX_VALUE,
                BackendProperties.atLeast(LstmProperties.SIMD_THREADS, 1, Runtime.getRuntime().availableProcessors()));
    }
}
