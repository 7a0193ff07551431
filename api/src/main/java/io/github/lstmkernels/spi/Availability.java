package io.github.lstmkernels.spi;

/**
 * Whether a backend can run on this JVM, probed (never assumed) by the backend itself.
 *
 * @param available true if {@code prepare} can be called
 * @param detail    when available, what it runs on (e.g. "512-bit vectors, FMA"); otherwise the
 *                  reason and, if there is one, the fix (e.g. "add --add-modules jdk.incubator.vector")
 */
public record Availability(boolean available, String detail) {
    public static Availability available(String detail) {
        return new Availability(true, detail);
    }

    public static Availability unavailable(String reason) {
        return new Availability(false, reason);
    }
}
