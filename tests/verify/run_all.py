"""Runs every tests/programs/<case>/verify.py; exits 1 if any fails."""
import importlib.util
import os
import subprocess
import sys

HAVE_TORCH = importlib.util.find_spec("torch") is not None

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "programs")
failed = []
for case in sorted(os.listdir(root)):
    script = os.path.join(root, case, "verify.py")
    if os.path.exists(script) and not HAVE_TORCH and "import torch" in open(script).read():
        print(f"{case}: SKIPPED (needs torch: run with a Python that has it, e.g. ../shared/bench/.venv/bin/python)")
    elif os.path.exists(script):
        r = subprocess.run([sys.executable, script], cwd=os.path.join(root, case))
        if r.returncode != 0:
            failed.append(case)
    elif os.path.isdir(os.path.join(root, case)):
        print(f"{case}: no verify.py (error messages are reviewed in its README)")
print("FAILED: " + ", ".join(failed) if failed else "all verified")
sys.exit(1 if failed else 0)
