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

    /** E.g. "512-bit vectors (16 floats, preferred), FMA: true". */
    static String describe() {
        VectorSpecies<Float> s = SPECIES;
        boolean preferred = s.equals(FloatVector.SPECIES_PREFERRED);
        return s.vectorBitSize() + "-bit vectors (" + s.length() + " floats, "
                + (preferred ? "preferred" : "forced by " + LstmProperties.SIMD_BITS) + "), FMA: " + fmaFlag();
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
