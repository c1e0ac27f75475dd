"""The index on disk: documents, passages, a lexical index and a dense index.

Layout of an index directory (``QA_INDEX``)::

    index/
      current -> builds/20261121T220501-1234   (symlink, switched atomically)
      builds/<name>/
        manifest.json   model, dimension, normaliser and chunker versions, counts
        store.sqlite    documents, passages, FTS5 lexical index (words + folded),
                        and (table meta) which FAISS file holds this generation's vectors
        dense.faiss     FAISS index keyed by passage id (IndexIDMap2); after a change,
                        dense-<generation>.faiss
        in-use.lock     held (shared) by every open Index: pruning skips the build

``build_index`` writes a new build directory and switches ``current`` to it
only when it is complete, so a crash mid-build leaves the previous index
serving. ``Index.add`` and ``Index.remove`` change the current build in place:
the new FAISS file is written first, then one SQLite transaction changes the
passages and names that file, so the database and the vectors change together.

Searches run side by side: each thread reads through its own read-only SQLite
connection (WAL: readers never wait for a writer), and ``Index.reading()`` pins
one generation for the calls inside it (one search), its SQLite snapshot with
the dense index and documents of that same generation. A change never mutates
what a search holds: it builds a changed copy and swaps the reference.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

from qa.chunking import CHUNKER_VERSION, Passage, chunk_document
from qa.config import Settings
from qa.documents import CORPUS_SUFFIXES, Document, DocumentError, _document_files, _suffix, iter_documents
from qa.query import abbreviation_runs, choose_expansions
from qa.text import NORMALIZER_VERSION, fold, segment

STORE_VERSION = 1
MANIFEST = "manifest.json"
DB = "store.sqlite"
DENSE = "dense.faiss"
LOCK = "in-use.lock"
# Passages embedded together while building: the progress bar moves this often,
# however long the documents are.
EMBED_BATCH = 256
# Snapshots begun again when another process moved the build two generations on
# while one began (its FAISS file is gone): more means something is wrong.
SNAPSHOT_ATTEMPTS = 5

SCHEMA = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY, title TEXT, type TEXT, number TEXT, issuer TEXT, district TEXT,
    date TEXT, period TEXT, years TEXT, source TEXT, text TEXT, hash TEXT
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER, text TEXT, section TEXT, kind TEXT, start INTEGER, "end" INTEGER
);
CREATE INDEX passages_doc ON passages(doc_id);
-- candidate expansions of the abbreviations each document uses (qa.query.abbreviation_runs)
CREATE TABLE abbreviations (
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    abbr TEXT, expansion TEXT, count INTEGER
);
-- words: pyvi-segmented lower case; folded: syllables without diacritics;
-- context: the document title and section path, folded (weighted lower).
CREATE VIRTUAL TABLE passages_fts USING fts5(
    words, folded, context, tokenize = "unicode61 remove_diacritics 0 tokenchars '_'"
);
-- generation: changes made since the build; dense: the FAISS file of that generation
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
"""


class StoreError(RuntimeError):
    """An index that cannot be used as asked; the message says why and what to do."""


@dataclass
class Manifest:
    model: str
    dimension: int
    normalizer_version: int = NORMALIZER_VERSION
    chunker_version: int = CHUNKER_VERSION
    store_version: int = STORE_VERSION
    documents: int = 0
    passages: int = 0
    dense_index: str = "flat"
    created: str = ""
    updated: str = ""
    generation: int = 0
    corpus: str = ""

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        return cls(**json.loads((folder / MANIFEST).read_text()))

    def write(self, folder: Path) -> None:
        self.updated = _now()
        tmp = folder / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False))
        os.replace(tmp, folder / MANIFEST)


@dataclass
class BuildReport:
    documents: int
    passages: int
    seconds: float
    embed_seconds: float
    errors: list[str] = field(default_factory=list)

    @property
    def passages_per_second(self) -> float:
        return self.passages / self.seconds if self.seconds else 0.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _doc_hash(doc: Document) -> str:
    meta = json.dumps({k: v for k, v in asdict(doc).items() if k != "text"}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256((meta + "\n" + doc.text).encode()).hexdigest()


def embedding_text(doc: Document, passage: Passage) -> str:
    """What the dense model reads: the passage in the context of its document."""
    context = " › ".join(part for part in (doc.title, passage.section) if part)
    return f"{context}\n{passage.text}" if context else passage.text


def lexical_fields(doc: Document, passage: Passage) -> tuple[str, str, str]:
    """The (words, folded, context) columns of the lexical index.

    (Indexing a table row's caption and parent label as context only was
    tried: Hit@1 on the development set fell from 0.72 to 0.66.)
    """
    return segment(passage.text), fold(passage.text), fold(f"{doc.title} {passage.section}")


def dense_factory(count: int, dimension: int, exact_max: int) -> tuple[faiss.Index, str]:
    """Exact inner product up to ``exact_max`` vectors, IVF (approximate) beyond.

    IVF rather than HNSW because it supports removing vectors, which
    ``qa remove`` needs.
    """
    if count <= exact_max:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)), "flat"
    lists = int(4 * np.sqrt(count))
    quantizer = faiss.IndexFlatIP(dimension)
    ivf = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
    ivf.nprobe = max(8, lists // 16)
    return faiss.IndexIDMap2(ivf), f"ivf{lists}"


def _connect(path: Path) -> sqlite3.Connection:
    """The build's connection, and an Index's write connection."""
    # A long timeout: a writer of a build made before WAL waits for its readers.
    con = sqlite3.connect(path, timeout=60, check_same_thread=False)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA foreign_keys = ON")
    return con


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """One thread's connection for searching: read-only, and in autocommit mode so that
    ``Index.reading`` begins and ends its snapshots itself."""
    con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=60, isolation_level=None,
                          check_same_thread=False)  # closed by whichever thread drops the Index
    con.row_factory = sqlite3.Row
    return con


def _use_wal(con: sqlite3.Connection) -> None:
    """Write-ahead logging: readers keep their snapshot while a writer commits (persistent)."""
    try:
        con.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError:
        pass  # a build made before WAL, with a reader mid-snapshot: it stays as it is, still correct


def _write_faiss(index: faiss.Index, folder: Path, name: str = DENSE) -> None:
    tmp = folder / (name + ".tmp")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, folder / name)


def _read_faiss(path: Path) -> faiss.Index:
    """Raises FileNotFoundError when the file is gone (faiss.read_index says only RuntimeError)."""
    with path.open("rb") as f:  # open first: a writer may remove the file once we read it
        return faiss.read_index(faiss.PyCallbackIOReader(f.read))


def _read_meta(con: sqlite3.Connection) -> tuple[int, str]:
    """``(generation, FAISS file)`` of what ``con`` reads; -1 and dense.faiss for a
    build made before the meta table (its first change adds the table)."""
    try:
        meta = {row[0]: row[1] for row in con.execute("SELECT key, value FROM meta")}
    except sqlite3.OperationalError:  # no such table
        return -1, DENSE
    return int(meta.get("generation", -1)), meta.get("dense", DENSE)


def _write_meta(con: sqlite3.Connection, generation: int, dense_file: str) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [("generation", str(generation)), ("dense", dense_file)])


def _remove_stale_dense(folder: Path, keep: set[str]) -> None:
    """FAISS files older than the previous generation. A snapshot begun before the last
    commit may still need the previous file; one begun two commits ago finds its file
    gone and begins again (``Index.reading``)."""
    for path in folder.glob("dense*.faiss"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


def _hold(folder: Path):
    """A shared lock on a build folder, held by an open Index and by the build writing it:
    ``_prune_builds`` leaves the folder alone while anyone holds it. Released when the
    returned file is closed (or garbage-collected with its Index)."""
    try:
        fd = os.open(folder / LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
    except FileNotFoundError:
        raise  # the folder is gone
    except OSError:
        return None  # a read-only copy of an index: nothing prunes it
    fcntl.flock(fd, fcntl.LOCK_SH)  # waits while a pruner removes it; Index checks it is still there
    return open(fd, "rb")


def _remove_unless_held(folder: Path) -> None:
    try:
        fd = os.open(folder / LOCK, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):  # a build made before the lock file, or a stray file
        shutil.rmtree(folder, ignore_errors=True)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # open somewhere (or being built): a later build removes it
    else:
        shutil.rmtree(folder, ignore_errors=True)  # holding the lock: nobody opens it meanwhile
    finally:
        os.close(fd)


def _insert(con: sqlite3.Connection, doc: Document, passages: list[Passage], first_id: int) -> list[int]:
    con.execute(
        "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (doc.id, doc.title, doc.type, doc.number, doc.issuer, doc.district, doc.date, doc.period,
         json.dumps(doc.years), doc.source, doc.text, _doc_hash(doc)),
    )
    ids = list(range(first_id, first_id + len(passages)))
    con.executemany(
        'INSERT INTO passages (id, doc_id, ordinal, text, section, kind, start, "end") VALUES (?,?,?,?,?,?,?,?)',
        [(pid, doc.id, p.ordinal, p.text, p.section, p.kind, p.start, p.end) for pid, p in zip(ids, passages)],
    )
    con.executemany(
        "INSERT INTO passages_fts (rowid, words, folded, context) VALUES (?,?,?,?)",
        [(pid, *lexical_fields(doc, p)) for pid, p in zip(ids, passages)],
    )
    con.executemany(
        "INSERT INTO abbreviations VALUES (?,?,?,?)",
        [(doc.id, abbr, expansion, n) for (abbr, expansion), n in abbreviation_runs(doc.text).items()],
    )
    return ids


def _link_current(root: Path, build: Path) -> None:
    link = root / "current"
    tmp = root / f".current-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(build.relative_to(root), tmp)
    os.replace(tmp, link)  # atomic: readers see the old build or the new one


def build_index(
    corpus: Path | Iterable[Document],
    settings: Settings,
    embedder=None,
    progress: bool = True,
) -> BuildReport:
    """Build a fresh index of ``corpus`` under ``settings.index`` and switch to it."""
    from qa.embedding import Embedder

    started = time.perf_counter()
    embedder = embedder or Embedder(settings)
    root = settings.index
    (root / "builds").mkdir(parents=True, exist_ok=True)
    # unique even for two builds in one second of one process
    build = root / "builds" / f"{datetime.now().strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    work = build.with_name("." + build.name + ".partial")
    work.mkdir()
    held = _hold(work)  # another build finishing meanwhile must not prune this one
    errors: list[DocumentError] = []
    bar = _BuildProgress(_document_count(corpus), enabled=progress)
    documents = iter_documents(Path(corpus), errors) if isinstance(corpus, (str, Path)) else iter(corpus)
    con = _connect(work / DB)
    con.executescript(SCHEMA)
    vectors: list[np.ndarray] = []
    pending: list[str] = []  # texts of passages inserted but not yet embedded
    embed_seconds = 0.0
    n_docs = n_passages = 0

    def embed(texts: list[str]) -> None:
        nonlocal embed_seconds
        t = time.perf_counter()
        vectors.append(embedder.encode_passages(texts))
        embed_seconds += time.perf_counter() - t
        bar.embedded(len(texts))

    try:
        for doc, passages in _chunked(documents):
            _insert(con, doc, passages, n_passages + 1)
            n_docs += 1
            n_passages += len(passages)
            pending += [embedding_text(doc, p) for p in passages]
            bar.document(len(passages))
            while len(pending) >= EMBED_BATCH:
                embed(pending[:EMBED_BATCH])
                del pending[:EMBED_BATCH]
        if pending:
            embed(pending)
        bar.close()
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
        vectors.clear()  # the matrix holds them now
        dense, kind = dense_factory(n_passages, embedder.dim, settings.exact_max)
        if kind != "flat":
            dense.index.train(matrix)
        dense.add_with_ids(matrix, np.arange(1, n_passages + 1, dtype=np.int64))
        del matrix
        _write_faiss(dense, work)
        _write_meta(con, 0, DENSE)
        con.execute("INSERT INTO passages_fts(passages_fts) VALUES ('optimize')")
        con.commit()
        # After the bulk insert (a rollback journal is cheaper for one huge transaction):
        # from now on searches read while `qa add` / `qa remove` write.
        _use_wal(con)
    except BaseException:
        bar.close()
        con.close()
        shutil.rmtree(work, ignore_errors=True)
        if held:
            held.close()
        raise
    con.close()
    Manifest(
        model=embedder.name, dimension=embedder.dim, documents=n_docs, passages=n_passages,
        dense_index=kind, created=_now(), corpus=str(corpus) if isinstance(corpus, (str, Path)) else "",
    ).write(work)
    work.rename(build)
    _link_current(root, build)
    if held:
        held.close()
    _prune_builds(root, keep=build)
    return BuildReport(n_docs, n_passages, time.perf_counter() - started, embed_seconds, [str(e) for e in errors])


class _BuildProgress:
    """The build's progress bar: documents done, out of the total when it is known (so
    tqdm shows the time left), and passages embedded per second.

    A document is done once its last passage is embedded; passages are embedded
    ``EMBED_BATCH`` at a time across documents, so the bar moves every batch.
    """

    def __init__(self, total: int | None, enabled: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="indexing", unit=" docs", disable=not enabled)
        self.started = time.perf_counter()
        self.inserted = 0  # passages handed to the embedder's queue
        self.done = 0      # passages embedded
        self.ends: deque[int] = deque()  # for each document not yet done: ``inserted`` at its end

    def document(self, passages: int) -> None:
        self.inserted += passages
        self.ends.append(self.inserted)
        if passages == 0:
            self.embedded(0)  # nothing to wait for

    def embedded(self, passages: int) -> None:
        self.done += passages
        finished = 0
        while self.ends and self.ends[0] <= self.done:
            self.ends.popleft()
            finished += 1
        rate = self.done / max(time.perf_counter() - self.started, 1e-9)
        self.bar.update(finished)
        self.bar.set_postfix_str(f"{self.done:,} passages, {rate:.1f} passages/s")

    def close(self) -> None:
        self.bar.close()


def _document_count(corpus: Path | Iterable[Document]) -> int | None:
    """How many documents ``corpus`` holds, when that is known without loading them:
    a list, or files (a JSONL corpus counts its records' lines). None for a stream."""
    if isinstance(corpus, Sized):
        return len(corpus)
    if not isinstance(corpus, (str, Path)):
        return None
    count = 0
    for file in _document_files(Path(corpus)):
        if _suffix(file) in CORPUS_SUFFIXES:
            opener = gzip.open if _suffix(file) == ".jsonl.gz" else open
            with opener(file, "rb") as f:
                count += sum(1 for line in f if line.strip())
        else:
            count += 1
    return count


def _chunked(documents: Iterable[Document]) -> Iterator[tuple[Document, list[Passage]]]:
    seen: set[str] = set()
    for doc in documents:
        if doc.id in seen:  # two files with one stem: the first wins, loudly
            raise StoreError(f"two documents share the id {doc.id!r}; rename one of them")
        seen.add(doc.id)
        yield doc, chunk_document(doc)


def _prune_builds(root: Path, keep: Path) -> None:
    """Old builds are removed once the new one is current (a stale .partial too), except
    those an open Index or a running build holds (``_hold``): a later build removes them
    once they are let go, so a search still running on the old build is never cut off."""
    for old in (root / "builds").iterdir():
        if old != keep:
            _remove_unless_held(old)


def index_is_current(settings: Settings) -> bool:
    """True when the index exists, matches the model and code versions, and
    is newer than every file of the corpus (what ``make serve`` checks)."""
    folder = settings.index / "current"
    try:
        manifest = Manifest.read(folder)
    except (OSError, ValueError, TypeError):
        return False
    if (manifest.model, manifest.normalizer_version, manifest.chunker_version, manifest.store_version) != (
        settings.model, NORMALIZER_VERSION, CHUNKER_VERSION, STORE_VERSION
    ):
        return False
    built = (folder / MANIFEST).stat().st_mtime
    corpus = settings.corpus
    files = [corpus] if corpus.is_file() else [p for p in corpus.rglob("*") if p.is_file()]
    return all(p.stat().st_mtime <= built for p in files)


@dataclass
class PassageRecord:
    id: int
    doc_id: str
    ordinal: int
    text: str
    section: str
    kind: str
    start: int
    end: int


@dataclass
class DocumentRecord:
    id: str
    title: str
    type: str
    number: str
    issuer: str
    district: str
    date: str
    period: str
    years: list[int]
    source: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DocumentRecord:
        values = {k: row[k] for k in row.keys() if k not in ("text", "hash")}
        values["years"] = json.loads(values["years"] or "[]")
        return cls(**values)


def _read_documents(con: sqlite3.Connection) -> dict[str, DocumentRecord]:
    columns = ", ".join(f.name for f in fields(DocumentRecord))  # not the texts: 54 M characters of them
    rows = con.execute(f"SELECT {columns} FROM documents ORDER BY id").fetchall()
    return {row["id"]: DocumentRecord.from_row(row) for row in rows}


@dataclass(frozen=True)
class _View:
    """What a search reads besides SQLite, for one generation of the build. Never changed
    once made: a change makes a new one, so a search holding this one is undisturbed."""

    generation: int
    dense_file: str
    dense: faiss.Index
    documents: dict[str, DocumentRecord]


class Index:
    """An open index: read by search, changed by ``add`` / ``remove``.

    Safe to share between threads: reads go through each thread's read-only
    connection; ``add`` / ``remove`` through one write connection, one at a time.
    """

    def __init__(self, folder: Path, settings: Settings, embedder=None):
        self.folder = folder
        self.settings = settings
        self._embedder = embedder
        self._held = _hold(folder)
        if not (folder / MANIFEST).exists():  # pruned before we held it: a newer build is current
            raise FileNotFoundError(folder / MANIFEST)
        self.manifest = Manifest.read(folder)
        self._local = threading.local()  # per thread: the read connection, the pinned view
        self._swap = threading.Lock()    # a snapshot's begin and the view it gets; a commit and its view
        self._load = threading.Lock()    # one thread loads another process's generation
        self._write = threading.Lock()   # one change at a time
        self._writer: sqlite3.Connection | None = None
        con = self._reader()
        con.execute("BEGIN")
        try:
            self._view = self._load_view(con, *_read_meta(con))
        finally:
            con.execute("COMMIT")

    @classmethod
    def open(cls, settings: Settings, embedder=None) -> Index:
        folder = settings.index / "current"
        if not (folder / MANIFEST).exists():
            raise StoreError(
                f"no index in {settings.index}: build one with `qa build --corpus PATH --index {settings.index}`"
            )
        manifest = Manifest.read(folder)
        if manifest.model != settings.model:
            raise StoreError(
                f"the index in {settings.index} was built with the model {manifest.model!r} "
                f"(dimension {manifest.dimension}), but the model in use is {settings.model!r}; "
                "rebuild it with `qa build`, or set QA_MODEL to the index's model"
            )
        if embedder is not None and embedder.dim != manifest.dimension:
            raise StoreError(
                f"the index in {settings.index} holds vectors of dimension {manifest.dimension}, "
                f"the model {embedder.name!r} makes {embedder.dim}; rebuild it with `qa build`"
            )
        if (manifest.normalizer_version, manifest.chunker_version, manifest.store_version) != (
            NORMALIZER_VERSION, CHUNKER_VERSION, STORE_VERSION
        ):
            raise StoreError(f"the index in {settings.index} was built by another version of qa; rebuild it with `qa build`")
        for _ in range(SNAPSHOT_ATTEMPTS):
            try:
                return cls(folder.resolve(), settings, embedder)
            except FileNotFoundError:
                continue  # a build switched `current` and pruned this one as we opened it: open the new one
        raise StoreError(f"the index in {settings.index} keeps changing under us; is a build looping?")

    def close(self) -> None:
        """Let go of the build folder now rather than when garbage-collected; for the
        thread that is done with this Index (other threads' connections go with it)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._held is not None:
            self._held.close()
            self._held = None

    # -- snapshots ----------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = _connect_read_only(self.folder / DB)
        return con

    @property
    def con(self) -> sqlite3.Connection:
        """This thread's read-only connection."""
        return self._reader()

    def _pinned(self) -> _View:
        """The generation this thread's ``reading`` pinned, else the newest one."""
        return getattr(self._local, "view", None) or self._view

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One consistent state for the calls inside (one search): this thread's SQLite
        reads see one committed generation, and the dense index and documents are that
        same generation's, whatever ``add`` / ``remove`` here or in another process
        commit meanwhile. Without it each call reads the newest state on its own."""
        if getattr(self._local, "view", None) is not None:
            yield  # nested: the outer snapshot holds
            return
        con = self._reader()
        try:
            self._local.view = self._begin_snapshot(con)
            yield
        finally:
            self._local.view = None
            if con.in_transaction:
                con.execute("COMMIT")

    def _begin_snapshot(self, con: sqlite3.Connection) -> _View:
        for _ in range(SNAPSHOT_ATTEMPTS):
            with self._swap:  # an in-process commit and its view swap cannot fall in between
                con.execute("BEGIN")
                generation, dense_file = _read_meta(con)  # the first read fixes the snapshot
                view = self._view
            if view.dense_file == dense_file:
                return view
            try:  # another process changed this build since: load what this snapshot reads
                return self._other_generation(con, generation, dense_file)
            except FileNotFoundError:
                con.execute("COMMIT")  # that generation's vectors are gone already: begin again
        raise StoreError(f"the index in {self.folder} keeps changing under this search; try again")

    def _other_generation(self, con: sqlite3.Connection, generation: int, dense_file: str) -> _View:
        with self._load:
            view = self._view
            if view.dense_file != dense_file:
                view = self._load_view(con, generation, dense_file)
                with self._swap:
                    if view.generation > self._view.generation:
                        self._view = view
            return view

    def _load_view(self, con: sqlite3.Connection, generation: int, dense_file: str) -> _View:
        return _View(generation, dense_file, _read_faiss(self.folder / dense_file), _read_documents(con))

    # -- reading ------------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            from qa.embedding import Embedder

            self._embedder = Embedder(self.settings)
        return self._embedder

    @property
    def dense(self) -> faiss.Index:
        """The FAISS index (IndexIDMap2) of the pinned generation: search it, never change it."""
        return self._pinned().dense

    def documents(self) -> dict[str, DocumentRecord]:
        return self._pinned().documents

    def document_text(self, doc_id: str) -> str | None:
        row = self.con.execute("SELECT text FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return row["text"] if row else None

    def passages(self, ids: Iterable[int]) -> dict[int, PassageRecord]:
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.con.execute(f"SELECT * FROM passages WHERE id IN ({marks})", ids).fetchall()
        return {row["id"]: PassageRecord(**dict(row)) for row in rows}

    def passage_ids(self, doc_ids: Iterable[str]) -> np.ndarray:
        return _passage_ids(self.con, doc_ids)

    def lexical(self, match: str, k: int, weights: tuple[float, float, float], allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """FTS5 bm25 ranking of an FTS5 MATCH expression; best first, score > 0."""
        sql = "SELECT rowid, -bm25(passages_fts, ?, ?, ?) AS score FROM passages_fts WHERE passages_fts MATCH ?"
        params: list = [*weights, match]
        if allowed is not None:
            sql += f" AND rowid IN ({','.join(map(str, allowed.tolist())) or 'NULL'})"
        sql += " ORDER BY score DESC LIMIT ?"
        rows = self.con.execute(sql, [*params, k]).fetchall()
        return [(row[0], row[1]) for row in rows]

    def dense_search(self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        dense = self.dense  # one generation for the whole call
        if dense.ntotal == 0:
            return []
        params = None
        if allowed is not None:
            if len(allowed) == 0:
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        scores, ids = dense.search(vector.reshape(1, -1), min(k, dense.ntotal), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def counts(self) -> tuple[int, int]:
        return _counts(self.con)

    def vocabulary(self) -> list[tuple[str, int]]:
        """Every word form of the lexical ``words`` column, with its number of occurrences."""
        con = self.con  # a temp table belongs to its connection: each thread's makes its own
        con.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, passages_fts, 'col')")
        return [tuple(r) for r in con.execute("SELECT term, cnt FROM temp.vocab WHERE col = 'words'")]

    def mined_abbreviations(self) -> dict[str, str]:
        rows = self.con.execute("SELECT abbr, expansion, SUM(count) FROM abbreviations GROUP BY abbr, expansion")
        return choose_expansions(rows)

    # -- changing -----------------------------------------------------------
    def add(self, path: Path) -> list[str]:
        """Index the document(s) at ``path``; a changed file replaces its old passages."""
        errors: list[DocumentError] = []
        docs = list(iter_documents(path, errors))
        changed = []
        for doc in docs:
            row = self.con.execute("SELECT hash FROM documents WHERE id = ?", (doc.id,)).fetchone()
            if row and row["hash"] == _doc_hash(doc):
                continue
            self._replace(doc)
            changed.append(doc.id)
        if errors:
            raise StoreError("; ".join(str(e) for e in errors))
        return changed

    def remove(self, doc_id: str) -> int:
        """Remove a document and its passages; returns how many passages went."""
        if not self.con.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone():
            raise KeyError(doc_id)
        return self._replace(None, remove_id=doc_id)

    def _writer_con(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = _connect(self.folder / DB)
            self._writer.isolation_level = None  # _replace begins and commits itself
            _use_wal(self._writer)  # a build made before WAL becomes one
        return self._writer

    def _replace(self, doc: Document | None, remove_id: str | None = None) -> int:
        doc_id = doc.id if doc else remove_id
        passages = chunk_document(doc) if doc else []
        # Embedding is the slow part: before any lock, while searches and writers go on.
        vectors = self.embedder.encode_passages([embedding_text(doc, p) for p in passages]) if passages else None
        with self._write:
            con = self._writer_con()
            con.execute("BEGIN IMMEDIATE")  # the build's one writer until COMMIT, in any process
            written = None
            try:
                base = self._newest(con)  # another process may have changed the build since we opened it
                old = _passage_ids(con, [doc_id])
                if len(old):
                    marks = ",".join("?" * len(old))
                    con.execute(f"DELETE FROM passages_fts WHERE rowid IN ({marks})", old.tolist())
                con.execute("DELETE FROM documents WHERE id = ?", (doc_id,))  # cascades to passages
                dense = faiss.clone_index(base.dense)  # searches keep reading base.dense, untouched
                if len(old):
                    dense.remove_ids(old)
                if doc:
                    next_id = (con.execute("SELECT MAX(id) FROM passages").fetchone()[0] or 0) + 1
                    ids = _insert(con, doc, passages, next_id)
                    if passages:
                        dense.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
                generation = max(base.generation, Manifest.read(self.folder).generation) + 1
                written = f"dense-{generation}.faiss"
                _write_faiss(dense, self.folder, written)  # before the commit that names it
                _write_meta(con, generation, written)
                view = _View(generation, written, dense, _read_documents(con))
                documents, passage_count = _counts(con)
                with self._swap:
                    con.execute("COMMIT")
                    self._view = view
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                if written:
                    (self.folder / written).unlink(missing_ok=True)
                raise
            _remove_stale_dense(self.folder, keep={written, base.dense_file})
            manifest = replace(self.manifest, documents=documents, passages=passage_count, generation=generation)
            manifest.write(self.folder)
            self.manifest = manifest
        return len(old)

    def _newest(self, con: sqlite3.Connection) -> _View:
        """The view of what ``con`` (holding the write lock) reads: the newest generation."""
        generation, dense_file = _read_meta(con)
        view = self._view
        return view if view.dense_file == dense_file else self._load_view(con, generation, dense_file)


def _passage_ids(con: sqlite3.Connection, doc_ids: Iterable[str]) -> np.ndarray:
    doc_ids = list(doc_ids)
    marks = ",".join("?" * len(doc_ids))
    rows = con.execute(f"SELECT id FROM passages WHERE doc_id IN ({marks})", doc_ids).fetchall()
    return np.asarray([r[0] for r in rows], dtype=np.int64)


def _counts(con: sqlite3.Connection) -> tuple[int, int]:
    docs = con.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    passages = con.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
    return docs, passages
