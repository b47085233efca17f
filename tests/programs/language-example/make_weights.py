"""Writes weights.safetensors for language-example (dyadic values, multiples of 1/4).

    $PYTHON make_weights.py
"""
import os
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = {"Lin1.weight": [4, 5], "Lin1.bias": [4], "Lin2.weight": [3, 4], "Lin2.bias": [3],
          "Mlp.0.weight": [4, 3], "Mlp.0.bias": [4], "Mlp.2.weight": [1, 4], "Mlp.2.bias": [1]}


def weights():
    g = torch.Generator().manual_seed(1)
    return {k: (torch.randint(-4, 5, s, generator=g) / 4.0).float() for k, s in SHAPES.items()}


if __name__ == "__main__":
    save_file(weights(), os.path.join(HERE, "weights.safetensors"))
