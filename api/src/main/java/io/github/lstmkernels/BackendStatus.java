package io.github.lstmkernels;

/**
 * What {@link LstmKernels#backends()} reports for one discovered backend.
 *
 * @param name      the name {@code lstm.backend} selects it by
 * @param priority  higher wins when no backend is named
 * @param available whether it can run on this JVM
 * @param detail    why not (when unavailable), or what it runs on (when available)
 */
public record BackendStatus(String name, int priority, boolean available, String detail) {
    @Override
    public String toString() {
        return name + " (priority " + priority + ", " + (available ? "available: " : "unavailable: ") + detail + ")";
    }
}
