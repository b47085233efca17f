"""Writes the checkpoints of errors-cli: a good one, and bad ones for the error cases.

    $PYTHON make_weights.py
"""
import os
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
p = lambda name: os.path.join(HERE, name)
good = {"Lin.weight": torch.tensor([[0.5, -1.0]]), "Lin.bias": torch.tensor([0.25])}
save_file(good, p("good.safetensors"))
# Lin.weight transposed: [2, 1] instead of [out, in] = [1, 2].
save_file({**good, "Lin.weight": torch.tensor([[0.5], [-1.0]])}, p("shape.safetensors"))
# An integer dtype nrp does not read.
save_file({**good, "Lin.bias": torch.tensor([1], dtype=torch.int64)}, p("dtype.safetensors"))
# Cut short: the header promises more bytes than the file has.
data = open(p("good.safetensors"), "rb").read()
open(p("truncated.safetensors"), "wb").write(data[:-4])
open(p("garbage.safetensors"), "w").write("not a safetensors file\n")
