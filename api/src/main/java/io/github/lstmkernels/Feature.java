package io.github.lstmkernels;

/**
 * Optional capabilities beyond the phase-1 contract (forward, unidirectional LSTM without
 * projection). A backend lists what it implements; asking for anything else is refused with an
 * {@link UnsupportedFeatureException} that names the feature.
 */
public enum Feature {
    /** A reverse direction per layer ({@code bidirectional=True}). */
    BIDIRECTIONAL("bidirectional layers"),
    /** LSTM output projection ({@code proj_size > 0}). */
    PROJECTION("LSTM projection (proj_size)"),
    /** Per-sequence lengths with packed-sequence semantics. */
    VARIABLE_LENGTHS("per-sequence lengths"),
    /** The GRU cell. */
    GRU_CELL("the GRU cell"),
    /** Gradients (backpropagation through time). */
    BACKWARD("the backward pass");

    private final String description;

    Feature(String description) {
        this.description = description;
    }

    public String description() {
        return description;
    }
}
