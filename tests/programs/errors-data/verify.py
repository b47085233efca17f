"""Checks errors-data: each bad source fails with exit 1 and names the table, the row (CSV
line, header = line 1; SQLite primary key or row id) and the column, as LANGUAGE.md §6
asks; the good bindings next to them succeed. Rows and columns worked out by hand."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
q = lambda prog, db: f"nrp query {prog} --db {db} --relation H"
t.error(q("emb.nrp", "dup"), "emb.nrp:1:12: error: table `T` (k, x): line 2 and line 4 have the same content (1)")
t.csv(q("set.nrp", "dup"), [((1,), []), ((2,), [])], 1, 0)
t.error(q("emb.nrp", "str"), "table `T` (k, x, y), line 3, column `x`", '"abc" is not a number')
t.error(q("two.nrp", "dup"), "two.nrp:1:12: error: ", "table `T` has 2 columns (k, x): no column left for the embedding")
t.error(q("three.nrp", "dup"), "three.nrp:1:9: error: ", "atom with 3 terms but table `T` has 2 columns (k, x)")
t.error(q("emb.nrp", "mal"), "table `T` (mal/T.csv), line 3: 3 fields, but the header has 2 (k, x)")
t.error(q("emb.nrp", "short"), "table `T` (short/T.csv), line 3: 1 field, but the header has 2")
t.error(q("emb.nrp", "quote"), "table `T` (quote/T.csv), line 2: text after the closing quote", "column `x`")
t.error(q("emb.nrp", "unterminated"), "table `T` (unterminated/T.csv), line 2: unterminated quoted field in column `x`")
t.error(q("emb.nrp", "arr"), "table `T` (k, x), line 3, column `x`: array of 3 numbers, but line 2 has 2")
t.error(q("emb.nrp", "arr2"), "table `T` (k, x), line 3, column `x`", '"[1, x]" is not an array of numbers')
t.error(q("emb.nrp", "broken"), "cannot read table `T` (broken/T.csv)")
t.error(q("emb.nrp", "emptyfile"), "table `T` (emptyfile/T.csv) is empty: a CSV table needs a header row")
t.error(q("emb.nrp", "empty"), "unknown relation `T`", "tables: (none)")
t.error(q("node.nrp", "ambiguous"), "relation `NODE` matches several tables", "(`Node`, `node`)")
t.csv(q("exact.nrp", "ambiguous"), [((1,), [2.0])], 1, 1)
t.error("nrp check emb.nrp --db missing", "database source missing does not exist")
t.error("nrp check emb.nrp --db dup/T.csv", "give the directory that holds the .csv files")
t.error(q("sql-nulls.nrp", "bad.sqlite"), "table `nulls` (k, x), row id 2, column `x`: NULL in a bound column")
t.error(q("sql-words.nrp", "bad.sqlite"), "table `words` (id, x), primary key (id=7), column `x`", '"abc" is not a number')
t.error(q("sql-pairs.nrp", "bad.sqlite"), 'primary key (a="p", b=1) and primary key (a="p", b=2) have the same content ("p")')
t.error(q("sql-blobs.nrp", "bad.sqlite"), "table `blobs` (k, x), row id 1, column `x`: a BLOB in a bound column")
t.csv(q("sql-blobsok.nrp", "bad.sqlite"), [((1,), [])], 1, 0)
t.error("nrp check emb.nrp --db notadb.sqlite", "neither a directory of CSV files nor a SQLite database")
t.error("nrp check emb.nrp --db postgres://user:secret@/db?host=/nonexistent-nrp-socket-dir", "cannot connect to PostgreSQL database", "/nonexistent-nrp-socket-dir")
assert "secret" not in t.blocks["nrp check emb.nrp --db postgres://user:secret@/db?host=/nonexistent-nrp-socket-dir"][1]
t.done()
