"""Writes weights.safetensors and bad-shape.safetensors for tensor-params (plain Python:
a safetensors file is an 8-byte header length, a JSON header and little-endian f32 data)."""
import os, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
from nrpcheck import write_safetensors as write  # noqa: E402


here = os.path.dirname(os.path.abspath(__file__))
write(os.path.join(here, "weights.safetensors"), {
    "Gate.weight": ([1], [0.0]),
    "Scale.weight": ([1], [-1.5]),
    "Bias.weight": ([1, 3], [0.25, -0.5, 1.0]),
    "Half.weight": ([3], [1.0, 2.0, 4.0]),
})
write(os.path.join(here, "bad-shape.safetensors"), {"Bias.weight": ([3], [0.0, 0.0, 0.0])})
