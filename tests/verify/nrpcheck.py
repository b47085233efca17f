"""Independent checks of the golden transcripts (tests/programs/<case>/expected.txt).

Each case's `verify.py` computes the expected output of some of its commands by other means
(plain Python over the CSV files, or PyTorch for modules) and checks it against the blessed
transcript with this helper, so that `NRP_BLESS=1` cannot silently bless a wrong number.

    python3 tests/verify/run_all.py                       # every case (torch cases need
    $PYTHON tests/verify/run_all.py   # a Python with torch)
"""
import csv
import json
import math
import os
import re
import struct
import sys


def fmt_float(x):
    """nrp prints floats as Python's repr does (shortest round trip)."""
    return repr(float(x))


def f32(x):
    """x rounded to float32."""
    return struct.unpack("f", struct.pack("f", x))[0]


def shortest_f32(x):
    """The shortest decimal that reads back to float32(x), as a float (what nrp prints when
    it computes in f32)."""
    if math.isnan(x) or math.isinf(x):
        return x
    y = f32(x)
    for p in range(1, 10):
        s = "%.*e" % (p - 1, y)
        if f32(float(s)) == y:
            return float(s)
    return y


def is_f32_text(text):
    """Whether a printed number is an f32 printed shortest (e.g. 0.8333333), not an f64."""
    v = float(text)
    return math.isfinite(v) and shortest_f32(v) == v


def fmt_content(v, quote=True):
    """A content value as nrp prints it: numbers normalised (1.0 -> 1), strings as they are
    (CSV-quoted when they hold a separator, a quote or surrounding white space)."""
    if isinstance(v, bool):
        raise TypeError("bool content")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v == int(v) else repr(v)
    s = str(v)
    if quote and (any(c in s for c in ",\"\n\r") or s.strip() != s or s == ""):
        return '"' + s.replace('"', '""') + '"'
    return s


def parse_number(s):
    """The number a content cell denotes, or None (LANGUAGE.md §3 "Constants")."""
    try:
        x = float(s.strip())
    except ValueError:
        return None
    if math.isnan(x) or math.isinf(x) or s.strip().lower() in ("nan", "inf", "infinity"):
        return None
    return int(x) if x == int(x) and abs(x) < 2**63 else x


def value(s):
    """A content cell as a comparable value: a number if it parses as one, else the string."""
    n = parse_number(s)
    return s if n is None else n


def sort_key(tup):
    """nrp's order: numbers numerically before strings (byte-wise), tuple by tuple."""
    return tuple((1, v.encode()) if isinstance(v, str) else (0, v) for v in tup)


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [r for r in rows[1:] if r]


class Transcript:
    def __init__(self, verify_file):
        self.dir = os.path.dirname(os.path.abspath(verify_file))
        self.name = os.path.basename(self.dir)
        text = open(os.path.join(self.dir, "expected.txt")).read()
        self.blocks = {}
        for block in ("\n" + text).split("\n$ ")[1:]:
            cmd, _, rest = block.partition("\n")
            stdout, stderr, exit_code = rest, "", None
            body, _, tail = rest.rpartition("[exit ")
            exit_code = int(tail.split("]")[0])
            if "[stderr]\n" in body:
                stdout, _, stderr = body.partition("[stderr]\n")
            else:
                stdout = body
            self.blocks[cmd] = (stdout, stderr, exit_code)
        self.failures = []
        self.checked = 0
        # nrp prints f64 (up to 17 significant digits) or, computing in f32, f32 values
        # printed shortest (at most 9). A transcript with any longer number is f64 throughout.
        digits = [len(re.sub(r"[^0-9]", "", m.split("e")[0]).lstrip("0"))
                  for out, _, _ in self.blocks.values()
                  for m in re.findall(r"-?[0-9]+\.[0-9]+(?:e[-+][0-9]+)?", out)]
        self.f32 = not any(d > 9 for d in digits)

    def db(self, table, db="db"):
        """Rows of db/<table>.csv as lists of strings (header dropped)."""
        return read_csv(os.path.join(self.dir, db, table + ".csv"))[1]

    def _get(self, cmd):
        if cmd not in self.blocks:
            self.failures.append(f"no command `{cmd}` in expected.txt")
            return None
        return self.blocks[cmd]

    def csv(self, cmd, rows, arity, dim, tol=0.0, sort=True):
        """`rows`: (content tuple, embedding list) pairs; checks header, order and values.
        `tol` 0 demands the exact printed float (the f64 one, or the f32 one when nrp computes
        in f32); otherwise a relative tolerance, at least 1e-5 for f32 output."""
        got = self._get(cmd)
        self.checked += 1
        if got is None:
            return
        stdout, _, code = got
        if code != 0:
            self.failures.append(f"`{cmd}`: exit {code}")
            return
        if sort:
            rows = sorted(rows, key=lambda r: sort_key(r[0]))
        header = ",".join([f"c{i}" for i in range(arity)] + [f"e{i}" for i in range(dim)])
        lines = stdout.split("\n")
        assert lines[-1] == "", "stdout ends with a newline"
        lines = lines[:-1]
        if lines[0] != header:
            self.failures.append(f"`{cmd}`: header {lines[0]!r}, expected {header!r}")
            return
        if len(lines) - 1 != len(rows):
            self.failures.append(f"`{cmd}`: {len(lines) - 1} rows, expected {len(rows)}:\n{stdout}")
            return
        for line, (content, emb) in zip(lines[1:], rows):
            cells = next(csv.reader([line]))
            want_c = [fmt_content(v) for v in content]
            if line.split(",")[:arity] != want_c and cells[:arity] != [fmt_content(v, quote=False) for v in content]:
                self.failures.append(f"`{cmd}`: row {line!r}: content {cells[:arity]}, expected {want_c}")
                continue
            if len(emb) != dim:
                raise ValueError(f"expected row {content} has {len(emb)} coordinates, not {dim}")
            for g, w in zip(cells[arity:], emb):
                if not self._num_ok(g, w, tol):
                    self.failures.append(f"`{cmd}`: row {line!r}: {g}, expected {fmt_float(w)}")

    def _num_ok(self, g, w, tol):
        """Printed number `g` (text) against the expected value `w` (see `csv`)."""
        gv = float(g)
        single = self.f32 and is_f32_text(g)
        if tol == 0.0:
            return g == fmt_float(w) or (single and gv == shortest_f32(w))
        eps = max(tol, 1e-5) if single else tol
        return gv == w or (math.isnan(gv) and math.isnan(w)) or abs(gv - w) <= eps * max(1.0, abs(w))

    def jsonl(self, cmd, rows, arity, dim, tol=0.0):
        """As `csv` for `--format jsonl`: one object per fact with keys c0.., e0..; content
        numbers as JSON numbers, strings as JSON strings, nan/inf as null."""
        got = self._get(cmd)
        self.checked += 1
        if got is None:
            return
        rows = sorted(rows, key=lambda r: sort_key(r[0]))
        lines = got[0].split("\n")[:-1]
        if len(lines) != len(rows):
            self.failures.append(f"`{cmd}`: {len(lines)} lines, expected {len(rows)}")
            return
        keys = [f"c{i}" for i in range(arity)] + [f"e{i}" for i in range(dim)]
        for line, (content, emb) in zip(lines, rows):
            pairs = json.loads(line, object_pairs_hook=list, parse_float=str, parse_int=str)
            if [k for k, _ in pairs] != keys:
                self.failures.append(f"`{cmd}`: keys of {line!r}, expected {keys}")
                continue
            vals = [v for _, v in pairs]
            for g, w in zip(vals[:arity], content):
                want = fmt_content(w, quote=False)
                if g != want or (isinstance(w, str) and json.dumps(w) not in line):
                    self.failures.append(f"`{cmd}`: {line!r}: content {g!r}, expected {w!r}")
            for g, w in zip(vals[arity:], emb):
                if g is None:
                    ok = not math.isfinite(w)
                else:
                    ok = self._num_ok(g, w, tol)
                if not ok:
                    self.failures.append(f"`{cmd}`: {line!r}: {g}, expected {fmt_float(w)}")

    def error(self, cmd, *fragments):
        """The command fails with exit 1, nothing on stdout, and stderr holding `fragments`."""
        got = self._get(cmd)
        self.checked += 1
        if got is None:
            return
        stdout, stderr, code = got
        if code != 1:
            self.failures.append(f"`{cmd}`: exit {code}, expected 1")
        if stdout:
            self.failures.append(f"`{cmd}`: unexpected stdout {stdout!r}")
        if "internal error" in stderr or "panicked" in stderr:
            self.failures.append(f"`{cmd}`: a panic: {stderr}")
        for f in fragments:
            if f not in stderr:
                self.failures.append(f"`{cmd}`: stderr lacks {f!r}:\n{stderr}")

    def stdout(self, cmd, text):
        got = self._get(cmd)
        self.checked += 1
        if got is not None and got[0] != text:
            self.failures.append(f"`{cmd}`: stdout {got[0]!r}, expected {text!r}")

    def done(self):
        if self.failures:
            print(f"{self.name}: {len(self.failures)} FAILURE(S)")
            for f in self.failures:
                print("  " + f.replace("\n", "\n    "))
            sys.exit(1)
        print(f"{self.name}: {self.checked} command(s) verified")


def write_safetensors(path, tensors):
    """`{name: (shape, f32 values)}` as a safetensors file, in plain Python (an 8-byte header
    length, a JSON header, little-endian f32 data), for the cases' make_weights.py."""
    import json as _json
    import struct as _struct
    header, data = {}, b""
    for name, (shape, values) in tensors.items():
        raw = _struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = _json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(_struct.pack("<Q", len(h)) + h + data)
