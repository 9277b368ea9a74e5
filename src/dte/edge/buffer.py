"""The gateway's durable store-and-forward buffer: SQLite in WAL mode, fully synced per write.

A source is acknowledged only after its samples are committed here; each row's ``seq`` (an
AUTOINCREMENT key, never reused) is the sequence number the engine de-duplicates on. The buffer
is bounded: past ``max_rows`` the overflow policy rejects new samples or drops the oldest, and
either loss is counted, never silent.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dte.edge.operators import Sample

COUNTERS = ("received", "sent", "failed", "rejected", "dropped", "refused", "engine_rejected")


@dataclass(frozen=True)
class Row:
    seq: int
    channel: str
    t: float
    v: Any


class Buffer:
    def __init__(self, path: Path, max_rows: int, overflow: Literal["reject_new", "drop_oldest"]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self.overflow = overflow
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # on disk before the source is acknowledged
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL,
                                                t REAL NOT NULL, v TEXT NOT NULL, added REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS offsets (source TEXT PRIMARY KEY, position INTEGER NOT NULL);
        """)

    def close(self) -> None:
        self._db.close()

    def _bump(self, name: str, by: int) -> None:
        if by:
            self._db.execute("INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
                             (name, by, by))

    def add(self, samples: list[Sample], received: int | None = None, offset: tuple[str, int] | None = None) -> int:
        """Store samples durably (with a source's new read offset, atomically); how many were kept."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                depth = self._db.execute("SELECT count(*) FROM pending").fetchone()[0]
                room = self.max_rows - depth
                kept = samples
                if len(samples) > room:
                    if self.overflow == "reject_new":
                        kept = samples[:max(room, 0)]
                        self._bump("refused", len(samples) - len(kept))
                    else:
                        excess = min(len(samples) - room, depth)
                        self._db.execute("DELETE FROM pending WHERE seq IN (SELECT seq FROM pending ORDER BY seq "
                                         "LIMIT ?)", (excess,))
                        self._bump("dropped", excess)
                        kept = samples[-self.max_rows:]
                        self._bump("dropped", len(samples) - len(kept))
                now = time.time()
                self._db.executemany("INSERT INTO pending (channel, t, v, added) VALUES (?, ?, ?, ?)",
                                     [(s.channel, s.t, json.dumps(s.v), now) for s in kept])
                self._bump("received", received if received is not None else len(samples))
                if offset is not None:
                    self._db.execute("INSERT INTO offsets VALUES (?, ?) ON CONFLICT(source) DO UPDATE SET "
                                     "position = excluded.position", offset)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return len(kept)

    def count(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._bump(name, by)

    def offset(self, source: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT position FROM offsets WHERE source = ?", (source,)).fetchone()
        return row[0] if row else 0

    def peek(self, limit: int) -> list[Row]:
        with self._lock:
            rows = self._db.execute("SELECT seq, channel, t, v FROM pending ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [Row(seq, channel, t, json.loads(v)) for seq, channel, t, v in rows]

    def remove(self, rows: list[Row], counter: str = "sent") -> None:
        """The engine acknowledged (or refused for good) these rows."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM pending WHERE seq = ?", [(r.seq,) for r in rows])
            self._bump(counter, len(rows))
            self._db.execute("COMMIT")

    def stats(self) -> dict[str, Any]:
        with self._lock:
            depth, oldest = self._db.execute("SELECT count(*), min(added) FROM pending").fetchone()
            counters = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
        return {"depth": depth, "oldest_unsent_seconds": round(time.time() - oldest, 3) if oldest else 0.0,
                **{name: counters.get(name, 0) for name in COUNTERS}}
