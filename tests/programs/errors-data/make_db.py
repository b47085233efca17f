"""Builds bad.sqlite for errors-data (any Python 3: only the sqlite3 module).

    python3 make_db.py
"""
import os
import sqlite3

HERE = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(HERE, "bad.sqlite")
if os.path.exists(path):
    os.remove(path)
c = sqlite3.connect(path)
c.executescript("""
CREATE TABLE nulls (k INTEGER, x REAL);
INSERT INTO nulls VALUES (1, 0.5), (2, NULL), (3, 1.5);

CREATE TABLE words (id INTEGER PRIMARY KEY, x);
INSERT INTO words VALUES (1, 0.5), (7, 'abc');

CREATE TABLE pairs (a TEXT, b INTEGER, x REAL, PRIMARY KEY (a, b));
INSERT INTO pairs VALUES ('p', 1, 0.5), ('q', 1, 1.0), ('p', 2, 2.0);

CREATE TABLE blobs (k INTEGER, x BLOB);
INSERT INTO blobs VALUES (1, X'00ff');
""")
c.commit()
c.close()
