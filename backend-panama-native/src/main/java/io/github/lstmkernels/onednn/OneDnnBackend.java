package io.github.lstmkernels.onednn;

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
 * oneDNN's LSTM and GRU primitives through FFM. Loading the library is deferred to the first
 * {@link #availability()} probe, so merely discovering this provider touches no native code.
 */
public final class OneDnnBackend implements LstmBackend {
    public static final String NAME = "onednn";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return 30;
    }

    @Override
    public Availability availability() {
        OneDnnLibrary.Loaded loaded = OneDnnLibrary.get();
        if (!loaded.ok()) {
            return Availability.unavailable(loaded.failure());
        }
        int threads;
        try {
            threads = threads();
        } catch (IllegalArgumentException e) {
            return Availability.unavailable(e.getMessage());
        }
        return Availability.available(loaded.description() + ", threads: "
                + (threads > 0 ? threads + " (" + LstmProperties.ONEDNN_THREADS + ")" : "oneDNN's default"));
    }

    @Override
    public Set<Feature> features() {
        return EnumSet.of(Feature.BIDIRECTIONAL, Feature.PROJECTION, Feature.VARIABLE_LENGTHS, Feature.GRU_CELL,
                Feature.BACKWARD);
    }

    @Override
    public LstmKernel createKernel(LstmConfig config, LstmWeights weights) {
        OneDnnLibrary.Loaded loaded = OneDnnLibrary.get();
        return new OneDnnLstmKernel(loaded.dnnl(), loaded.engine(), config, weights, threads());
    }

    /** {@code lstm.onednn.threads}, or 0 for oneDNN's own default. */
    static int threads() {
        return (int) Math.min(Integer.MAX_VALUE, BackendProperties.atLeast(LstmProperties.ONEDNN_THREADS, 1, 0));
    }
}
