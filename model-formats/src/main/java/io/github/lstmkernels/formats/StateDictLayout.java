package io.github.lstmkernels.formats;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Infers the configuration of an {@code nn.LSTM}/{@code nn.GRU} from its {@code state_dict}'s names and shapes. */
final class StateDictLayout {
    private static final Pattern NAME = Pattern.compile("(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\\d{1,4})(_reverse)?");

    private StateDictLayout() {
    }

    /**
     * The configuration whose {@link LstmWeights#tensorShapes} are exactly {@code shapes}.
     *
     * @param shapes the tensors' shapes under their PyTorch names (prefix removed)
     * @param prefix put back in front of names in messages, so that they name the file's tensors
     * @throws IllegalArgumentException naming an unexpected, missing or wrongly shaped tensor
     */
    static LstmConfig infer(Map<String, long[]> shapes, String prefix) {
        int layers = 0;
        boolean reverse = false;
        for (String name : shapes.keySet()) {
            Matcher m = NAME.matcher(name);
            if (!m.matches()) {
                throw new IllegalArgumentException("unexpected tensor '" + Json.shorten(prefix + name) + "': a recurrent layer has only "
                        + "weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, weight_hr_l{k} (and their _reverse twins)");
            }
            layers = Math.max(layers, Integer.parseInt(m.group(2)) + 1);
            reverse |= m.group(3) != null;
        }
        long[] hh = matrix(shapes, prefix, "weight_hh_l0");
        long[] ih = matrix(shapes, prefix, "weight_ih_l0");
        long[] hr = shapes.containsKey("weight_hr_l0") ? matrix(shapes, prefix, "weight_hr_l0") : null;
        CellType cell;
        long hidden;
        long projection = 0;
        if (hr != null) {
            // weight_hr [P, H]: the hidden size comes from it, and only an LSTM has one.
            projection = hr[0];
            hidden = hr[1];
            cell = CellType.LSTM;
            if (hh[0] != 4 * hidden) {
                throw new IllegalArgumentException("tensor '" + prefix + "weight_hh_l0' " + Arrays.toString(hh)
                        + ": with weight_hr_l0 " + Arrays.toString(hr) + " (an LSTM with hidden size " + hidden
                        + ") it needs " + 4 * hidden + " rows");
            }
        } else {
            hidden = hh[1];
            if (hidden > 0 && hh[0] == 4 * hidden) {
                cell = CellType.LSTM;
            } else if (hidden > 0 && hh[0] == 3 * hidden) {
                cell = CellType.GRU;
            } else {
                throw new IllegalArgumentException("tensor '" + prefix + "weight_hh_l0' " + Arrays.toString(hh)
                        + ": its rows are neither 4 (LSTM) nor 3 (GRU) times its columns (the hidden size)");
            }
        }
        LstmConfig config;
        try {
            config = LstmConfig.builder(toInt(ih[1]), toInt(hidden)).cell(cell).numLayers(layers)
                    .bias(shapes.containsKey("bias_ih_l0")).bidirectional(reverse).projectionSize(toInt(projection)).build();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("tensors under '" + prefix + "' give no valid layer: " + e.getMessage(), e);
        }
        Map<String, int[]> expected = LstmWeights.tensorShapes(config);
        for (Map.Entry<String, int[]> e : expected.entrySet()) {
            long[] actual = shapes.get(e.getKey());
            if (actual == null) {
                throw new IllegalArgumentException("missing tensor '" + prefix + e.getKey() + "' " + Arrays.toString(e.getValue())
                        + " of " + config);
            }
            if (!Arrays.equals(actual, Arrays.stream(e.getValue()).asLongStream().toArray())) {
                throw new IllegalArgumentException("tensor '" + prefix + e.getKey() + "' has shape " + Arrays.toString(actual)
                        + ", but " + config + " needs " + Arrays.toString(e.getValue()));
            }
        }
        TreeSet<String> extra = new TreeSet<>(shapes.keySet());
        extra.removeAll(expected.keySet());
        if (!extra.isEmpty()) {
            throw new IllegalArgumentException("unexpected tensor '" + prefix + extra.first() + "' for " + config
                    + " (inferred from weight_ih_l0, weight_hh_l0" + (hr != null ? ", weight_hr_l0" : "")
                    + (config.bias() ? ", bias_ih_l0" : "") + " and the highest layer index)");
        }
        return config;
    }

    private static long[] matrix(Map<String, long[]> shapes, String prefix, String name) {
        long[] shape = shapes.get(name);
        if (shape == null) {
            throw new IllegalArgumentException("missing tensor '" + prefix + name + "'");
        }
        if (shape.length != 2) {
            throw new IllegalArgumentException("tensor '" + prefix + name + "' has shape " + Arrays.toString(shape)
                    + "; it must be a matrix");
        }
        return shape;
    }

    private static int toInt(long size) {
        // Out-of-range sizes become an invalid size that LstmConfig refuses with its own message.
        return size > Integer.MAX_VALUE ? -1 : (int) size;
    }
}
