package io.github.lstmkernels;

import io.github.lstmkernels.spi.Availability;
import io.github.lstmkernels.spi.LstmBackend;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

/**
 * The entry point: finds the backends on the class path (or module path) through
 * {@link ServiceLoader}, picks one, and prepares kernels.
 *
 * <pre>{@code
 * try (LstmKernel lstm = LstmKernels.prepare(config, weights)) { lstm.sequence(...); }
 * }</pre>
 *
 * <p>Selection ({@link LstmProperties#BACKEND}): a name picks that backend; a comma-separated list
 * picks the first available entry; unset picks the available backend with the highest priority.
 * The default choice is made once per JVM and logged once through {@link System.Logger}.
 */
public final class LstmKernels {
    private static final System.Logger LOG = System.getLogger(LstmKernels.class.getName());

    private LstmKernels() {
    }

    /** Every discovered backend with its status, highest priority first. */
    public static List<BackendStatus> backends() {
        return Discovered.BACKENDS.stream().map(LstmKernels::status).toList();
    }

    /**
     * The backend of that name.
     *
     * @throws BackendUnavailableException if none has that name or it cannot run here; the message
     *                                     lists every backend with its status
     */
    public static LstmBackend backend(String name) {
        io.github.lstmkernels.spi.TensorChecks.requireNonNull(name, "name");
        for (LstmBackend backend : Discovered.BACKENDS) {
            if (backend.name().equals(name.trim().toLowerCase(Locale.ROOT))) {
                Availability availability = backend.availability();
                if (!availability.available()) {
                    throw new BackendUnavailableException("backend '" + backend.name() + "' is unavailable: "
                            + availability.detail() + "; discovered: " + describeAll());
                }
                return backend;
            }
        }
        throw new BackendUnavailableException("no backend named '" + name + "'; discovered: " + describeAll());
    }

    /**
     * The backend the default selection picks now: {@code preference} as {@link LstmProperties#BACKEND}
     * would hold it (a name, a comma-separated list, or null/blank for the best available).
     */
    public static LstmBackend select(String preference) {
        if (preference == null || preference.isBlank()) {
            return Discovered.BACKENDS.stream().filter(b -> b.availability().available()).findFirst()
                    .orElseThrow(() -> new BackendUnavailableException("no available backend; discovered: "
                            + describeAll()));
        }
        if (!preference.contains(",")) {
            return backend(preference);
        }
        List<String> unavailable = new ArrayList<>();
        for (String name : preference.split(",")) {
            if (name.isBlank()) {
                continue;
            }
            try {
                LstmBackend backend = backend(name);
                if (!unavailable.isEmpty()) {
                    LOG.log(System.Logger.Level.WARNING, "lstm-kernels: falling back to backend ''{0}'': {1}",
                            backend.name(), String.join("; ", unavailable));
                }
                return backend;
            } catch (BackendUnavailableException e) {
                unavailable.add(name.trim() + " " + reasonFor(name));
            }
        }
        throw new BackendUnavailableException(LstmProperties.BACKEND + "=" + preference
                + " names no available backend; discovered: " + describeAll());
    }

    private static volatile LstmBackend chosen;

    /**
     * The backend chosen once per JVM from {@link LstmProperties#BACKEND}, logged once.
     *
     * @throws BackendUnavailableException if the property names no available backend (not cached:
     *                                     every call says so again)
     */
    public static LstmBackend defaultBackend() {
        LstmBackend backend = chosen;
        if (backend == null) {
            synchronized (LstmKernels.class) {
                backend = chosen;
                if (backend == null) {
                    backend = choose();
                    chosen = backend;
                }
            }
        }
        return backend;
    }

    /** Prepares a kernel on {@link #defaultBackend()}. */
    public static LstmKernel prepare(LstmConfig config, LstmWeights weights) {
        return defaultBackend().prepare(config, weights);
    }

    private static BackendStatus status(LstmBackend backend) {
        Availability availability = backend.availability();
        return new BackendStatus(backend.name(), backend.priority(), availability.available(), availability.detail());
    }

    private static String reasonFor(String name) {
        String wanted = name.trim().toLowerCase(Locale.ROOT);
        return Discovered.BACKENDS.stream().filter(b -> b.name().equals(wanted)).findFirst()
                .map(b -> "(unavailable: " + b.availability().detail() + ")").orElse("(not discovered)");
    }

    private static String describeAll() {
        if (Discovered.BACKENDS.isEmpty()) {
            return "none (put a backend module such as lstm-kernels-backend-scalar on the class path)";
        }
        return Discovered.BACKENDS.stream().map(b -> status(b).toString()).collect(Collectors.joining(", "));
    }

    /** Discovery runs once, on first use. */
    private static final class Discovered {
        static final List<LstmBackend> BACKENDS = discover();

        private static List<LstmBackend> discover() {
            List<LstmBackend> found = new ArrayList<>();
            Iterator<LstmBackend> it = ServiceLoader.load(LstmBackend.class, LstmKernels.class.getClassLoader()).iterator();
            while (true) {
                try {
                    if (!it.hasNext()) {
                        break;
                    }
                    found.add(it.next());
                } catch (ServiceConfigurationError e) {
                    LOG.log(System.Logger.Level.WARNING, "lstm-kernels: skipping a backend that failed to load", e);
                }
            }
            found.sort(Comparator.comparingInt(LstmBackend::priority).reversed().thenComparing(LstmBackend::name));
            return List.copyOf(found);
        }
    }

    private static LstmBackend choose() {
        String preference = System.getProperty(LstmProperties.BACKEND);
        LstmBackend backend = select(preference);
        LOG.log(System.Logger.Level.INFO, "lstm-kernels: using backend ''{0}'' ({1}); {2}={3}; discovered: {4}",
                backend.name(), backend.availability().detail(), LstmProperties.BACKEND,
                preference == null ? "(unset)" : preference, describeAll());
        if (preference == null || preference.isBlank()) {
            for (LstmBackend better : Discovered.BACKENDS) {
                if (better == backend) {
                    break;
                }
                LOG.log(System.Logger.Level.WARNING, "lstm-kernels: backend ''{0}'' is unavailable ({1}); fell back to ''{2}''",
                        better.name(), better.availability().detail(), backend.name());
            }
        }
        return backend;
    }
}
