#!/usr/bin/python3
"""Builds the small PyTorch models the model-formats tests load, with their reference outputs.

Run from the repository root with Debian's PyTorch (1.13):

    apt-get install -y python3-torch
    /usr/bin/python3 model-formats/scripts/make_test_models.py

Writes model-formats/src/test/resources/models/<case>/: the model file, the input x (and h0, c0
where given) and the reference outputs output, h_n and (LSTM) c_n, as raw little-endian float32
(.f32, row-major, shapes as in golden/FORMAT.md section 4). The references are computed by a
float64 copy of the module from exactly the stored weights (for the BF16 and F16 files: from the
rounded weights), then rounded to float32, so the tests can keep float32 tolerances.

safetensors files are written by hand here (the format is an 8-byte header length, a JSON header,
and the data), so no safetensors package is needed.
"""
import copy
import json
import os
import struct
import sys

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test", "resources", "models")

I, H, T, B = 5, 6, 4, 2

ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
             torch.float64: "F64"}


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        # numpy has no bfloat16: the high 16 bits of the float32 are the bfloat16 (exact, as it is rounded already).
        bits = t.float().view(torch.int32).numpy().astype("<i4") >> 16
        return bits.astype("<u2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: an ordered dict name -> torch tensor; written back to back in that order."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs = []
    offset = 0
    for name, t in tensors.items():
        data = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the format pads the header with spaces to 8-byte alignment
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def write_f32(folder, name, t):
    with open(os.path.join(folder, name + ".f32"), "wb") as f:
        f.write(t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())


def case_dir(name):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    return folder


def run_reference(module, x, state=None):
    """Runs a float64 copy of module (the stored float32 values, widened exactly)."""
    ref = copy.deepcopy(module).double()
    with torch.no_grad():
        if state is None:
            out = ref(x.double())
        else:
            out = ref(x.double(), tuple(s.double() for s in state) if isinstance(state, tuple) else state.double())
    return out


def save_outputs(folder, out):
    y, hn = out
    if isinstance(hn, tuple):
        h_n, c_n = hn
        write_f32(folder, "c_n", c_n)
    else:
        h_n = hn
    write_f32(folder, "output", y)
    write_f32(folder, "h_n", h_n)


class Encoder(nn.Module):
    """A model with the LSTM inside it and other layers beside it, as a real model has."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(7, I)
        self.rnn = nn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=3)
        self.rnn_norm = nn.LayerNorm(6)  # its name starts with "rnn" but not with "rnn."


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.head = nn.Linear(6, 2)
        self.register_buffer("steps", torch.tensor([12345], dtype=torch.int64))


def lstm_bidirectional_projection():
    torch.manual_seed(1301)
    model = Model()
    folder = case_dir("lstm_bi_proj")
    state = model.state_dict()
    tensors = {}
    # Unrelated tensors first and last, so the layer sits in the middle of the data buffer.
    tensors["encoder.embed.weight"] = state["encoder.embed.weight"]
    tensors["steps"] = state["steps"]
    for k, v in state.items():
        if k.startswith("encoder.rnn."):
            tensors[k] = v
    for k in ("encoder.rnn_norm.weight", "encoder.rnn_norm.bias", "head.weight", "head.bias", "encoder.embed.bias"):
        tensors[k] = state[k]
    tensors["head.weight_f64"] = state["head.weight"].double()
    write_safetensors(os.path.join(folder, "model.safetensors"), tensors, {"format": "pt"})
    rnn = model.encoder.rnn
    x = torch.rand(T, B, I) * 2 - 1
    h0 = torch.rand(2 * 2, B, 3) * 2 - 1
    c0 = torch.rand(2 * 2, B, H) * 2 - 1
    for name, t in (("x", x), ("h0", h0), ("c0", c0)):
        write_f32(folder, name, t)
    save_outputs(folder, run_reference(rnn, x, (h0, c0)))


def gru_bf16():
    torch.manual_seed(1302)
    gru = nn.GRU(I, H, num_layers=2)
    with torch.no_grad():
        for p in gru.parameters():
            p.copy_(p.to(torch.bfloat16).float())  # the reference runs on exactly the BF16 weights
    folder = case_dir("gru_bf16")
    write_safetensors(os.path.join(folder, "model.safetensors"),
                      {k: v.to(torch.bfloat16) for k, v in gru.state_dict().items()})
    x = torch.rand(T, B, I) * 2 - 1
    h0 = torch.rand(2, B, H) * 2 - 1
    write_f32(folder, "x", x)
    write_f32(folder, "h0", h0)
    save_outputs(folder, run_reference(gru, x, h0))


def lstm_f16_no_bias_batch_first():
    torch.manual_seed(1303)
    lstm = nn.LSTM(I, H, bias=False, batch_first=True)
    with torch.no_grad():
        for p in lstm.parameters():
            p.copy_(p.half().float())
    folder = case_dir("lstm_f16_nobias_bf")
    write_safetensors(os.path.join(folder, "model.safetensors"), {k: v.half() for k, v in lstm.state_dict().items()})
    x = torch.rand(B, T, I) * 2 - 1  # batch-first
    write_f32(folder, "x", x)
    save_outputs(folder, run_reference(lstm, x))


def export_onnx(module, x, path):
    torch.onnx.export(module, (x,), path, opset_version=14, do_constant_folding=True,
                      input_names=["x"], output_names=["output", "h_n", "c_n"][: 3 if isinstance(module, nn.LSTM) else 2])


def onnx_lstm():
    torch.manual_seed(1304)
    lstm = nn.LSTM(I, H, num_layers=2)
    folder = case_dir("onnx_lstm")
    x = torch.rand(T, B, I) * 2 - 1
    export_onnx(lstm, x, os.path.join(folder, "model.onnx"))
    # The same weights as PyTorch names them: the test checks that reading the ONNX nodes gives exactly these.
    write_safetensors(os.path.join(folder, "state_dict.safetensors"), dict(lstm.state_dict()))
    write_f32(folder, "x", x)
    save_outputs(folder, run_reference(lstm, x))


def onnx_gru():
    torch.manual_seed(1305)
    gru = nn.GRU(I, H, bidirectional=True)
    folder = case_dir("onnx_gru_bi")
    x = torch.rand(T, B, I) * 2 - 1
    export_onnx(gru, x, os.path.join(folder, "model.onnx"))
    write_safetensors(os.path.join(folder, "state_dict.safetensors"), dict(gru.state_dict()))
    write_f32(folder, "x", x)
    save_outputs(folder, run_reference(gru, x))


if __name__ == "__main__":
    print("torch", torch.__version__, file=sys.stderr)
    lstm_bidirectional_projection()
    gru_bf16()
    lstm_f16_no_bias_batch_first()
    onnx_lstm()
    onnx_gru()
    print("wrote", os.path.normpath(OUT), file=sys.stderr)
