"""Checks unicode-bom: a program starting with a byte-order mark and using Unicode
identifiers runs (values recomputed exactly); error columns count characters, not bytes nor
the byte-order mark; a long line is shown cut around the caret."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
K = {int(v): [float(a), float(b)] for v, a, b in t.db("Knoten")}
Q = "nrp query program.nrp --db db --relation "
assert open(os.path.join(t.dir, "program.nrp"), "rb").read().startswith(b"\xef\xbb\xbf")
t.csv(Q + "Höhe", [((v,), [2 * z for z in e]) for v, e in K.items()], 1, 2)
t.csv(Q + "Σ", [((), [sum(e[i] for e in K.values()) for i in range(2)])], 0, 2)
t.csv(Q + "名前", [((v,), [z + 1 for z in e]) for v, e in K.items() if v != 2], 1, 2)


def caret_under(cmd, text):
    """The caret line points at `text` in the shown source line."""
    _, err, _ = t.blocks[cmd]
    lines = err.splitlines()
    shown = lines[2].split(" | ", 1)[1]
    caret = lines[3].split(" | ", 1)[1]
    col = caret.index("^")
    if shown[col:col + len(text)] != text:
        t.failures.append(f"`{cmd}`: caret at {shown[col:col + 10]!r}, expected {text!r}")
    return shown


t.error("nrp check bom-error.nrp --db db", "bom-error.nrp:1:12:", "unknown relation `Fehlt`")
caret_under("nrp check bom-error.nrp --db db", "Fehlt")
t.error("nrp check unicode-error.nrp --db db", "unicode-error.nrp:1:13:", "unknown name `ξ`")
caret_under("nrp check unicode-error.nrp --db db", "ξ")
t.error("nrp check bad-char.nrp", "bad-char.nrp:1:5:", "unexpected character `€`")
t.error("nrp check stray-bom.nrp", "stray-bom.nrp:2:1:", "U+FEFF")
line = open(os.path.join(t.dir, "long-line.nrp"), encoding="utf-8").read().splitlines()[1]
col = line.index("q") + 1
t.error("nrp check long-line.nrp --db db", f"long-line.nrp:2:{col}:", "unknown name `q`")
shown = caret_under("nrp check long-line.nrp --db db", "q")
if len(shown) > 120 or not (shown.startswith("…") and shown.endswith("…")):
    t.failures.append(f"long line shown as {len(shown)} characters: {shown!r}")
if len(t.blocks["nrp check long-line.nrp --db db"][1].splitlines()) != 5:
    t.failures.append("long-line: more than one source line shown")
t.done()
