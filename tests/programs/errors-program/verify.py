"""Checks errors-program: every bad program fails with exit status 1, no output, no panic,
and a message that starts at the expected file:line:column and says what is wrong.
The locations were worked out by hand from the program texts (1-based columns)."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
EXPECT = {
    "syntax-missing-dot": ("2:19", "expected `.` at the end of the statement, found end of file"),
    "syntax-unexpected-token": ("1:20", "expected `.`", "identifier `B`"),
    "syntax-colon": ("1:9", "expected `:-` after the head", "found `:`"),
    "syntax-unterminated-string": ("1:14", "unterminated string"),
    "syntax-bad-escape": ("1:16", "unknown escape `\\q`"),
    "syntax-mixed-body": ("1:29", "cannot mix `,` and `|`"),
    "syntax-filter-in-union": ("1:29", "cannot mix `,` and `|`"),
    "syntax-assign-in-body": ("1:17", "compare with `==`"),
    "syntax-empty-body": ("1:8", "expected an atom such as `Edge(u, v)` or a filter such as `a != b`, found `.`"),
    "syntax-unknown-statement": ("1:1", "unknown statement `?train`"),
    "syntax-decimal-point": ("1:6", "`1.` must be followed by a digit"),
    "unknown-relation": ("2:12", "unknown relation `Nope`", "tables: A, B, N"),
    "unsafe-head": ("1:6", "unsafe rule: head variable `u`"),
    "unsafe-filter": ("1:25", "unsafe filter: `u`"),
    "unsafe-union": ("1:16", "head variable `v` does not occur in the union branch `B`"),
    "union-branch-no-embedding": ("1:22", "branch `B` binds no embedding"),
    "union-unbound-encode": ("1:6", "`x` is not bound by the union branch `N`"),
    "wildcard-in-head": ("1:3", "`_` cannot appear in a head"),
    "recursion": ("3:13", "recursive rules are not supported: A2 -> B2 -> C2 -> A2"),
    "self-recursion": ("2:12", "recursive rules are not supported: H -> H"),
    "shadowed-table": ("2:12", "recursive rules are not supported: A -> A", "not the table `A`"),
    "dim-mismatch": ("2:6", "dimension mismatch in `*`", "2-dimensional", "3-dimensional"),
    "dim-rules-disagree": ("2:1", "`H` gets a 2-dimensional embedding here but a 1-dimensional one"),
    "dim-union-disagree": ("1:22", "`H` gets a 2-dimensional embedding here but a 1-dimensional one"),
    "union-arity": ("1:22", "the branches of a union must have the same arity: `B` has 2 terms, `A` has 1"),
    "unknown-module-def": ("2:7", "unknown function or module `NodeLookup`"),
    "arity-rules": ("2:1", "`H` has 2 content terms here but 1 in its first rule"),
    "arity-use": ("2:9", "`H` has 1 content term", "used here with 2"),
    "arity-table": ("1:9", "atom with 3 terms but table `A` has 2 columns (v, z)"),
    "module-missing-arg": ("1:6", "`Linear` needs its argument `out_features`"),
    "module-bad-kwarg": ("1:19", "`Linear` has no argument `bais`"),
    "module-not-integer": ("1:13", "`in_features` of `Linear` must be a positive integer, got 1.5"),
    "module-too-many": ("1:11", "too many arguments for `ReLU`"),
    "module-input-dim": ("2:8", "`L` (Linear(3, 2)) expects an input of dimension 3, got 1"),
    "module-not-applied": ("1:6", "created but not applied"),
    "module-unknown": ("1:6", "unknown module `Conv2d`"),
    "module-softmax-dim": ("1:14", "`dim` must be 1 or -1, got 0"),
    "module-dropout-p": ("1:14", "between 0 and 1, but got 1.5"),
    "onehot-input-dim": ("1:16", "OneHot(3)", "1-dimensional", "2-dimensional"),
    "loss-not-outermost": ("1:12", "a loss must be the outermost call"),
    "loss-in-aggregation": ("1:13", "a loss must be the outermost call"),
    "loss-not-zero-ary": ("1:1", "its head must be zero-ary"),
    "loss-target-dim": ("1:30", "class-index target", "2-dimensional"),
    "fit-unknown-param": ("1:18", "unknown `?fit` parameter `learning_rate`"),
    "fit-not-a-loss": ("1:18", "`?fit` minimises a zero-ary, 1-dimensional relation"),
    "two-aggregations": ("1:15", "only one aggregation"),
    "aggregation-in-definition": ("1:5", "not a constant expression"),
    "content-as-embedding": ("1:6", "`v` is a content variable, not an embedding"),
    "unknown-name": ("1:6", "unknown name `q`"),
    "string-embedding": ("1:6", "a string is not an embedding"),
    "defined-twice": ("2:1", "`hidden` is defined twice"),
    "builtin-redefined": ("1:1", "`ReLU` is a built-in name"),
    "embedding-bound-twice": ("1:26", "embedding variable `z` is bound twice"),
}
cmds = [l for l in open(os.path.join(t.dir, "cmds")).read().splitlines() if l.strip()]
assert len(cmds) == len(EXPECT), (len(cmds), len(EXPECT))
for name, (loc, *fragments) in EXPECT.items():
    t.error(f"nrp check {name}.nrp --db db", f"{name}.nrp:{loc}: error: ", *fragments)
t.done()
