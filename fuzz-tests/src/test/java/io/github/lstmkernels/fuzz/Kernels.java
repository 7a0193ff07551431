package io.github.lstmkernels.fuzz;

import io.github.lstmkernels.BackendStatus;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.LstmBackend;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The backends under test (every available one, discovered as a user would) and a small LRU cache
 * of prepared kernels keyed by backend, configuration and weight seed: preparing (oneDNN creates
 * primitives) costs milliseconds, a call on these sizes microseconds. Evicted kernels are closed.
 */
final class Kernels {
    static final List<String> BACKENDS = LstmKernels.backends().stream().filter(BackendStatus::available)
            .map(BackendStatus::name).sorted().toList();
    static final LstmBackend SCALAR = LstmKernels.backend("scalar");
    private static final int CAPACITY = 64;

    private static final Map<String, LstmKernel> CACHE = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, LstmKernel> eldest) {
            if (size() > CAPACITY) {
                eldest.getValue().close();
                return true;
            }
            return false;
        }
    };

    private Kernels() {
    }

    /** A prepared kernel for (backend, config, random weights from seed); the caller must not close it. */
    static LstmKernel cached(LstmBackend backend, LstmConfig config, long seed) {
        String key = backend.name() + "|" + config + "|" + seed;
        LstmKernel k = CACHE.get(key);
        if (k == null) {
            k = backend.prepare(config, LstmWeights.random(config, seed));
            CACHE.put(key, k);
        }
        return k;
    }

    /** Whether the backend implements everything the configuration needs. */
    static boolean supports(LstmBackend backend, LstmConfig config) {
        return backend.features().containsAll(config.requiredFeatures());
    }
}
