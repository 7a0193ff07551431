package io.github.lstmkernels.tests;

import io.github.lstmkernels.BackendStatus;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.spi.LstmBackend;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

/**
 * The backends under test: every backend module of the build, named by the {@code expected.backends}
 * system property (set by the pom). Each must be discovered through ServiceLoader and available on
 * this machine, otherwise the suite fails rather than silently testing less.
 */
final class Backends {
    private Backends() {
    }

    static List<String> expectedNames() {
        String names = System.getProperty("expected.backends", "scalar");
        return Arrays.stream(names.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
    }

    /** Every expected backend; throws naming the missing ones and what was discovered. */
    static List<LstmBackend> all() {
        List<BackendStatus> discovered = LstmKernels.backends();
        for (String name : expectedNames()) {
            BackendStatus status = discovered.stream().filter(s -> s.name().equals(name)).findFirst()
                    .orElseThrow(() -> new AssertionError("backend module '" + name
                            + "' of this build was not discovered through ServiceLoader; discovered: " + discovered));
            if (!status.available()) {
                throw new AssertionError("backend '" + name + "' is not available on this machine: " + status);
            }
        }
        return expectedNames().stream().map(LstmKernels::backend).toList();
    }

    /** For {@code @MethodSource}. */
    static Stream<LstmBackend> stream() {
        return all().stream();
    }
}
