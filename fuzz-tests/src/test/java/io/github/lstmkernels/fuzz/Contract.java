package io.github.lstmkernels.fuzz;

import io.github.lstmkernels.Feature;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.UnsupportedFeatureException;
import io.github.lstmkernels.spi.LstmBackend;
import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
import java.util.Set;

/**
 * The contract every call is held to (DESIGN §4, §7, §11):
 * <ul>
 *   <li>a refusal throws one of the documented types ({@link IllegalArgumentException} and its
 *       {@link UnsupportedFeatureException}, {@link NullPointerException}, {@link IllegalStateException}
 *       and its {@code BackendUnavailableException}), and the one the call's fault calls for;</li>
 *   <li>a refusal leaves every byte of every store the call could see as it was;</li>
 *   <li>a valid call (no fault planted) is accepted, a faulty one refused;</li>
 *   <li>an accepted call writes nothing but its outputs, and its results equal the scalar
 *       backend's ({@link Compare}).</li>
 * </ul>
 * A JVM crash fails the run by itself. A violation throws an {@link AssertionError} that carries the
 * trace of the current input, which Jazzer reports with the input's bytes.
 */
final class Contract {
    private static final StringBuilder TRACE = new StringBuilder();

    private Contract() {
    }

    static void newInput() {
        TRACE.setLength(0);
    }

    static void trace(String line) {
        TRACE.append("\n  ").append(line);
    }

    static AssertionError violation(String message, Throwable cause) {
        return new AssertionError(message + "\ninput:" + TRACE, cause);
    }

    static boolean documented(Throwable e) {
        return e instanceof IllegalArgumentException || e instanceof NullPointerException
                || e instanceof IllegalStateException;
    }

    /** prepare on a backend that lacks a feature the configuration needs: UnsupportedFeatureException naming it. */
    static void expectUnsupportedConfig(LstmBackend backend, LstmConfig config) {
        Set<Feature> missing = EnumSet.noneOf(Feature.class);
        missing.addAll(config.requiredFeatures());
        missing.removeAll(backend.features());
        trace(backend.name() + " prepare " + config + ", lacking " + missing);
        try {
            backend.prepare(config, LstmWeights.random(config, 1)).close();
        } catch (UnsupportedFeatureException e) {
            if (!missing.contains(e.feature())) {
                throw violation(backend.name() + " refused with feature " + e.feature() + ", not one of " + missing, e);
            }
            Stats.call(backend.name(), "prepare", "refused UnsupportedFeatureException");
            Stats.skipped(backend.name(), String.join("+", missing.stream().map(Enum::name).toList()));
            return;
        } catch (RuntimeException e) {
            throw violation(backend.name() + " prepare threw " + e + " instead of UnsupportedFeatureException", e);
        }
        throw violation(backend.name() + " prepared " + config + " though it lacks " + missing, null);
    }

    /** A refused call: documented type, the type its faults call for, and nothing written. */
    static void refused(LstmBackend backend, String what, Memory memory, RuntimeException e, Placer p) {
        if (!documented(e)) {
            throw violation(backend.name() + " " + what + " threw an undocumented " + e, e);
        }
        if (p.valid()) {
            throw violation(backend.name() + " " + what + " refused a valid call: " + e, e);
        }
        if (p.allowed.stream().noneMatch(t -> t.isInstance(e))) {
            throw violation(backend.name() + " " + what + " threw " + e + "; its faults " + p.faults + " call for one of "
                    + p.allowed, e);
        }
        refusedUntouched(backend, what, memory, e, p);
    }

    static void refusedUntouched(LstmBackend backend, String what, Memory memory, RuntimeException e, Placer p) {
        String change = memory.firstChange();
        if (change != null) {
            throw violation(backend.name() + " " + what + " refused the call (" + e + ") but wrote memory: " + change, e);
        }
        Stats.call(backend.name(), what, "refused " + e.getClass().getSimpleName());
    }

    /** An accepted call: it had no fault, and wrote nothing but its outputs. */
    static void accepted(LstmBackend backend, String what, Memory memory, Placer p, MemorySegment... outputs) {
        if (!p.valid()) {
            throw violation(backend.name() + " " + what + " accepted a call with faults " + p.faults, null);
        }
        String change = memory.firstChange(outputs);
        if (change != null) {
            throw violation(backend.name() + " " + what + " wrote outside its outputs: " + change, null);
        }
        Stats.call(backend.name(), what, "accepted");
    }

    static void same(LstmBackend backend, String what, LstmConfig config, String name, float[] got, float[] ref,
                     boolean exact, double tol) {
        String m = Compare.mismatch(name, got, ref, exact, tol);
        if (m != null) {
            throw violation(backend.name() + " " + what + " on " + config + ": " + m, null);
        }
    }
}
