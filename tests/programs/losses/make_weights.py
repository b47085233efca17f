"""Writes weights.safetensors for losses: Lin.weight [3, 3], Lin.bias [3] (dyadic).

    $PYTHON make_weights.py
"""
import os
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = {
    "Lin.weight": torch.tensor([[0.5, -0.25, 1.0], [0.0, 1.5, -0.5], [-1.0, 0.25, 0.75]]),
    "Lin.bias": torch.tensor([0.125, -0.5, 0.25]),
}
if __name__ == "__main__":
    save_file(WEIGHTS, os.path.join(HERE, "weights.safetensors"))
