"""Writes a.safetensors (A.weight [1, 2], A.bias [1], float32) without torch: the
safetensors layout is an 8-byte little-endian header length, a JSON header, then the data."""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
tensors = {"A.weight": ([1, 2], [0.5, -1.0]), "A.bias": ([1], [0.25])}
header, data = {}, b""
for name, (shape, values) in tensors.items():
    raw = struct.pack(f"<{len(values)}f", *values)
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(HERE, "a.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
