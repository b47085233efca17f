"""Checks errors-runtime: evaluation errors exit 1 with the rule's location, the bad value
and the match; relations that avoid the bad rows succeed (worked out by hand from db/)."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
t.csv(Q + "Hot", [((1,), [1.0, 0.0, 0.0])], 1, 3)
t.csv(Q + "EncodeOk", [((3,), [3.0])], 1, 1)
# LANGUAGE.md asks for the value and the rule: the rule's location and the value are checked;
# the match note (nrp-reference adds one) is shown in expected.txt but not required here.
t.error(Q + "HotFraction", "program.nrp:7:17: error: ", "OneHot", "0..3", "2.5")
t.error(Q + "HotRange", "program.nrp:8:14: error: ", "OneHot", "0..3", " 3")
t.error(Q + "HotNegative", "program.nrp:9:17: error: ", "OneHot", "0..5", "-1")
t.error(Q + "Lookup", "program.nrp:10:12: error: ", "Embedding", "0..3", " 3")
# sum of c over all rows: 0 + 2.5 + 3 - 1 = 4.5
t.error(Q + "HotSum", "program.nrp:11:10: error: ", "OneHot", "4.5")
t.error(Q + "Encode", "program.nrp:12:12: error: ", 'non-numeric value "one"')
t.error(Q + "Target", "program.nrp:14:10: error: ", "CrossEntropyLoss", "2.5")
t.done()
