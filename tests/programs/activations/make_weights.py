"""Writes weights.safetensors for activations: LN.weight and LN.bias (dyadic values).
LNDefault is left out: it keeps LayerNorm's initial weight 1 and bias 0 (with a warning).

    $PYTHON make_weights.py
"""
import os
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = {
    "LN.weight": torch.tensor([0.5, -1.0, 2.0, 1.25]),
    "LN.bias": torch.tensor([0.0, 0.25, -0.5, 1.0]),
}
if __name__ == "__main__":
    save_file(WEIGHTS, os.path.join(HERE, "weights.safetensors"))
