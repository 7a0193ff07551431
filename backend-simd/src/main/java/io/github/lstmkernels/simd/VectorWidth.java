package io.github.lstmkernels.simd;

import io.github.lstmkernels.LstmProperties;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector species every simd kernel of this JVM uses, fixed at class initialisation: the Vector
 * API compiles to SIMD instructions only when the species is a constant. {@code lstm.simd.bits}
 * forces a narrower one (128 or 256), so the AVX2-width and NEON-width code paths can be tested on
 * an AVX-512 machine. Also what else the JVM and the CPU report that simd's code depends on: the
 * vector registers a tile may use, and whether C2 would run the Vector API as SIMD instructions at all.
 */
final class VectorWidth {
    static final VectorSpecies<Float> SPECIES = choose();
    /**
     * Vector registers C2 allocates from, which bound a register tile: 32 with AVX-512 (EVEX) and
     * on AArch64 (NEON, SVE); 16 on x86 without AVX-512 (AVX2 and older). A property of the CPU and
     * the JVM's flags ({@code -XX:UseAVX=2} gives 16 on any x86), not of {@code lstm.simd.bits}.
     */
    static final int REGISTERS = registers(System.getProperty("os.arch", ""),
            FloatVector.SPECIES_PREFERRED.vectorBitSize(), vmOption("UseAVX"));

    private VectorWidth() {
    }

    private static VectorSpecies<Float> choose() {
        String bits = System.getProperty(LstmProperties.SIMD_BITS);
        if (bits == null || bits.isBlank()) {
            return FloatVector.SPECIES_PREFERRED;
        }
        VectorSpecies<Float> forced = switch (bits.trim()) {
            case "64" -> FloatVector.SPECIES_64;
            case "128" -> FloatVector.SPECIES_128;
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            default -> throw new IllegalArgumentException(LstmProperties.SIMD_BITS + " must be 64, 128, 256 or 512, got '" + bits + "'");
        };
        if (forced.vectorBitSize() > FloatVector.SPECIES_PREFERRED.vectorBitSize()) {
            throw new IllegalArgumentException(LstmProperties.SIMD_BITS + "=" + bits + " is wider than this CPU's "
                    + FloatVector.SPECIES_PREFERRED.vectorBitSize() + "-bit vectors");
        }
        return forced;
    }

    /**
     * {@link #REGISTERS} from the architecture, the preferred vector width and the JVM's
     * {@code UseAVX} (null if unknown). On x86, EVEX encoding ({@code UseAVX} 3, AVX-512) gives C2
     * 32 registers at every width: an AVX-512 CPU running 256-bit vectors
     * ({@code -XX:MaxVectorSize=32}, a common way to avoid AVX-512 clock drops) keeps the full-panel
     * tiles, which there were 14–15 % faster than the half-panel ones (shapes a and d, one thread, on
     * a Zen 4). Otherwise ({@code UseAVX} below 3, or unknown) vectors narrower than 512 bits mean 16.
     */
    static int registers(String arch, int preferredBits, String useAvx) {
        if (!isX86(arch) || preferredBits >= 512) {
            return 32;
        }
        return evex(useAvx) ? 32 : 16;
    }

    /** E.g. "512-bit vectors (16 floats, preferred), 32 vector registers, FMA: true". */
    static String describe() {
        VectorSpecies<Float> s = SPECIES;
        boolean preferred = s.equals(FloatVector.SPECIES_PREFERRED);
        return s.vectorBitSize() + "-bit vectors (" + s.length() + " floats, "
                + (preferred ? "preferred" : "forced by " + LstmProperties.SIMD_BITS) + "), " + REGISTERS
                + " vector registers, FMA: " + fmaFlag();
    }

    /** {@link #narrowerThanTheCpu} for this JVM and CPU. */
    static String narrowerThanTheCpu() {
        return narrowerThanTheCpu(System.getProperty("os.arch", ""), vmOption("UseAVX"), cpuFlags());
    }

    /**
     * A note for the log when the CPU has AVX-512 but the JVM was told, or chose, not to use it
     * ({@code UseAVX} below 3; the JDK's default on Skylake and Cascade Lake Xeons, for their AVX-512
     * clock drops), else "". oneDNN uses AVX-512 there regardless; simd can only use what C2 may.
     * {@code cpuFlags} is the "flags" line of /proc/cpuinfo, or null where there is none.
     */
    static String narrowerThanTheCpu(String arch, String useAvx, String cpuFlags) {
        if (!isX86(arch) || useAvx == null || cpuFlags == null || evex(useAvx)
                || !(" " + cpuFlags + " ").contains(" avx512f ")) {
            return "";
        }
        return "; this CPU has AVX-512 but the JVM runs UseAVX=" + useAvx.trim()
                + ": -XX:UseAVX=3 would give simd 512-bit vectors and 32 registers";
    }

    /** The first "flags" line of /proc/cpuinfo (Linux), or null. */
    private static String cpuFlags() {
        try (var lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            return lines.filter(l -> l.startsWith("flags")).findFirst().map(l -> l.substring(l.indexOf(':') + 1))
                    .orElse(null);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static String fmaFlag() {
        String value = vmOption("UseFMA");
        return value == null ? "unknown" : value;
    }

    /**
     * Why the Vector API would not run as SIMD instructions on this JVM, or null when nothing says
     * so. Only C2 turns {@code FloatVector} operations into vector instructions; without it every
     * operation allocates its result (shape a, one thread, on a Zen 4: 176 ms a call under C1, against
     * 18 ms for the scalar backend under C1 and 0.75 ms for simd under C2). Without hardware FMA
     * ({@code UseFMA} false: a CPU or virtual CPU without FMA3, or {@code -XX:UseAVX=0}), C2 leaves
     * {@code fma} to a lane-by-lane software fallback: the same layer did not finish 40 calls in two
     * minutes. Flags this JVM does not have, or cannot report, are taken as no objection.
     */
    static String slowVectorReason() {
        return slowVectorReason(VectorWidth::vmOption);
    }

    /** {@link #slowVectorReason()} from the VM options {@code option} reports (null: unknown). */
    static String slowVectorReason(Function<String, String> option) {
        if ("false".equals(option.apply("UseCompiler"))) {
            return "this JVM does not compile (-Xint or -XX:TieredStopAtLevel=0), so the Vector API would run"
                    + " interpreted, far slower than the scalar backend";
        }
        String stopLevel = option.apply("TieredStopAtLevel");
        String c1Only = "quick-only".equals(option.apply("CompilationMode")) ? "-XX:CompilationMode=quick-only"
                : "true".equals(option.apply("TieredCompilation")) && stopLevel != null && !stopLevel.equals("4")
                ? "-XX:TieredStopAtLevel=" + stopLevel : null;
        if (c1Only != null) {
            return "C2 is off (" + c1Only + "), and only C2 compiles the Vector API into SIMD instructions: it"
                    + " would run slower than the scalar backend";
        }
        if ("false".equals(option.apply("UseFMA"))) {
            return "no hardware FMA (UseFMA is false: a CPU without FMA3, or -XX:UseAVX=0), so every vector fma"
                    + " would be computed lane by lane in software, far slower than the scalar backend";
        }
        return null;
    }

    /** Whether {@code UseAVX} (null if unknown) is 3 or more: AVX-512's EVEX encoding, 32 vector registers. */
    private static boolean evex(String useAvx) {
        return useAvx != null && useAvx.trim().matches("[3-9]");
    }

    private static boolean isX86(String arch) {
        return arch.equals("amd64") || arch.equals("x86_64") || arch.equals("x86") || arch.equals("i386");
    }

    /** A HotSpot VM option's value, or null when this JVM has no such option or cannot report it. */
    private static String vmOption(String name) {
        try {
            var bean = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            return bean == null ? null : bean.getVMOption(name).getValue();
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }
}
