package io.github.lstmkernels.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** A plain SVG bar chart: GFLOP/s per shape, one bar per backend. No library needed. */
final class Chart {
    private static final String[] COLORS = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948"};

    private Chart() {
    }

    /** The chart of {@code mode}'s rows, with a dashed line at the measured single-core FMA peak. */
    static String svg(List<Compare.Row> rows, String mode, String subtitle, double peak) {
        List<String> backends = new ArrayList<>();
        List<BenchShape> shapes = new ArrayList<>();
        double max = peak;
        for (Compare.Row r : rows) {
            if (!r.mode().equals(mode)) {
                continue;
            }
            if (!backends.contains(r.backend())) {
                backends.add(r.backend());
            }
            if (!shapes.contains(r.shape())) {
                shapes.add(r.shape());
            }
            max = Math.max(max, r.gflops());
        }
        int width = 900;
        int height = 480;
        int left = 60;
        int bottom = 400;
        int top = 80;
        double groupWidth = (width - left - 20.0) / Math.max(1, shapes.size());
        double barWidth = groupWidth * 0.8 / Math.max(1, backends.size());
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">%n", width, height));
        s.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"24\" font-size=\"16\">lstm-kernels: GFLOP/s per shape (%s, higher is better)</text>%n", left, mode));
        // The subtitle is long: split it after its third field.
        String[] parts = subtitle.split(" \\| ");
        String first = String.join(" | ", java.util.Arrays.copyOf(parts, Math.min(3, parts.length)));
        String second = parts.length > 3 ? String.join(" | ", java.util.Arrays.copyOfRange(parts, 3, parts.length)) : "";
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"42\" font-size=\"10\" fill=\"#555\">%s</text>%n", left, escape(first)));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"55\" font-size=\"10\" fill=\"#555\">%s</text>%n", left, escape(second)));
        double peakY = bottom - (bottom - top) * peak / max;
        s.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#c00\" stroke-dasharray=\"6,4\"/>%n", left, width - 20, peakY, peakY));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#c00\" font-size=\"10\">FMA peak, one core: %.0f</text>%n", width - 22, peakY - 4, peak));
        for (int i = 0; i <= 4; i++) {
            double v = max * i / 4;
            double y = bottom - (bottom - top) * i / 4.0;
            s.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>%n", left, width - 20, y, y));
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>%n", left - 6, y + 4, v));
        }
        for (int si = 0; si < shapes.size(); si++) {
            BenchShape shape = shapes.get(si);
            double x0 = left + si * groupWidth + groupWidth * 0.1;
            for (int bi = 0; bi < backends.size(); bi++) {
                for (Compare.Row r : rows) {
                    if (r.mode().equals(mode) && r.shape() == shape && r.backend().equals(backends.get(bi))) {
                        double h = (bottom - top) * r.gflops() / max;
                        s.append(String.format(Locale.ROOT, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s %s: %.1f GFLOP/s, %.1f µs</title></rect>%n",
                                x0 + bi * barWidth, bottom - h, barWidth - 2, h, COLORS[bi % COLORS.length], r.backend(),
                                shape.id(), r.gflops(), r.medianMicros()));
                    }
                }
            }
            s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", x0 + groupWidth * 0.4, bottom + 18, shape.id()));
            s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"9\" fill=\"#555\">B%d T%d I%d H%d L%d</text>%n",
                    x0 + groupWidth * 0.4, bottom + 32, shape.batch, shape.seqLen, shape.inputSize, shape.hiddenSize, shape.layers));
        }
        for (int bi = 0; bi < backends.size(); bi++) {
            int x = left + bi * 120;
            s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>%n", x, height - 30, COLORS[bi % COLORS.length]));
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s</text>%n", x + 18, height - 20, backends.get(bi)));
        }
        s.append("</svg>\n");
        return s.toString();
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
