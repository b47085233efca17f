"""Writes weights.safetensors for text-encoder (plain Python: a safetensors file is an
8-byte header length, a JSON header and little-endian f32 data). Row r of a table holds
distinct small values, so that each bucket's row is recognisable."""
import os, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
from nrpcheck import write_safetensors as write  # noqa: E402


def table(n, d):
    # Exact in f32: row r, column j is r + j / 4.
    return [float(r) + j / 4 for r in range(n) for j in range(d)]

here = os.path.dirname(os.path.abspath(__file__))
write(os.path.join(here, "weights.safetensors"), {
    "Enc.embed.weight": ([8, 3], table(8, 3)),
    "Both.0.embed.weight": ([4, 2], table(4, 2)),
})
