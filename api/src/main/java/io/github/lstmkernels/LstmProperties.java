package io.github.lstmkernels;

/**
 * Every system property the library reads. Each one starts with {@code lstm.} and is listed in the
 * README's property table.
 */
public final class LstmProperties {
    /** Backend name, or a comma-separated preference list; unset means the best available one. */
    public static final String BACKEND = "lstm.backend";
    /** Path of a {@code libdnnl.so} to load instead of the one shipped in the oneDNN Maven artifact. */
    public static final String ONEDNN_LIBRARY = "lstm.onednn.library";
    /** Number of threads oneDNN may use; unset means oneDNN's own default. */
    public static final String ONEDNN_THREADS = "lstm.onednn.threads";
    /** Threads the simd backend may use per call; unset means every available processor, 1 the calling thread only. */
    public static final String SIMD_THREADS = "lstm.simd.threads";
    /**
     * The least work, in multiply-adds per time step, each thread of a split simd call must get
     * (below it the call uses fewer threads); unset means the measured default. For measuring
     * that default ({@code SplitThresholdBenchmark}), not for tuning.
     */
    public static final String SIMD_SPLIT_MIN = "lstm.simd.split.min";
    /** Vector width in bits the simd backend uses (128, 256, 512); unset means the preferred species. */
    public static final String SIMD_BITS = "lstm.simd.bits";

    private LstmProperties() {
    }
}
