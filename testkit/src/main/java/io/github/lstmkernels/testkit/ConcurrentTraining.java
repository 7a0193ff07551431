package io.github.lstmkernels.testkit;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmTraining;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Many threads training on one prepared kernel at once, each with its own {@link LstmTraining}
 * created at the same moment (so whatever the kernel builds lazily for training is raced for) and
 * a call shape of its own ({@link TrainingCall#of}, seeds 100…): every thread's results, round
 * after round, must equal what one thread alone computes, bit for bit. The backends' tests run it
 * and assert that no difference is found.
 */
public final class ConcurrentTraining {
    private ConcurrentTraining() {
    }

    /** What differed ("thread 2, round 3, tensor 1 differs at [17]: …"), empty when nothing did. */
    public static List<String> differences(LstmKernel kernel, LstmConfig config, int threads, int rounds)
            throws Exception {
        List<TrainingCall> jobs = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            jobs.add(TrainingCall.of(config, 100 + t));
        }
        CyclicBarrier start = new CyclicBarrier(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        List<String> differences = new ArrayList<>();
        try {
            List<Future<List<List<float[]>>>> results = new ArrayList<>();
            for (TrainingCall job : jobs) {
                results.add(pool.submit(() -> {
                    start.await();
                    List<List<float[]>> all = new ArrayList<>();
                    try (LstmTraining training = kernel.newTraining()) {
                        for (int round = 0; round < rounds; round++) {
                            all.add(job.train(training, config));
                        }
                    }
                    return all;
                }));
            }
            for (int t = 0; t < threads; t++) {
                List<List<float[]>> concurrent = results.get(t).get();
                List<float[]> alone;
                try (LstmTraining training = kernel.newTraining()) {
                    alone = jobs.get(t).train(training, config);
                }
                for (int round = 0; round < rounds; round++) {
                    compare(alone, concurrent.get(round), "thread " + t + ", round " + round, differences);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        return differences;
    }

    private static void compare(List<float[]> expected, List<float[]> actual, String where, List<String> differences) {
        if (expected.size() != actual.size()) {
            differences.add(where + ": " + actual.size() + " tensors, expected " + expected.size());
            return;
        }
        for (int i = 0; i < expected.size(); i++) {
            float[] e = expected.get(i);
            float[] a = actual.get(i);
            if (!Arrays.equals(e, a)) {
                int at = Arrays.mismatch(e, a);
                differences.add(where + ", tensor " + i + " differs at [" + at + "]: "
                        + (at < a.length ? a[at] : "end") + ", expected " + (at < e.length ? e[at] : "end"));
            }
        }
    }
}
