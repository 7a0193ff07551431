package io.github.lstmkernels.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link VectorWidth#registers} and {@link VectorWidth#slowVectorReason} on the VM options of the JVMs it must tell apart (the values
 * as HotSpot 25 reports them for those command lines; a child JVM per flag is run by the
 * property tests' {@code BackendSelectionTest}).
 */
class VectorWidthTest {

    /** The options of a plain {@code java} on an FMA-capable x86 or AArch64 CPU. */
    private static Map<String, String> defaults() {
        Map<String, String> options = new HashMap<>();
        options.put("UseCompiler", "true");
        options.put("TieredCompilation", "true");
        options.put("TieredStopAtLevel", "4");
        options.put("CompilationMode", "default");
        options.put("UseFMA", "true");
        return options;
    }

    private static Map<String, String> with(String option, String value) {
        Map<String, String> options = defaults();
        options.put(option, value);
        return options;
    }

    private static String reason(Map<String, String> options) {
        return VectorWidth.slowVectorReason(options::get);
    }

    @Test
    void aDefaultJvmHasNoObjection() {
        assertNull(reason(defaults()));
        // C2 alone (-XX:-TieredCompilation) ignores TieredStopAtLevel; an unknown option is no objection.
        Map<String, String> c2Only = with("TieredCompilation", "false");
        c2Only.put("TieredStopAtLevel", "1");
        assertNull(reason(c2Only));
        assertNull(reason(Map.of()));
        assertNull(reason(with("CompilationMode", "high-only")));
    }

    @Test
    void c1AloneIsAnObjectionThatNamesTheFlag() {
        for (String level : new String[] {"1", "2", "3"}) {
            String why = reason(with("TieredStopAtLevel", level));
            assertTrue(why != null && why.contains("C2 is off") && why.contains("TieredStopAtLevel=" + level), why);
        }
        String quick = reason(with("CompilationMode", "quick-only"));
        assertTrue(quick != null && quick.contains("C2 is off (-XX:CompilationMode=quick-only)"), quick);
    }

    @Test
    void noJitOrNoFmaIsAnObjection() {
        // -Xint and -XX:TieredStopAtLevel=0 both report UseCompiler=false.
        String interpreted = reason(with("UseCompiler", "false"));
        assertTrue(interpreted != null && interpreted.contains("does not compile"), interpreted);
        String noFma = reason(with("UseFMA", "false"));
        assertTrue(noFma != null && noFma.contains("no hardware FMA"), noFma);
    }

    @Test
    void registersFollowEvexNotTheVectorWidth() {
        // AVX-512 at its own width, and at 256 or 128 bits (-XX:MaxVectorSize=32 or 16): EVEX, 32.
        assertEquals(32, VectorWidth.registers("amd64", 512, "3"));
        assertEquals(32, VectorWidth.registers("amd64", 256, "3"));
        assertEquals(32, VectorWidth.registers("amd64", 128, "3"));
        // AVX2, AVX, SSE (-XX:UseAVX=2, 1, 0), or a JVM that cannot report UseAVX: 16.
        assertEquals(16, VectorWidth.registers("amd64", 256, "2"));
        assertEquals(16, VectorWidth.registers("x86_64", 256, "1"));
        assertEquals(16, VectorWidth.registers("amd64", 128, "0"));
        assertEquals(16, VectorWidth.registers("amd64", 256, null));
        // AArch64 has 32 vector registers whatever the width (NEON 128 bits, SVE wider).
        assertEquals(32, VectorWidth.registers("aarch64", 128, null));
        assertEquals(32, VectorWidth.registers("aarch64", 512, null));
    }

    @Test
    void anAvx512CpuRunWithNarrowerVectorsIsPointedOut() {
        String flags = "fpu sse2 avx avx2 fma avx512f avx512dq avx512vl";
        String hint = VectorWidth.narrowerThanTheCpu("amd64", "2", flags);
        assertTrue(hint.contains("AVX-512") && hint.contains("UseAVX=2") && hint.contains("-XX:UseAVX=3"), hint);
        assertEquals("", VectorWidth.narrowerThanTheCpu("amd64", "3", flags));
        assertEquals("", VectorWidth.narrowerThanTheCpu("amd64", "2", "fpu sse2 avx avx2 fma"));
        assertEquals("", VectorWidth.narrowerThanTheCpu("amd64", "2", "fpu avx512fx"));
        assertEquals("", VectorWidth.narrowerThanTheCpu("amd64", "2", null));
        assertEquals("", VectorWidth.narrowerThanTheCpu("amd64", null, flags));
        assertEquals("", VectorWidth.narrowerThanTheCpu("aarch64", "2", flags));
    }
}
