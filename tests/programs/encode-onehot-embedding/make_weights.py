"""Writes weights.safetensors for encode-onehot-embedding: Emb.weight [3, 2] (dyadic).

    $PYTHON make_weights.py
"""
import os
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = {"Emb.weight": torch.tensor([[0.5, -1.0], [2.0, 0.25], [-0.75, 3.0]])}
if __name__ == "__main__":
    save_file(WEIGHTS, os.path.join(HERE, "weights.safetensors"))
