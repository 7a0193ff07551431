package io.github.lstmkernels;

/**
 * No backend matches a request: the name is unknown, or every named backend is unavailable on this
 * JVM. The message lists every discovered backend with its status.
 */
public final class BackendUnavailableException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public BackendUnavailableException(String message) {
        super(message);
    }
}
