package io.github.lstmkernels.spi;

/** A backend's numeric system properties ({@code lstm.*}), read one way with one message for a bad value. */
public final class BackendProperties {
    private BackendProperties() {
    }

    /**
     * The integer value of system property {@code name}, or {@code unset} when it is not set.
     *
     * @throws IllegalArgumentException naming the property and the value when it is not an integer
     *         of at least {@code least} (1: "a positive integer", 0: "a non-negative integer")
     */
    public static long atLeast(String name, long least, long unset) {
        String value = System.getProperty(name);
        if (value == null || value.isBlank()) {
            return unset;
        }
        try {
            long n = Long.parseLong(value.trim());
            if (n >= least) {
                return n;
            }
        } catch (NumberFormatException e) {
            // refused below
        }
        String kind = least == 1 ? "a positive integer" : least == 0 ? "a non-negative integer" : "an integer ≥ " + least;
        throw new IllegalArgumentException(name + " must be " + kind + ", got '" + value + "'");
    }
}
