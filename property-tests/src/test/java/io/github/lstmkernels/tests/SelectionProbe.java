package io.github.lstmkernels.tests;

import io.github.lstmkernels.BackendUnavailableException;
import io.github.lstmkernels.LstmKernels;

/** Run in a child JVM by {@link BackendSelectionTest}: prints the default backend, exit 3 if none. */
public final class SelectionProbe {
    private SelectionProbe() {
    }

    public static void main(String[] args) {
        try {
            System.out.println("selected=" + LstmKernels.defaultBackend().name());
        } catch (ExceptionInInitializerError e) {
            System.out.println(e.getCause());
            System.exit(e.getCause() instanceof BackendUnavailableException ? 3 : 4);
        } catch (BackendUnavailableException e) {
            System.out.println(e);
            System.exit(3);
        }
    }
}
