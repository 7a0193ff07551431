package io.github.lstmkernels.scalar;

import io.github.lstmkernels.Feature;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.Availability;
import io.github.lstmkernels.spi.LstmBackend;
import java.util.EnumSet;
import java.util.Set;

/** The plain-Java reference backend: always available, lowest priority. */
public final class ScalarBackend implements LstmBackend {
    public static final String NAME = "scalar";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return 10;
    }

    @Override
    public Availability availability() {
        return Availability.available("plain Java loops, runs everywhere");
    }

    @Override
    public Set<Feature> features() {
        return EnumSet.allOf(Feature.class);
    }

    @Override
    public LstmKernel createKernel(LstmConfig config, LstmWeights weights) {
        return new ScalarLstmKernel(config, weights);
    }
}
