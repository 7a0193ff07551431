package io.github.lstmkernels.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.testkit.GoldenCase;
import io.github.lstmkernels.testkit.GoldenRunner;
import io.github.lstmkernels.spi.LstmBackend;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Every golden case on every backend of the build. Cases inside a backend's features must pass
 * under the case's own tolerance; the others are skipped with the missing feature named and
 * counted. {@code -Dgolden.dir=DIR} runs another set in the same format.
 */
class GoldenConformanceTest {

    @Test
    void everyBackendPassesEveryCaseItSupports() {
        Path dir = Path.of(System.getProperty("golden.dir", "../golden"));
        List<GoldenCase> cases = GoldenCase.findAll(dir);
        assertFalse(cases.isEmpty(), "no golden cases (subfolders with case.json) in " + dir.toAbsolutePath());
        System.out.println("golden set: " + dir.toAbsolutePath() + " (" + cases.size() + " cases)");

        List<String> failures = new ArrayList<>();
        for (LstmBackend backend : Backends.all()) {
            List<GoldenRunner.Result> results = new ArrayList<>();
            for (GoldenCase goldenCase : cases) {
                GoldenRunner.Result result = GoldenRunner.run(backend, goldenCase);
                results.add(result);
                switch (result.status()) {
                    case FAILED -> failures.add(backend.name() + " / " + result.caseName() + ": " + result.reason());
                    case SKIPPED -> System.out.println("  skipped " + backend.name() + " / " + result.caseName()
                            + ": " + result.reason());
                    case PASSED -> { }
                }
            }
            GoldenRunner.Summary summary = GoldenRunner.summarize(backend.name(), results);
            System.out.println(summary);
            assertEquals(cases.size(), summary.passed() + summary.failed() + summary.skipped());
            if (cases.stream().anyMatch(c -> c.requiredFeatures().isEmpty())) {
                // Guards against a runner bug that skips everything: plain LSTM cases run on every backend.
                assertTrue(summary.passed() > 0, backend.name() + " passed no golden case at all: " + summary);
            }
        }
        assertTrue(failures.isEmpty(), "golden failures:\n" + String.join("\n", failures));
    }
}
