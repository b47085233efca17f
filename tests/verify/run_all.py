"""Runs every tests/programs/<case>/verify.py; exits 1 if any fails."""
import os
import subprocess
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "programs")
failed = []
for case in sorted(os.listdir(root)):
    script = os.path.join(root, case, "verify.py")
    if os.path.exists(script):
        r = subprocess.run([sys.executable, script], cwd=os.path.join(root, case))
        if r.returncode != 0:
            failed.append(case)
    elif os.path.isdir(os.path.join(root, case)):
        print(f"{case}: no verify.py (error messages are reviewed in its README)")
print("FAILED: " + ", ".join(failed) if failed else "all verified")
sys.exit(1 if failed else 0)
