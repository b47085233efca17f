"""Writes weights.safetensors for linear-modules: every parameter of program.nrp, with
small dyadic values (multiples of 1/8) so that every output is exact in float32 and float64.

    $PYTHON make_weights.py
"""
import os
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))


def dyadic(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(-8, 9, shape, generator=g) / 8.0).float()


SHAPES = {
    "Lin.weight": [2, 3], "Lin.bias": [2],
    "LinNB.weight": [2, 3],
    "Mlp.0.weight": [4, 3], "Mlp.0.bias": [4],
    "Mlp.2.weight": [1, 4], "Mlp.2.bias": [1],
    "I.0.weight": [2, 3], "I.0.bias": [2],
    "I.1.weight": [2, 3],
    "I.2.weight": [2, 3], "I.2.bias": [2],
    "I.3.weight": [2, 2], "I.3.bias": [2],
}


def weights():
    return {name: dyadic(shape, i) for i, (name, shape) in enumerate(SHAPES.items())}


if __name__ == "__main__":
    w = weights()
    save_file(w, os.path.join(HERE, "weights.safetensors"))
    # Only Lin and Mlp: the rest is initialised from --seed with a warning.
    save_file({k: v for k, v in w.items() if k.startswith(("Lin.", "Mlp."))},
              os.path.join(HERE, "partial.safetensors"))
    # A tensor no module owns, next to a complete set.
    save_file({**w, "Extra.weight": torch.zeros(1)}, os.path.join(HERE, "extra.safetensors"))
