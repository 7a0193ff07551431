package io.github.lstmkernels.onednn;

/** A oneDNN call returned a status other than {@code dnnl_success}. */
public final class DnnlException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;

    DnnlException(String function, int status, String statusName) {
        super(function + " failed: " + statusName + " (dnnl_status_t " + status + ")");
        this.status = status;
    }

    /** The {@code dnnl_status_t} value. */
    public int status() {
        return status;
    }
}
