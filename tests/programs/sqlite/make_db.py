"""Builds db.sqlite for the sqlite golden case (any Python 3: only the sqlite3 module).

    python3 make_db.py
"""
import os
import sqlite3

HERE = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(HERE, "db.sqlite")
if os.path.exists(path):
    os.remove(path)
c = sqlite3.connect(path)
c.executescript("""
CREATE TABLE edge (src INTEGER, dst INTEGER, w REAL);
INSERT INTO edge VALUES (1, 2, 0.5), (2, 3, 1.5), (3, 1, -2), (1, 3, 4);

CREATE TABLE Node (id INTEGER PRIMARY KEY, kind TEXT, f REAL, g INTEGER);
INSERT INTO Node VALUES (1, 'a', 1.0, 2), (2, 'b', 0.25, -1), (3, 'a', -3.5, 0);

-- NULLs in a column that no atom binds are fine.
CREATE TABLE Tag (id INTEGER, tag TEXT, note TEXT);
INSERT INTO Tag VALUES (1, 'red', NULL), (3, 'blue', 'x'), (3, 'red', NULL);

CREATE TABLE Feat (id INTEGER, vec TEXT);
INSERT INTO Feat VALUES (1, '[0.5, 1]'), (2, '[2, -0.25]'), (3, '[0, 0]');

-- The same number stored as INTEGER, REAL and TEXT: one value.
CREATE TABLE Mixed (k, label TEXT);
INSERT INTO Mixed VALUES (1, 'int'), (1.0, 'real'), ('1', 'text'), ('one', 'word');
""")
c.commit()
c.close()
