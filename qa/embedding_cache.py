"""Passage vectors remembered by (model, text): a rebuild, ``qa add`` or a
chunker change embeds only text that was never embedded before.

One SQLite file in the model cache, shared by every index built on this
machine (the main index, the development archive, test indexes). A vector is
stored under the SHA-256 of the embedder's key (model, converter version,
backend, segmentation) and the exact text the model reads, so a change to any
of those never returns a stale vector. Vectors are stored as float32 bytes,
exactly as computed.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import numpy as np

SCHEMA = "CREATE TABLE IF NOT EXISTS vectors (hash BLOB PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID"
# SQLite's default limit on host parameters per statement is 32766; stay well under.
LOOKUP_BATCH = 500


class EmbeddingCache:
    def __init__(self, path: Path, key: str):
        self.path = path
        self.key = key
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()  # one connection, used from any thread
        path.parent.mkdir(parents=True, exist_ok=True)
        # A long timeout: two builds on one machine share the file.
        self._con = sqlite3.connect(path, timeout=60, check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute(SCHEMA)

    def _hash(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.key}\n{text}".encode()).digest()

    def get(self, texts: list[str]) -> list[np.ndarray | None]:
        """The cached vector of each text, or None where there is none."""
        hashes = [self._hash(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(hashes), LOOKUP_BATCH):
                chunk = list(set(hashes[start : start + LOOKUP_BATCH]))
                marks = ",".join("?" * len(chunk))
                for h, blob in self._con.execute(f"SELECT hash, vector FROM vectors WHERE hash IN ({marks})", chunk):
                    found[h] = np.frombuffer(blob, dtype=np.float32)
        result = [found.get(h) for h in hashes]
        hits = sum(v is not None for v in result)
        self.hits += hits
        self.misses += len(result) - hits
        return result

    def put(self, texts: list[str], vectors: np.ndarray) -> None:
        rows = [(self._hash(t), np.ascontiguousarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors)]
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def __len__(self) -> int:
        with self._lock:
            return self._con.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
