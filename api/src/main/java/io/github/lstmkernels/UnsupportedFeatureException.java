package io.github.lstmkernels;

/** Thrown by {@code prepare} when a configuration needs a feature the chosen backend does not implement. */
public final class UnsupportedFeatureException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final transient Feature feature;

    public UnsupportedFeatureException(String backend, Feature feature) {
        super("backend '" + backend + "' does not implement " + feature.description() + " (" + feature + ")");
        this.feature = feature;
    }

    public Feature feature() {
        return feature;
    }
}
