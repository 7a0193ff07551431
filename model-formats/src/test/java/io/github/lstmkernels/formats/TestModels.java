package io.github.lstmkernels.formats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.lstmkernels.BackendStatus;
import io.github.lstmkernels.CellType;
import io.github.lstmkernels.Feature;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.spi.LstmBackend;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** The models make_test_models.py wrote, and what the tests do with them. */
final class TestModels {
    static final int I = 5;
    static final int H = 6;
    static final int T = 4;
    static final int B = 2;

    private TestModels() {
    }

    static Path dir(String model) {
        try {
            return Path.of(TestModels.class.getResource("/models/" + model).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Path file(String model, String name) {
        return dir(model).resolve(name);
    }

    /** A raw little-endian float32 file, or null if the model has none of that name. */
    static float[] f32(String model, String name) {
        Path path = file(model, name + ".f32");
        if (!Files.exists(path)) {
            return null;
        }
        try {
            ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN);
            float[] out = new float[bytes.remaining() / 4];
            bytes.asFloatBuffer().get(out);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A backend that can run the configuration, or the reason it cannot. */
    record Candidate(String name, LstmBackend backend, String skipReason) {
    }

    /** Every discovered backend, each either usable for {@code features} or with the reason it is skipped. */
    static List<Candidate> backends(Set<Feature> features) {
        List<Candidate> out = new ArrayList<>();
        for (BackendStatus status : LstmKernels.backends()) {
            if (!status.available()) {
                out.add(new Candidate(status.name(), null, "unavailable: " + status.detail()));
                continue;
            }
            LstmBackend backend = LstmKernels.backend(status.name());
            Set<Feature> missing = new HashSet<>(features);
            missing.removeAll(backend.features());
            out.add(missing.isEmpty() ? new Candidate(status.name(), backend, null)
                    : new Candidate(status.name(), null, "does not implement " + missing + " yet"));
        }
        return out;
    }

    /** {@code sequence} for either cell: a GRU has no cell state, so its c is left out. */
    static void sequence(LstmKernel kernel, int seqLen, int batch, float[] x, float[] y, float[] h, float[] c) {
        kernel.sequence(seqLen, batch, null, x, y, h, kernel.config().cell() == CellType.GRU ? null : c);
    }

    /** |actual − expected| ≤ atol + rtol·|expected| everywhere, else a message naming the first bad index. */
    static void assertClose(String what, float[] expected, float[] actual, double atol, double rtol) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs((double) actual[i] - expected[i]);
            if (!(diff <= atol + rtol * Math.abs(expected[i]))) {
                fail(what + "[" + i + "]: expected " + expected[i] + ", got " + actual[i] + " (diff " + diff + ")");
            }
        }
    }

    static void assertClose(String what, float[] expected, double[] actual, double atol) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs(actual[i] - expected[i]);
            if (!(diff <= atol)) {
                fail(what + "[" + i + "]: expected " + expected[i] + ", got " + actual[i] + " (diff " + diff + ")");
            }
        }
    }
}
