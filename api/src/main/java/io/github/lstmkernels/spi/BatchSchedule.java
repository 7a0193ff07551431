package io.github.lstmkernels.spi;

/**
 * Per-sequence lengths turned into what the walk runs: the batch rows sorted by length, longest
 * first (stable), so that the rows still running at any time t are a prefix {@code [0, N_t)}; and
 * the time axis cut into segments of constant N_t. The forward direction runs the segments in
 * order, the reverse direction backwards, so a row joins the reverse pass exactly at
 * {@code len_b − 1} with its initial state untouched, and a finished row is never touched again.
 * Constant-width segments are also what oneDNN needs (one primitive per segment shape).
 *
 * <p>Without lengths (or when every length is T) there is one segment, all rows, no sort: the
 * walk then works on the caller's tensors directly. Reused call after call (pooled workspace); allocates only to grow.
 */
public final class BatchSchedule {
    private int[] lengths = new int[0];
    private int[] incoming = new int[0];
    /** order[i]: the caller's batch row that sorted row i holds. */
    private int[] order = new int[0];
    private int[] segmentStart = new int[0];
    private int[] segmentSteps = new int[0];
    private int[] segmentRows = new int[0];
    private int segments;
    private int batch;
    private int seqLen;
    private boolean packed;

    /**
     * Copies and checks {@code lengths} (null: all T) before anything is computed, so a caller
     * changing its array during the call cannot change what was checked.
     *
     * @throws IllegalArgumentException naming the batch index and value of a bad length
     */
    void load(int[] callerLengths, int seqLen, int batch) {
        // Checked in a copy first: a refused call leaves the schedule of the last accepted one intact
        // (a training state still needs it for its backward pass).
        if (callerLengths != null) {
            if (callerLengths.length != batch) {
                throw new IllegalArgumentException("lengths: expected " + batch + " entries [B=" + batch + "], got "
                        + callerLengths.length);
            }
            if (incoming.length < batch) {
                incoming = new int[batch];
            }
            System.arraycopy(callerLengths, 0, incoming, 0, batch);
            for (int b = 0; b < batch; b++) {
                if (incoming[b] < 1 || incoming[b] > seqLen) {
                    throw new IllegalArgumentException("lengths[" + b + "] = " + incoming[b] + " is outside [1, T=" + seqLen + "]");
                }
            }
        }
        this.seqLen = seqLen;
        this.batch = batch;
        packed = false;
        segments = 1;
        grow(batch);
        segmentStart[0] = 0;
        segmentSteps[0] = seqLen;
        segmentRows[0] = batch;
        if (callerLengths == null) {
            return;
        }
        System.arraycopy(incoming, 0, lengths, 0, batch);
        for (int b = 0; b < batch; b++) {
            packed |= lengths[b] != seqLen;
        }
        if (!packed) {
            return;
        }
        // Stable insertion sort by length, longest first: batches are small, and equal lengths keep their order.
        for (int b = 0; b < batch; b++) {
            int at = b;
            while (at > 0 && lengths[order[at - 1]] < lengths[b]) {
                order[at] = order[at - 1];
                at--;
            }
            order[at] = b;
        }
        // Segment boundaries are the distinct lengths, ascending; rows running in [from, to) are those with length >= to.
        segments = 0;
        int from = 0;
        for (int i = batch - 1; i >= 0; i--) {
            int to = lengths[order[i]];
            if (to > from) {
                segmentStart[segments] = from;
                segmentSteps[segments] = to - from;
                segmentRows[segments] = i + 1;
                segments++;
                from = to;
            }
        }
    }

    private void grow(int n) {
        if (lengths.length < n) {
            lengths = new int[n];
            order = new int[n];
            segmentStart = new int[n];
            segmentSteps = new int[n];
            segmentRows = new int[n];
        }
    }

    /** True when rows have different lengths (or are shorter than T): the walk sorts and gathers. */
    public boolean packed() {
        return packed;
    }

    public int segments() {
        return segments;
    }

    public int segmentStart(int k) {
        return segmentStart[k];
    }

    public int segmentSteps(int k) {
        return segmentSteps[k];
    }

    public int segmentRows(int k) {
        return segmentRows[k];
    }

    /** The caller's batch row held by sorted row i (identity when not packed). */
    public int callerRow(int i) {
        return packed ? order[i] : i;
    }

    /** The length of sorted row i. */
    public int length(int i) {
        return packed ? lengths[order[i]] : seqLen;
    }

    public int batch() {
        return batch;
    }

    public int seqLen() {
        return seqLen;
    }
}
