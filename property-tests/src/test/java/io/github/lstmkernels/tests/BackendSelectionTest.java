package io.github.lstmkernels.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.BackendStatus;
import io.github.lstmkernels.BackendUnavailableException;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.LstmProperties;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** DESIGN.md section 5: selection by name, by preference list, by priority; clear errors. */
class BackendSelectionTest {

    @Test
    void everyBackendOfTheBuildIsDiscoveredAndAvailable() {
        List<String> names = LstmKernels.backends().stream().map(BackendStatus::name).toList();
        for (String expected : Backends.expectedNames()) {
            assertTrue(names.contains(expected), expected + " not discovered: " + names);
        }
        assertEquals(Backends.expectedNames().size(), Backends.all().size());
    }

    @Test
    void aKnownNameSelectsThatBackend() {
        for (String name : Backends.expectedNames()) {
            assertEquals(name, LstmKernels.backend(name).name());
            assertEquals(name, LstmKernels.select(name).name());
        }
    }

    @Test
    void anUnknownNameIsAnErrorListingEveryBackend() {
        BackendUnavailableException e = assertThrows(BackendUnavailableException.class, () -> LstmKernels.select("cuda"));
        assertTrue(e.getMessage().contains("cuda"), e.getMessage());
        for (String name : Backends.expectedNames()) {
            assertTrue(e.getMessage().contains(name + " (priority"), "message should list " + name + ": " + e.getMessage());
        }
        assertThrows(BackendUnavailableException.class, () -> LstmKernels.backend("cuda"));
    }

    @Test
    void aPreferenceListTakesTheFirstAvailableEntry() {
        assertEquals("scalar", LstmKernels.select("cuda, scalar").name());
        assertEquals("scalar", LstmKernels.select("scalar,cuda").name());
        BackendUnavailableException e = assertThrows(BackendUnavailableException.class,
                () -> LstmKernels.select("cuda,tpu"));
        assertTrue(e.getMessage().contains("cuda,tpu") && e.getMessage().contains("scalar (priority"), e.getMessage());
    }

    @Test
    void noPreferencePicksTheAvailableBackendWithTheHighestPriority() {
        BackendStatus best = LstmKernels.backends().stream().filter(BackendStatus::available)
                .max(Comparator.comparingInt(BackendStatus::priority)).orElseThrow();
        assertEquals(best.name(), LstmKernels.select(null).name());
        assertEquals(best.name(), LstmKernels.select(" ").name());
        List<BackendStatus> listed = LstmKernels.backends();
        for (int i = 1; i < listed.size(); i++) {
            assertTrue(listed.get(i - 1).priority() >= listed.get(i).priority(), "not sorted by priority: " + listed);
        }
    }

    @Test
    void theSystemPropertyChoosesTheDefaultBackendOncePerJvm() throws Exception {
        for (String name : Backends.expectedNames()) {
            Result r = runProbe(name);
            assertEquals(0, r.exit, r.output);
            assertTrue(r.output.contains("selected=" + name), r.output);
            assertTrue(r.output.contains("using backend '" + name + "'"), "the choice should be logged: " + r.output);
        }
        Result unknown = runProbe("cuda");
        assertEquals(3, unknown.exit, unknown.output);
        assertTrue(unknown.output.contains("no backend named 'cuda'") && unknown.output.contains("scalar (priority"),
                unknown.output);
    }

    @Test
    void aMissingNativeLibraryMakesOnednnUnavailableAndTheDefaultFallsBack() throws Exception {
        String missing = "/nonexistent/libdnnl.so.3";
        Result auto = runProbe("", true, "-D" + LstmProperties.ONEDNN_LIBRARY + "=" + missing);
        assertEquals(0, auto.exit, auto.output);
        assertTrue(auto.output.contains("selected=simd"), auto.output);
        assertTrue(auto.output.contains("WARNING") && auto.output.contains("'onednn' is unavailable")
                && auto.output.contains(missing), "the fallback is logged with the path tried: " + auto.output);

        Result named = runProbe("onednn", true, "-D" + LstmProperties.ONEDNN_LIBRARY + "=" + missing);
        assertEquals(3, named.exit, named.output);
        assertTrue(named.output.contains("backend 'onednn' is unavailable: no oneDNN library at " + missing), named.output);
    }

    @Test
    void aBadThreadCountMakesOnednnUnavailableWithTheReason() throws Exception {
        Result r = runProbe("onednn", true, "-D" + LstmProperties.ONEDNN_THREADS + "=zero");
        assertEquals(3, r.exit, r.output);
        assertTrue(r.output.contains("lstm.onednn.threads must be a positive integer, got 'zero'"), r.output);
    }

    @Test
    void aBadThreadCountMakesSimdUnavailableWithTheReason() throws Exception {
        Result r = runProbe("simd", true, "-D" + LstmProperties.SIMD_THREADS + "=0");
        assertEquals(3, r.exit, r.output);
        assertTrue(r.output.contains("lstm.simd.threads must be a positive integer, got '0'"), r.output);
    }

    @Test
    void withoutTheVectorModuleSimdIsUnavailableAndSaysHowToFixIt() throws Exception {
        Result named = runProbe("simd", false);
        assertEquals(3, named.exit, named.output);
        assertTrue(named.output.contains("add --add-modules jdk.incubator.vector"), named.output);
        Result list = runProbe("simd,scalar", false);
        assertEquals(0, list.exit, list.output);
        assertTrue(list.output.contains("selected=scalar"), list.output);
    }

    /**
     * A JVM that would not run the Vector API as SIMD instructions (C1 only, no JIT, no hardware FMA:
     * simd would be slower than scalar there, by far) makes simd unavailable with the reason, and a
     * preference list falls through to scalar.
     */
    @Test
    void aJvmThatWouldRunVectorsSlowlyMakesSimdUnavailableWithTheReason() throws Exception {
        String[][] flagsAndReasons = {
            {"-XX:TieredStopAtLevel=1", "C2 is off (-XX:TieredStopAtLevel=1"},
            {"-Xint", "this JVM does not compile"},
            {"-XX:-UseFMA", "no hardware FMA"},
        };
        for (String[] flagAndReason : flagsAndReasons) {
            Result named = runProbe("simd", true, flagAndReason[0]);
            assertEquals(3, named.exit, named.output);
            assertTrue(named.output.contains("backend 'simd' is unavailable: " + flagAndReason[1]), named.output);
            Result list = runProbe("simd,scalar", true, flagAndReason[0]);
            assertEquals(0, list.exit, list.output);
            assertTrue(list.output.contains("selected=scalar"), list.output);
        }
    }

    private record Result(int exit, String output) {
    }

    private static Result runProbe(String value) throws IOException, InterruptedException {
        return runProbe(value, true);
    }

    /** Runs {@link SelectionProbe} in a fresh JVM with {@code -Dlstm.backend=value} (none if empty). */
    private static Result runProbe(String value, boolean vectorModule, String... extraFlags)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("--enable-native-access=ALL-UNNAMED");
        if (vectorModule) {
            command.add("--add-modules=jdk.incubator.vector");
        }
        command.addAll(List.of(extraFlags));
        if (!value.isEmpty()) {
            command.add("-D" + LstmProperties.BACKEND + "=" + value);
        }
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(SelectionProbe.class.getName());
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("selection probe did not finish");
        }
        return new Result(process.exitValue(), new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
    }
}
