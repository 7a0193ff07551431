package io.github.lstmkernels.simd;

import io.github.lstmkernels.LstmProperties;
import java.lang.management.ManagementFactory;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector species every simd kernel of this JVM uses, fixed at class initialisation: the Vector
 * API compiles to SIMD instructions only when the species is a constant. {@code lstm.simd.bits}
 * forces a narrower one (128 or 256), so the AVX2-width and NEON-width code paths can be tested on
 * an AVX-512 machine.
 */
final class VectorWidth {
    static final VectorSpecies<Float> SPECIES = choose();
    /**
     * Vector registers C2 allocates from, which bound a register tile: 32 with AVX-512 (EVEX) and
     * on AArch64 (NEON, SVE); 16 on x86 without AVX-512 (AVX2 and older), where the JVM's preferred
     * vectors are narrower than 512 bits. A property of the CPU and the JVM's flags
     * ({@code -XX:UseAVX=2} gives 16 on any x86), not of {@code lstm.simd.bits}.
     */
    static final int REGISTERS = registers();

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

    private static int registers() {
        String arch = System.getProperty("os.arch", "");
        boolean x86 = arch.equals("amd64") || arch.equals("x86_64") || arch.equals("x86") || arch.equals("i386");
        return x86 && FloatVector.SPECIES_PREFERRED.vectorBitSize() < 512 ? 16 : 32;
    }

    /** E.g. "512-bit vectors (16 floats, preferred), 32 vector registers, FMA: true". */
    static String describe() {
        VectorSpecies<Float> s = SPECIES;
        boolean preferred = s.equals(FloatVector.SPECIES_PREFERRED);
        return s.vectorBitSize() + "-bit vectors (" + s.length() + " floats, "
                + (preferred ? "preferred" : "forced by " + LstmProperties.SIMD_BITS) + "), " + REGISTERS
                + " vector registers, FMA: " + fmaFlag();
    }

    private static String fmaFlag() {
        try {
            var bean = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            return bean == null ? "unknown" : bean.getVMOption("UseFMA").getValue();
        } catch (RuntimeException | LinkageError e) {
            return "unknown";
        }
    }
}
