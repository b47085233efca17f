"""Writes weights.safetensors for post-aggregation: Lin, Inline.0, Inline.1 (dyadic).

    $PYTHON make_weights.py
"""
import os
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = {
    "Lin.weight": torch.tensor([[0.5, -1.0], [0.25, 0.75]]),
    "Lin.bias": torch.tensor([-0.5, 0.125]),
    "Inline.0.weight": torch.tensor([[1.0, 0.5], [-0.5, 0.25]]),
    "Inline.0.bias": torch.tensor([0.0, 1.0]),
    "Inline.1.weight": torch.tensor([[2.0, -1.0]]),
    "Inline.1.bias": torch.tensor([0.25]),
}
if __name__ == "__main__":
    save_file(WEIGHTS, os.path.join(HERE, "weights.safetensors"))
