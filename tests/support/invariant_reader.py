"""A reader of a follower's copy in its own OS process, with Python's own SQLite build.

Loops a query whose answer never changes on the primary (the sum of balances: every
transaction moves money between rows) until STOP_FILE exists. It keeps one connection
(so its page cache must notice each apply) and opens a fresh one every 25 reads. Each
round a fresh connection reads the version number first: the kept connection, reading
after it in one transaction with the sum, must not see an older one (a stale cache). Prints
one line per violation as it happens ("VIOLATION ...") and a JSON summary at the end.

Usage: python3 invariant_reader.py COPY EXPECTED_SUM STOP_FILE
"""
import json
import os
import sqlite3
import sys

path, expected, stop_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
reads = violations = busy = connections = 0
errors = []
conn = None
while not os.path.exists(stop_file):
    try:
        if conn is None or reads % 25 == 0:
            if conn is not None:
                conn.close()
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            connections += 1
            # Every other connection's page cache is smaller than the table: a reader that
            # kept stale pages after an apply would mix them with fresh ones from the file.
            # The others cache everything: a stale cache would show an old version.
            if connections % 2 == 0:
                conn.execute("PRAGMA cache_size = 8")
        # What a fresh connection sees now, the kept one must see too (or newer): a reader
        # whose page cache missed an apply would read an older version.
        fresh = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            (latest,) = fresh.execute("SELECT version FROM meta").fetchone()
        finally:
            fresh.close()
        with conn:
            conn.execute("BEGIN")
            (version,) = conn.execute("SELECT version FROM meta").fetchone()
            total, count = conn.execute("SELECT sum(bal), count(*) FROM acct").fetchone()
        reads += 1
        if total != expected:
            violations += 1
            print(f"VIOLATION sum {total} rows {count}", flush=True)
        if version < latest:
            violations += 1
            print(f"VIOLATION stale: version {version} after a fresh reader saw {latest}", flush=True)
    except sqlite3.OperationalError as error:
        text = str(error)
        if "locked" in text or "busy" in text:
            busy += 1
            continue
        violations += 1
        errors.append(text)
        print(f"VIOLATION error {text}", flush=True)
        conn = None
    except sqlite3.DatabaseError as error:
        violations += 1
        errors.append(str(error))
        print(f"VIOLATION error {error}", flush=True)
        conn = None
print(json.dumps({"reads": reads, "violations": violations, "busy": busy, "errors": errors[:5]}), flush=True)
