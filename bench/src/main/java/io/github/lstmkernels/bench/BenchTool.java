package io.github.lstmkernels.bench;

import io.github.lstmkernels.BackendUnavailableException;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Unmatched;

/**
 * The command-line tool: {@code ./lstm-kernels <command>} (the launcher at the repository root), or
 * {@code ./mvnw -q -pl bench -am package -DskipTests exec:exec -Dbench.args="<command> ..."}.
 * Without a command it runs {@code compare}, the main job. Errors are one line on stderr with exit
 * code 1 (a failure) or 2 (a wrong command line); no stack traces.
 */
@Command(name = "lstm-kernels", mixinStandardHelpOptions = true, version = "lstm-kernels 0.1.0-SNAPSHOT",
        description = "LSTM/GRU kernels for the JVM: benchmarks, conformance checks, and running PyTorch models.",
        subcommands = {BenchTool.CompareCommand.class, BenchTool.ChartCommand.class, BenchTool.ExampleCommand.class,
                BenchTool.VerifyCommand.class, BenchTool.LeakCheckCommand.class, BenchTool.TrainCommand.class, BenchTool.JmhCommand.class,
                RunCommand.class, CommandLine.HelpCommand.class},
        footer = {"", "Run 'lstm-kernels <command> --help' for a command's options. Without a command: compare."})
public final class BenchTool implements Callable<Integer> {
    /** Exit code of a wrong command line (an unknown flag, a missing or malformed value). */
    static final int USAGE = 2;
    /** Exit code of a failure: a file refused, a check that failed, an unavailable backend. */
    static final int FAILED = 1;

    public static void main(String[] args) {
        System.exit(execute(args, System.out, System.err));
    }

    /** Runs the tool with these streams and returns its exit code (what {@link #main} exits with). */
    static int execute(String[] args, PrintStream out, PrintStream err) {
        CommandLine cli = new CommandLine(new BenchTool());
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        cli.getSubcommands().get("jmh").setUnmatchedOptionsArePositionalParams(true);
        cli.setUsageHelpWidth(100);
        cli.setParameterExceptionHandler((e, arguments) -> {
            CommandLine at = e.getCommandLine();
            String command = at.getCommandSpec().qualifiedName();
            // A misspelt flag explains a "missing" option: say that first.
            List<String> unknown = at.getUnmatchedArguments();
            String message = !unknown.isEmpty() && !(e instanceof CommandLine.UnmatchedArgumentException)
                    ? (unknown.size() == 1 ? "Unknown option or argument: '" : "Unknown options or arguments: '")
                            + String.join("', '", unknown) + "'"
                    : e.getMessage().replaceFirst("^Error: ", "");
            if (at.getCommandSpec().parent() == null && !unknown.isEmpty() && !unknown.getFirst().startsWith("-")) {
                message = "unknown command '" + unknown.getFirst() + "'; the commands are "
                        + String.join(", ", at.getSubcommands().keySet());
            }
            err.println("error: " + message + " (see '" + command + " --help')");
            return USAGE;
        });
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            err.println("error: " + describe(e));
            return FAILED;
        });
        return cli.execute(args);
    }

    /** One line for any failure: the message of what users cause, the type too for what they should report. */
    static String describe(Throwable e) {
        if (e instanceof UncheckedIOException u) {
            e = u.getCause();
        }
        if (e instanceof NoSuchFileException f) {
            return "no such file: " + f.getFile();
        }
        if (e instanceof AccessDeniedException f) {
            return "permission denied: " + f.getFile();
        }
        String message = e.getMessage() == null ? "" : e.getMessage().replace('\n', ' ');
        if (e instanceof IllegalArgumentException || e instanceof IOException || e instanceof BackendUnavailableException
                || e instanceof IllegalStateException) {
            return message.isEmpty() ? e.getClass().getSimpleName() : message;
        }
        return e.getClass().getName() + (message.isEmpty() ? "" : ": " + message);
    }

    /** The repository root the launcher runs from (LSTM_KERNELS_HOME), or the working directory; default paths are under it. */
    static Path home() {
        String home = System.getenv("LSTM_KERNELS_HOME");
        return home == null || home.isBlank() ? Path.of("") : Path.of(home);
    }

    @Override
    public Integer call() throws Exception {
        // No command: the main job, as the README's Maven line has always run it.
        return Compare.run(new ArrayList<>(List.of("--out", home().resolve("results").toString())), System.out);
    }

    /** The value after {@code flag} in {@code args} (removed from it), or {@code fallback}. */
    static String option(List<String> args, String flag, String fallback) {
        int i = args.indexOf(flag);
        if (i < 0) {
            return fallback;
        }
        if (i + 1 >= args.size()) {
            throw new IllegalArgumentException(flag + " needs a value");
        }
        String value = args.get(i + 1);
        args.subList(i, i + 2).clear();
        return value;
    }

    /**
     * The commands below hand their options to the classes that implement them, as those read them.
     * Options they do not declare are passed on too, so an option added there works at once; a wrong
     * one is refused there, in one line.
     */
    private abstract static class PassThrough implements Callable<Integer> {
        @Unmatched
        List<String> rest = new ArrayList<>();

        final List<String> args = new ArrayList<>();

        void pass(String flag, Object value) {
            if (value != null) {
                args.add(flag);
                args.add(String.valueOf(value));
            }
        }

        List<String> all() {
            List<String> all = new ArrayList<>(args);
            all.addAll(rest);
            return all;
        }
    }

    @Command(name = "compare", mixinStandardHelpOptions = true,
            description = {"Every backend on the DESIGN.md shapes with JMH: a table, results/compare-<date>.json and an SVG chart.",
                    "Takes minutes; the machine should be otherwise idle."})
    static final class CompareCommand extends PassThrough {
        @Option(names = "--backends", paramLabel = "LIST", description = "Comma-separated backends (default: every available one).")
        String backends;
        @Option(names = "--shapes", paramLabel = "LIST", description = "Comma-separated shape ids of DESIGN.md section 9 (default: every shape).")
        String shapes;
        @Option(names = "--modes", paramLabel = "LIST", description = "sequence, step or both (default: sequence,step).")
        String modes;
        @Option(names = "--threads", paramLabel = "1|all", description = "Threads of every backend (lstm.onednn.threads, lstm.simd.threads): 1, or every available processor (default: 1).")
        String threads;
        @Option(names = "--forks", paramLabel = "N", description = "JVMs per backend, shape and mode, the backends' forks alternating; the figure is the lowest of the forks' medians (default: 2).")
        Integer forks;
        @Option(names = "--iterations", paramLabel = "N", description = "JMH measurement iterations per fork (default: 4).")
        Integer iterations;
        @Option(names = "--out", paramLabel = "DIR", description = "Where results go (default: results).")
        Path out;

        @Override
        public Integer call() throws Exception {
            pass("--backends", backends);
            pass("--shapes", shapes);
            pass("--modes", modes);
            pass("--threads", threads);
            pass("--forks", forks);
            pass("--iterations", iterations);
            pass("--out", out != null ? out : home().resolve("results"));
            return Compare.run(all(), System.out);
        }
    }

    @Command(name = "chart", mixinStandardHelpOptions = true, description = "Re-draws the chart of an earlier compare run (no measurement).")
    static final class ChartCommand implements Callable<Integer> {
        @Option(names = "--from", paramLabel = "JSON", description = "A compare results file (default: results/compare-latest.json).")
        Path from;
        @Option(names = "--to", paramLabel = "SVG", description = "The chart to write (default: the JSON's name with .svg).")
        Path to;

        @Override
        public Integer call() throws Exception {
            List<String> args = new ArrayList<>(List.of("--from", (from != null ? from : home().resolve("results/compare-latest.json")).toString()));
            if (to != null) {
                args.addAll(List.of("--to", to.toString()));
            }
            return Compare.chart(args, System.out);
        }
    }

    @Command(name = "example", mixinStandardHelpOptions = true,
            description = "The PyTorch twins of the README (a stacked batch-first LSTM, a bidirectional LSTM with lengths), checked against their golden cases.")
    static final class ExampleCommand implements Callable<Integer> {
        @Option(names = "--golden", paramLabel = "DIR", description = "The golden case set (default: golden).")
        Path golden;

        @Override
        public Integer call() {
            return PyTorchTwinExample.run(golden != null ? golden : home().resolve("golden"), System.out) ? 0 : FAILED;
        }
    }

    @Command(name = "verify", mixinStandardHelpOptions = true,
            description = "Every golden case on one or all backends, one JSON line per (case, backend); exit 1 if any fails.")
    static final class VerifyCommand extends PassThrough {
        @Option(names = "--golden", paramLabel = "DIR", description = "A case set in golden/FORMAT.md's format (default: golden).")
        Path golden;
        @Option(names = "--backend", paramLabel = "NAME", description = "One backend (default: every available one).")
        String backend;
        @Option(names = "--write-outputs", paramLabel = "DIR", description = "Also write each backend's outputs there.")
        Path writeOutputs;

        @Override
        public Integer call() throws Exception {
            pass("--golden", golden != null ? golden : home().resolve("golden"));
            pass("--backend", backend);
            pass("--write-outputs", writeOutputs);
            return GoldenVerify.run(all(), System.out);
        }
    }

    @Command(name = "leakcheck", mixinStandardHelpOptions = true,
            description = "Prepare/close cycles and calls on one backend; resident memory must stay flat.")
    static final class LeakCheckCommand implements Callable<Integer> {
        @Option(names = "--backend", paramLabel = "NAME", description = "The backend (default: onednn).")
        String backend;
        @Option(names = "--cycles", paramLabel = "N", description = "prepare/close cycles (default: 10000).")
        Integer cycles;
        @Option(names = "--calls", paramLabel = "N", description = "calls on one kernel (default: 100000).")
        Integer calls;
        @Option(names = "--max-growth-mb", paramLabel = "MB", description = "Allowed growth of resident memory (default: 16).")
        Double maxGrowthMb;

        @Override
        public Integer call() throws Exception {
            return io.github.lstmkernels.testkit.LeakCheck.run(backend != null ? backend : "onednn",
                    cycles != null ? cycles : 10_000, calls != null ? calls : 100_000,
                    maxGrowthMb != null ? maxGrowthMb : 16, System.out);
        }
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = {"The training example: a 2-layer LSTM with a read-out learns a noisy sine (Adam).",
                    "Prints the loss every 10 epochs; exit 1 if it did not fall below 0.03."})
    static final class TrainCommand implements Callable<Integer> {
        @Option(names = "--backend", paramLabel = "NAME",
                description = "The backend (default: the best available one with a backward pass).")
        String backend;
        @Option(names = "--epochs", paramLabel = "N", description = "Epochs, one batch each (default: 200).")
        int epochs = 200;
        @Option(names = "--seed", paramLabel = "N", description = "Seed of the weights and data (default: 7).")
        long seed = 7;

        @Override
        public Integer call() {
            // Without a name: the best available backend that has a backward pass.
            io.github.lstmkernels.spi.LstmBackend chosen = backend != null ? io.github.lstmkernels.LstmKernels.backend(backend)
                    : io.github.lstmkernels.LstmKernels.backends().stream()
                            .filter(io.github.lstmkernels.BackendStatus::available)
                            .map(status -> io.github.lstmkernels.LstmKernels.backend(status.name()))
                            .filter(b -> b.features().contains(io.github.lstmkernels.Feature.BACKWARD))
                            .findFirst().orElseThrow(() -> new IllegalArgumentException("no available backend has a backward pass"));
            System.out.println("training on " + chosen.name() + ": LSTM(1, " + io.github.lstmkernels.testkit.TrainingExample.HIDDEN
                    + ", num_layers=2) + linear read-out, Adam, " + epochs + " epochs");
            double[] losses = io.github.lstmkernels.testkit.TrainingExample.train(chosen, epochs, seed, System.out);
            return losses[losses.length - 1] < 0.03 ? 0 : FAILED;
        }
    }

    @Command(name = "jmh", description = {"JMH's own command line over the bench module's benchmarks.",
            "For example: jmh LstmBenchmark -p backend=simd -p shape=a -prof gc", "'jmh -h' shows JMH's own options."})
    static final class JmhCommand implements Callable<Integer> {
        @Option(names = "--help", usageHelp = true, description = "Show this help (JMH's own: -h).")
        boolean help;
        // Options JMH knows and this command does not arrive here in order (see execute()).
        @Parameters(paramLabel = "JMH-ARGS", description = "Passed to JMH unchanged.")
        List<String> jmhArgs = new ArrayList<>();

        @Override
        public Integer call() throws Exception {
            org.openjdk.jmh.Main.main(jmhArgs.toArray(String[]::new));
            return 0;
        }
    }
}
