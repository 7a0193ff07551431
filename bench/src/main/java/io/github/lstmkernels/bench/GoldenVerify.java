package io.github.lstmkernels.bench;

import io.github.lstmkernels.testkit.GoldenCase;
import io.github.lstmkernels.testkit.GoldenRunner;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.lstmkernels.BackendStatus;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.spi.LstmBackend;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code verify --golden DIR [--backend NAME] [--write-outputs OUT]}: the correctness side of the
 * bench tool. One JSON line per (case, backend) on stdout, a summary per backend on stderr, exit
 * status 0 only if nothing failed.
 */
final class GoldenVerify {
    private static final ObjectMapper JSON = new ObjectMapper();

    private GoldenVerify() {
    }

    static int run(List<String> args, PrintStream out) throws IOException {
        Path golden = Path.of(BenchTool.option(args, "--golden", "golden"));
        String backendName = BenchTool.option(args, "--backend", null);
        String writeOutputs = BenchTool.option(args, "--write-outputs", null);
        if (!args.isEmpty()) {
            throw new IllegalArgumentException("unexpected arguments " + args);
        }
        List<LstmBackend> backends = new ArrayList<>();
        if (backendName != null) {
            backends.add(LstmKernels.backend(backendName));
        } else {
            for (BackendStatus status : LstmKernels.backends()) {
                if (status.available()) {
                    backends.add(LstmKernels.backend(status.name()));
                } else {
                    System.err.println("verify: skipping " + status);
                }
            }
        }
        List<GoldenCase> cases = GoldenCase.findAll(golden);
        boolean anyFailed = false;
        for (LstmBackend backend : backends) {
            List<GoldenRunner.Result> results = new ArrayList<>();
            for (GoldenCase goldenCase : cases) {
                GoldenRunner.Result result = GoldenRunner.run(backend, goldenCase);
                results.add(result);
                out.println(JSON.writeValueAsString(toJson(result)));
                if (writeOutputs != null && !result.outputs().isEmpty()) {
                    write(Path.of(writeOutputs, backend.name(), goldenCase.name()), result.outputs());
                }
            }
            GoldenRunner.Summary summary = GoldenRunner.summarize(backend.name(), results);
            System.err.println(summary);
            anyFailed |= summary.failed() > 0;
        }
        return anyFailed ? 1 : 0;
    }

    private static ObjectNode toJson(GoldenRunner.Result r) {
        ObjectNode line = JSON.createObjectNode();
        line.put("case", r.caseName());
        line.put("backend", r.backend());
        line.put("status", r.status().name().toLowerCase(java.util.Locale.ROOT));
        if (!r.comparisons().isEmpty()) {
            line.put("max_abs_error", r.comparisons().stream().mapToDouble(GoldenRunner.Comparison::maxAbsError).max().orElse(0));
            line.put("max_rel_error", r.comparisons().stream().mapToDouble(GoldenRunner.Comparison::maxRelError).max().orElse(0));
            ArrayNode tensors = line.putArray("tensors");
            for (GoldenRunner.Comparison c : r.comparisons()) {
                ObjectNode t = tensors.addObject();
                t.put("name", c.tensor());
                t.put("max_abs_error", c.maxAbsError());
                t.put("max_rel_error", c.maxRelError());
                t.put("atol", c.atol());
                t.put("rtol", c.rtol());
                t.put("violations", c.violations());
                t.put("passed", c.passed());
            }
        }
        if (!r.reason().isEmpty()) {
            line.put("reason", r.reason());
        }
        return line;
    }

    /** Writes each tensor as {@code <name>.f32}, raw little-endian float32, the golden format. */
    private static void write(Path dir, Map<String, float[]> tensors) throws IOException {
        Files.createDirectories(dir);
        for (Map.Entry<String, float[]> e : tensors.entrySet()) {
            ByteBuffer buffer = ByteBuffer.allocate(e.getValue().length * 4).order(ByteOrder.LITTLE_ENDIAN);
            buffer.asFloatBuffer().put(e.getValue());
            Files.write(dir.resolve(e.getKey() + ".f32"), buffer.array());
        }
    }
}
