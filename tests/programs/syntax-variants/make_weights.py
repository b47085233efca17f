"""Writes weights.safetensors for syntax-variants (dyadic).

    $PYTHON make_weights.py
"""
import os
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = {"Lin.weight": torch.tensor([[2.0]]), "LinT.weight": torch.tensor([[-0.5]]),
           "LinT.bias": torch.tensor([0.25])}
if __name__ == "__main__":
    save_file(WEIGHTS, os.path.join(HERE, "weights.safetensors"))
