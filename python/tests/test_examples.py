"""The ported RelaNN example flows (examples/python/) run and print what they claim."""

import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python"


@pytest.mark.parametrize(
    "script, expected",
    [
        ("001_hello_world_gcn.py", "test accuracy: "),
        ("002_join_projection.py", "matches the NumPy join -> Linear -> sum"),
        ("003_inductive.py", "predictions after:  60 drivers"),
    ],
)
def test_example_runs(script, expected):
    path = EXAMPLES / script
    assert path.is_file(), path
    out = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    assert expected in out.stdout, out.stdout


def test_hello_world_learns():
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "001_hello_world_gcn.py")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    line = next(l for l in out.stdout.splitlines() if l.startswith("test accuracy: "))
    assert float(line.split(": ")[1].rstrip("%")) >= 78.0, line
