package io.github.lstmkernels.onednn;

import io.github.lstmkernels.LstmProperties;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.net.URL;
import java.net.URLConnection;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Locale;
import java.util.Optional;

/**
 * Finds and loads oneDNN once per JVM: the file named by {@code lstm.onednn.library}, or else the
 * {@code libdnnl.so.3} and {@code libgomp.so.1} shipped in the {@code org.bytedeco:dnnl} jar on the
 * class path, extracted into a private temporary folder. Any failure is kept as the reason the
 * backend is unavailable, with the path tried.
 */
@SuppressWarnings("restricted")
final class OneDnnLibrary {
    static final String ARTIFACT_VERSION = "3.13-1.5.14";
    private static final String RESOURCE_DIR = "org/bytedeco/dnnl/linux-x86_64/";
    private static final String DNNL_FILE = "libdnnl.so.3";
    /** libdnnl's RUNPATH is $ORIGIN: the OpenMP runtime must sit beside it under this exact name. */
    private static final String OPENMP_FILE = "libgomp.so.1";

    /** The loaded library, or why it could not be loaded. */
    record Loaded(Dnnl dnnl, MemorySegment engine, String description, String failure) {
        boolean ok() {
            return failure == null;
        }
    }

    private static final Loaded LOADED = load();

    private OneDnnLibrary() {
    }

    static Loaded get() {
        return LOADED;
    }

    private static Loaded load() {
        String override = System.getProperty(LstmProperties.ONEDNN_LIBRARY);
        Path library;
        try {
            library = override != null && !override.isBlank() ? Path.of(override) : extractBundled();
        } catch (IOException | RuntimeException e) {
            return failed("could not extract oneDNN from the " + artifact() + " jar: " + e);
        }
        if (!Files.isRegularFile(library)) {
            return failed("no oneDNN library at " + library.toAbsolutePath()
                    + (override != null ? " (from " + LstmProperties.ONEDNN_LIBRARY + ")" : ""));
        }
        try {
            SymbolLookup dnnlSymbols = SymbolLookup.libraryLookup(library, Arena.global());
            Optional<SymbolLookup> openMp = openMp(library);
            Dnnl dnnl = new Dnnl(dnnlSymbols, openMp);
            int[] v = dnnl.version();
            if (v[0] != 3) {
                return failed(library + " is oneDNN " + v[0] + "." + v[1] + "." + v[2] + "; this backend needs 3.x");
            }
            MemorySegment engine = dnnl.engineCreate(Arena.global());
            String runtime = switch (v[3]) {
                case 1 -> "sequential";
                case 2 -> "OpenMP";
                case 4 -> "TBB";
                case 8 -> "threadpool";
                default -> "runtime " + v[3];
            };
            String description = "oneDNN " + v[0] + "." + v[1] + "." + v[2] + " (" + runtime + ") from " + library;
            System.getLogger(OneDnnLibrary.class.getName()).log(System.Logger.Level.INFO, "lstm-kernels onednn: loaded {0}",
                    description);
            return new Loaded(dnnl, engine, description, null);
        } catch (IllegalArgumentException | UnsatisfiedLinkError | IllegalStateException | DnnlException e) {
            return failed("could not load " + library.toAbsolutePath() + ": " + e.getMessage());
        } catch (IllegalCallerException e) {
            return failed("native access is disabled: add --enable-native-access=ALL-UNNAMED (" + e.getMessage() + ")");
        }
    }

    private static Optional<SymbolLookup> openMp(Path library) {
        // dlopen of an already loaded soname returns the same library, so thread counts set here reach oneDNN.
        Path beside = library.resolveSibling(OPENMP_FILE);
        try {
            return Optional.of(Files.isRegularFile(beside) ? SymbolLookup.libraryLookup(beside, Arena.global())
                    : SymbolLookup.libraryLookup(OPENMP_FILE, Arena.global()));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    private static Loaded failed(String reason) {
        return new Loaded(null, null, null, reason);
    }

    private static String artifact() {
        return "org.bytedeco:dnnl:" + ARTIFACT_VERSION + ":linux-x86_64";
    }

    /**
     * Copies the two files out of the jar into {@code <tmp>/lstm-kernels-<user>/onednn-<version>/},
     * once: a file already there with the right size is reused. Each file is written under a
     * temporary name and renamed atomically, so concurrent JVMs never see a half-written library.
     */
    private static Path extractBundled() throws IOException {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new IOException("the bundled oneDNN is for linux-x86_64, this is " + os + "/" + arch
                    + "; point " + LstmProperties.ONEDNN_LIBRARY + " at a libdnnl.so");
        }
        URL dnnl = resource(DNNL_FILE);
        URL openMp = resource(OPENMP_FILE);
        Path dir = privateDirectory();
        copyOnce(openMp, dir.resolve(OPENMP_FILE));
        return copyOnce(dnnl, dir.resolve(DNNL_FILE));
    }

    private static URL resource(String file) throws IOException {
        URL url = OneDnnLibrary.class.getClassLoader().getResource(RESOURCE_DIR + file);
        if (url == null) {
            throw new IOException(RESOURCE_DIR + file + " is not on the class path (is the " + artifact()
                    + " jar there?)");
        }
        return url;
    }

    private static Path privateDirectory() throws IOException {
        String userName = System.getProperty("user.name", "user");
        String user = userName.replaceAll("[^A-Za-z0-9_.-]", "_");
        Path base = Path.of(System.getProperty("java.io.tmpdir"), "lstm-kernels-" + user);
        Path dir = base.resolve("onednn-" + ARTIFACT_VERSION);
        for (Path p : new Path[] {base, dir}) {
            try {
                Files.createDirectory(p, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            } catch (FileAlreadyExistsException e) {
                if (!Files.isDirectory(p) || !Files.isWritable(p) || !Files.getOwner(p).getName().equals(userName)) {
                    // Not ours to trust: use a fresh private folder for this JVM only.
                    return Files.createTempDirectory("lstm-kernels-onednn-");
                }
            }
        }
        return dir;
    }

    private static Path copyOnce(URL source, Path target) throws IOException {
        URLConnection connection = source.openConnection();
        long size = connection.getContentLengthLong();
        if (Files.isRegularFile(target) && size >= 0 && Files.size(target) == size) {
            return target;
        }
        Path partial = Files.createTempFile(target.getParent(), target.getFileName() + ".", ".part");
        try (InputStream in = connection.getInputStream()) {
            Files.copy(in, partial, StandardCopyOption.REPLACE_EXISTING);
            try {
                Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(partial);
        }
        return target;
    }
}
