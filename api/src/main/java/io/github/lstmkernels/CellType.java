package io.github.lstmkernels;

/** The recurrent cell a configuration describes, with its gate blocks in PyTorch's order. */
public enum CellType {
    /** {@code torch.nn.LSTM}: gate blocks i, f, g, o. */
    LSTM(4),
    /** {@code torch.nn.GRU}: gate blocks r, z, n. */
    GRU(3);

    private final int gates;

    CellType(int gates) {
        this.gates = gates;
    }

    /** Number of gate blocks stacked in {@code weight_ih}/{@code weight_hh} (4 for LSTM, 3 for GRU). */
    public int gates() {
        return gates;
    }
}
