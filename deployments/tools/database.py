"""A read-only database tool for the seed's `database` tool name: SQL queries against data.db (SQLite)
in the working directory. The connection is opened read-only, so no query can change the data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

MAX_ROWS = 50  # what a small model can read back in its context


def query_database(sql: str) -> str:
    """Run a read-only SQL query on the local database and return the rows.

    Args:
        sql: One SELECT statement.
    """
    path = Path("data.db")
    if not path.is_file():
        return "There is no database (data.db) in the workspace."
    with sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True) as db:
        cur = db.execute(sql)
        names = [d[0] for d in cur.description or []]
        rows = cur.fetchmany(MAX_ROWS + 1)
    lines = [" | ".join(names)] + [" | ".join(str(v) for v in r) for r in rows[:MAX_ROWS]]
    more = "\n(more rows not shown)" if len(rows) > MAX_ROWS else ""
    return "\n".join(lines) + more


query_database.risk = "read"  # type: ignore[attr-defined]
