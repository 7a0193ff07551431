package io.github.lstmkernels.spi;

import io.github.lstmkernels.BackendUnavailableException;
import io.github.lstmkernels.Feature;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.UnsupportedFeatureException;
import java.util.Objects;
import java.util.Set;

/**
 * A backend: what each backend module provides through {@link java.util.ServiceLoader}
 * ({@code META-INF/services/io.github.lstmkernels.spi.LstmBackend}). The provider class must be
 * cheap and safe to construct on any JVM; probing belongs in {@link #availability()}.
 */
public interface LstmBackend {

    /** The name {@code lstm.backend} selects it by, e.g. {@code "scalar"}. */
    String name();

    /** Higher wins when no backend is named. */
    int priority();

    /** Probes (once, then caches) whether this backend can run here. */
    Availability availability();

    /** The optional features this backend implements. */
    Set<Feature> features();

    /**
     * Packs the weights, creates whatever the backend needs, and returns a kernel ready to call.
     * Checks availability, features and that the weights belong to the configuration first.
     *
     * @throws BackendUnavailableException if this backend cannot run here
     * @throws UnsupportedFeatureException if the configuration needs a feature this backend lacks
     * @throws IllegalArgumentException    if the weights were made for another configuration
     */
    default LstmKernel prepare(LstmConfig config, LstmWeights weights) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(weights, "weights");
        Availability availability = availability();
        if (!availability.available()) {
            throw new BackendUnavailableException("backend '" + name() + "' is unavailable: " + availability.detail());
        }
        for (Feature feature : config.requiredFeatures()) {
            if (!features().contains(feature)) {
                throw new UnsupportedFeatureException(name(), feature);
            }
        }
        if (!weights.config().equals(config)) {
            throw new IllegalArgumentException("weights were made for " + weights.config() + ", not for " + config);
        }
        return createKernel(config, weights);
    }

    /** Builds the kernel; called by {@link #prepare} once every check has passed. */
    LstmKernel createKernel(LstmConfig config, LstmWeights weights);
}
