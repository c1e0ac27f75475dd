"""Staff changes to the index as jobs, run one at a time off the request thread, and
the audit log of every change.

Both live in ``<index root>/admin.sqlite`` beside the builds, so they survive a
restart: a job that was queued or running when the process died is marked failed
("interrupted") when the next process opens the queue, and the audit log records
that too. The index itself is crash-safe on its own (``qa.store``): an interrupted
change leaves the last complete state, so reporting the job failed is the truth.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, action TEXT NOT NULL, document_id TEXT, filename TEXT,
    status TEXT NOT NULL, error TEXT, result TEXT,
    created TEXT NOT NULL, started TEXT, finished TEXT, work_dir TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, action TEXT NOT NULL,
    document_id TEXT, job_id TEXT, outcome TEXT NOT NULL, detail TEXT
);
"""

STATUSES = ("queued", "running", "done", "failed")
INTERRUPTED = "interrupted: the service stopped while this job was queued or running; the index kept its last complete state"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Job:
    id: str
    action: str                  # "add" | "replace" | "delete"
    document_id: str | None
    filename: str | None
    status: str                  # one of STATUSES
    created: str
    error: str | None = None     # plain words, when failed
    result: dict[str, Any] | None = None
    started: str | None = None
    finished: str | None = None
    work_dir: str | None = None  # the job's staging folder, until it is done

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        data = dict(row)
        data["result"] = json.loads(data["result"]) if data["result"] else None
        return cls(**data)


@dataclass
class AuditEntry:
    seq: int
    at: str
    action: str
    document_id: str | None
    job_id: str | None
    outcome: str
    detail: str | None


class JobQueue:
    """Jobs in SQLite, executed in order by one worker thread.

    ``submit`` records the job and returns at once; ``work`` is the callable that does
    it and returns a result dict (or raises with a plain-words message)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()  # one connection, shared by the request threads and the worker
        self._con = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._con.row_factory = sqlite3.Row
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.executescript(SCHEMA)
        columns = {r[1] for r in self._con.execute("PRAGMA table_info(jobs)")}
        if "work_dir" not in columns:
            self._con.execute("ALTER TABLE jobs ADD COLUMN work_dir TEXT")
        self._pending: queue.Queue[tuple[str, Callable[[], dict[str, Any]]] | None] = queue.Queue()
        # what the last process left unfinished, for the owner to put right (qa.admin.reconcile)
        self.interrupted: list[Job] = self._fail_interrupted()
        self._worker = threading.Thread(target=self._run, name="qa-jobs", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------------ jobs

    def submit(self, action: str, work: Callable[[], dict[str, Any]], document_id: str | None = None,
               filename: str | None = None, work_dir: str | None = None) -> Job:
        job = Job(id=uuid.uuid4().hex[:16], action=action, document_id=document_id, filename=filename,
                  status="queued", created=_now(), work_dir=work_dir)
        with self._lock:
            self._con.execute(
                "INSERT INTO jobs (id, action, document_id, filename, status, created, work_dir) VALUES (?,?,?,?,?,?,?)",
                (job.id, action, document_id, filename, job.status, job.created, work_dir))
        self._pending.put((job.id, work))
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row else None

    def recent(self, limit: int = 50) -> list[Job]:
        with self._lock:
            rows = self._con.execute("SELECT * FROM jobs ORDER BY created DESC, rowid DESC LIMIT ?", (limit,)).fetchall()
        return [Job.from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._con.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {status: 0 for status in STATUSES} | {r[0]: r[1] for r in rows}

    def wait(self, job_id: str, timeout: float) -> Job | None:
        """The job once done or failed, or as it is after ``timeout`` seconds (tests, CLI)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job is None or job.status in ("done", "failed") or time.monotonic() > deadline:
                return job
            time.sleep(0.05)

    def close(self) -> None:
        self._pending.put(None)
        self._worker.join(timeout=30)
        with self._lock:
            self._con.close()

    # ----------------------------------------------------------------- audit

    def audit(self, action: str, outcome: str, document_id: str | None = None, job_id: str | None = None,
              detail: str | None = None) -> None:
        with self._lock:
            self._con.execute(
                "INSERT INTO audit (at, action, document_id, job_id, outcome, detail) VALUES (?,?,?,?,?,?)",
                (_now(), action, document_id, job_id, outcome, detail))

    def log(self, limit: int = 200) -> list[AuditEntry]:
        with self._lock:
            rows = self._con.execute("SELECT * FROM audit ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [AuditEntry(**dict(r)) for r in rows]

    # ---------------------------------------------------------------- worker

    def _fail_interrupted(self) -> list[Job]:
        with self._lock:
            stale = self._con.execute("SELECT * FROM jobs WHERE status IN ('queued', 'running')").fetchall()
            self._con.execute("UPDATE jobs SET status = 'failed', error = ?, finished = ? "
                              "WHERE status IN ('queued', 'running')", (INTERRUPTED, _now()))
        for row in stale:
            self.audit(row["action"], "failed", row["document_id"], row["id"], INTERRUPTED)
        return [Job.from_row(row) for row in stale]

    def _set(self, job_id: str, **fields: Any) -> None:
        names = ", ".join(f"{k} = ?" for k in fields)
        with self._lock:
            self._con.execute(f"UPDATE jobs SET {names} WHERE id = ?", (*fields.values(), job_id))

    def _run(self) -> None:
        while True:
            item = self._pending.get()
            if item is None:
                return
            job_id, work = item
            self._set(job_id, status="running", started=_now())
            job = self.get(job_id)
            try:
                result = work()
            except Exception as exc:  # the job fails, the service and the queue go on
                message = str(exc) or exc.__class__.__name__
                log.warning("job %s failed: %s", job_id, message)
                self._set(job_id, status="failed", error=message, finished=_now(), work_dir=None)
                self.audit(job.action, "failed", job.document_id, job_id, message)
                continue
            document_id = result.get("document_id", job.document_id) if result else job.document_id
            self._set(job_id, status="done", result=json.dumps(result or {}, ensure_ascii=False),
                      document_id=document_id, finished=_now(), work_dir=None)
            self.audit(job.action, "done", document_id, job_id, json.dumps(result or {}, ensure_ascii=False))
