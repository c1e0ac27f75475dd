"""The index on disk: documents, passages, a lexical index and a dense index.

Layout of an index directory (``QA_INDEX``; index/README.md describes every file)::

    index/
      current  -> builds/20261121T220501-1234-…   (symlink, switched atomically)
      previous -> builds/…   the build ``current`` replaced, while it was good: kept
                             for ``Index.open`` to fall back on if ``current`` breaks
      switch.lock            held while a build switches ``current`` and prunes
      builds/<name>/
        manifest.json        model, dimension, normaliser/chunker/store versions, counts,
                             the corpus it was built from and the listing of its files
        store.sqlite         documents, passages, FTS5 lexical index (words + folded), and
                             (table meta) the generation, its FAISS file, that file's
                             SHA-256 and the next passage id
        dense-<generation>.faiss   FAISS index keyed by passage id (IndexIDMap2)
        lexical/             the tantivy index of the same passages (qa.lexical): searched
                             when it is of the generation a search reads, else FTS5
        in-use.lock          held (shared) by every open Index: pruning skips the build

``build_index`` writes a new build directory and switches ``current`` to it
only when it is complete, so a crash mid-build leaves the previous index
serving. ``Index.add`` and ``Index.remove`` change the current build in place:
the new FAISS file is written (and fsynced) first under a new name, then one
SQLite transaction changes the passages and names that file with its checksum, so
whenever the process dies, the committed meta names a complete FAISS file that
holds exactly the committed passages. The tantivy index commits just before SQLite,
naming the generation it is of; when a crash leaves it at another generation, searches
use FTS5 (always in the SQLite transaction) until it is rebuilt from FTS5 on open. Passage ids come from a counter in the meta
table: an id, once given, never names another passage in that build.

Opening checks all this (``_check``): the meta's FAISS file exists, its checksum is
the recorded one, its ids are the passages' ids. A broken ``current`` is refused
with what to run, or ``previous`` is served instead while there is one.

Searches run side by side: each thread reads through its own read-only SQLite
connection (WAL: readers never wait for a writer), and ``Index.reading()`` pins
one generation for the calls inside it (one search), its SQLite snapshot with
the dense index and documents of that same generation. A change never mutates
what a search holds: it builds a changed copy and swaps the reference.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
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
from datetime import date, datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import faiss
import numpy as np

from qa.builds import (
    CURRENT, PARTIAL, PREVIOUS, corpus_listing, crash_point, fsync_folder, hold, is_read_by_build,
    remove_stale_temporaries, switch, target, write_durably,
)
from qa.chunking import CHUNKER_VERSION, Passage, chunk_document
from qa.config import Settings
from qa.documents import CORPUS_SUFFIXES, Document, DocumentError, _document_files, _suffix, iter_documents
from qa.lexical import LexicalIndex, LexicalQuery
from qa.query import abbreviation_runs, choose_expansions
from qa.relations import Graph, Validity, delete_relations, extract_relations, load_graph, validity, write_relations
from qa.relations import ensure_schema as create_relations_table
from qa.rows import TableRow
from qa.targets import TargetBook, delete_targets, extract_targets, write_targets
from qa.targets import create_table as create_targets_table
from qa.text import NORMALIZER_VERSION, fold, segment

log = logging.getLogger(__name__)

# 2: the meta table names the FAISS file with its checksum and holds the passage id counter.
# 3: table rows as data (passages.row), targets and relations extracted at index time.
STORE_VERSION = 3
MANIFEST = "manifest.json"
DB = "store.sqlite"
# Passages embedded together while building: the progress bar moves this often,
# however long the documents are.
EMBED_BATCH = 256
# Snapshots begun again when another process moved the build two generations on
# while one began (its FAISS file is gone): more means something is wrong.
SNAPSHOT_ATTEMPTS = 5
# A manifest temporary this old was left by a process killed mid-write (a write takes milliseconds).
STALE_MANIFEST_TMP = 600.0

SCHEMA = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY, title TEXT, type TEXT, number TEXT, issuer TEXT, district TEXT,
    date TEXT, period TEXT, years TEXT, source TEXT, text TEXT, hash TEXT
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER, text TEXT, section TEXT, kind TEXT, start INTEGER, "end" INTEGER,
    row TEXT  -- a table row's caption, labels and columns as JSON (qa.rows.TableRow); NULL for text
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
-- generation: changes made since the build; dense: the FAISS file of that generation;
-- dense_sha256: its checksum, recorded as it was written; next_id: the next passage id
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
"""
# and the tables of qa.targets (targets: every target and reported figure) and
# qa.relations (relations: what each document is based on, amends, replaces…),
# created by those modules, filled by ``_insert``.


def _create_schema(con: sqlite3.Connection) -> None:
    con.executescript(SCHEMA)
    create_targets_table(con)
    create_relations_table(con)


class StoreError(RuntimeError):
    """An index that cannot be used as asked; the message says why and what to do."""


class BrokenIndex(StoreError):
    """A build whose files are missing, damaged or disagree with one another."""


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
    # The corpus folder or file the build read (resolved; "" for documents handed over
    # in memory) and its files as ``qa.builds.corpus_listing`` lists them.
    corpus: str = ""
    corpus_files: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        return cls(**json.loads((folder / MANIFEST).read_text()))

    def write(self, folder: Path) -> None:
        self.updated = _now()
        text = json.dumps(asdict(self), indent=2, ensure_ascii=False).encode()
        write_durably(folder / MANIFEST, lambda f: f.write(text), "manifest")


@dataclass
class BuildReport:
    documents: int
    passages: int
    seconds: float
    embed_seconds: float
    errors: list[str] = field(default_factory=list)
    # The new build, now current; None when nothing was indexed (``current`` unchanged).
    build: Path | None = None

    @property
    def passages_per_second(self) -> float:
        return self.passages / self.seconds if self.seconds else 0.0


@dataclass
class AddReport:
    """What ``Index.add`` did with each document it found."""

    changed: list[str] = field(default_factory=list)    # indexed or replaced
    unchanged: list[str] = field(default_factory=list)  # the index already held this exact version
    errors: list[DocumentError] = field(default_factory=list)  # not indexed; the rest were


@dataclass(frozen=True)
class Meta:
    """The meta table of one generation: read and written in the transaction that
    changes the passages, so it always describes the committed ones."""

    generation: int    # changes made since the build
    dense: str         # the FAISS file holding this generation's vectors
    dense_sha256: str  # that file's checksum, computed as it was written
    next_id: int       # the next passage id: ids are never reused within the build


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
    # At least 128 lists searched: at 80,000 vectors (1,131 lists) nprobe 70 gave recall@10
    # 0.949, 128 gave 0.977 in 1.6 ms; at 1M (4,000 lists) 250 gives 0.995 in 6 ms
    # (eval/reports/dense-scale.md).
    ivf.nprobe = min(lists, max(128, lists // 16))
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


def dense_name(generation: int) -> str:
    return f"dense-{generation}.faiss"


def _write_faiss(index: faiss.Index, folder: Path, name: str) -> str:
    """Write ``folder/name`` durably; returns its SHA-256, computed from the bytes written."""
    digest = hashlib.sha256()

    def write(f) -> None:
        def chunk(data: bytes) -> None:
            digest.update(data)
            f.write(data)

        faiss.write_index(index, faiss.PyCallbackIOWriter(chunk))

    write_durably(folder / name, write, "dense")
    return digest.hexdigest()


def _read_faiss(path: Path, checksum: str) -> faiss.Index:
    """The FAISS index at ``path``, checked against the checksum its writer recorded.
    Raises FileNotFoundError when the file is gone (a writer may have removed it since
    the snapshot began), BrokenIndex when it is damaged."""
    digest = hashlib.sha256()
    with path.open("rb") as f:  # open first: a writer may remove the file once we read it
        def read(n: int) -> bytes:
            data = f.read(n)
            digest.update(data)
            return data

        try:
            index = faiss.read_index(faiss.PyCallbackIOReader(read))
        except RuntimeError as exc:
            raise BrokenIndex(f"{path.name} cannot be read ({str(exc).splitlines()[0][:120]})") from None
        digest.update(f.read())  # bytes faiss did not need still count
    if digest.hexdigest() != checksum:
        raise BrokenIndex(f"{path.name} is damaged: its checksum is not the one recorded when it was written")
    return index


def _read_meta(con: sqlite3.Connection) -> Meta:
    """The meta of what ``con`` reads (the first read of a transaction fixes its snapshot)."""
    try:
        meta = {row[0]: row[1] for row in con.execute("SELECT key, value FROM meta")}
        return Meta(int(meta["generation"]), meta["dense"], meta["dense_sha256"], int(meta["next_id"]))
    except sqlite3.DatabaseError as exc:
        raise BrokenIndex(f"{DB} cannot be read ({exc})") from None
    except (KeyError, ValueError) as exc:
        raise BrokenIndex(f"the meta table of {DB} lacks {exc}") from None


def _write_meta(con: sqlite3.Connection, meta: Meta) -> None:
    con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [(key, str(value)) for key, value in asdict(meta).items()])


def _remove_stale_dense(folder: Path, keep: set[str]) -> None:
    """FAISS files older than the previous generation, and temporaries of a writer that
    was killed. Run by the writer holding SQLite's write lock, before its commit: no
    other writer is mid-write. A snapshot begun before the last commit may still need
    the previous file; one begun two commits ago finds its file gone and begins again
    (``Index.reading``)."""
    for path in folder.glob("dense*.faiss"):
        if path.name not in keep:
            path.unlink(missing_ok=True)
    remove_stale_temporaries(folder, "dense*.tmp")
    # Manifests are rewritten after the commit, outside the lock: only old temporaries are stale.
    remove_stale_temporaries(folder, f"{MANIFEST}.*.tmp", older_than=STALE_MANIFEST_TMP)


def _insert(con: sqlite3.Connection, doc: Document, passages: list[Passage], first_id: int) -> list[tuple[int, str, str, str]]:
    """Insert ``doc`` and its passages, ids from ``first_id`` on; their lexical rows
    (id, words, folded, context), for the tantivy index."""
    con.execute(
        "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (doc.id, doc.title, doc.type, doc.number, doc.issuer, doc.district, doc.date, doc.period,
         json.dumps(doc.years), doc.source, doc.text, _doc_hash(doc)),
    )
    ids = list(range(first_id, first_id + len(passages)))
    con.executemany(
        'INSERT INTO passages (id, doc_id, ordinal, text, section, kind, start, "end", row) VALUES (?,?,?,?,?,?,?,?,?)',
        [(pid, doc.id, p.ordinal, p.text, p.section, p.kind, p.start, p.end,
          json.dumps(p.row.to_json(), ensure_ascii=False) if p.row else None) for pid, p in zip(ids, passages)],
    )
    rows = [(pid, *lexical_fields(doc, p)) for pid, p in zip(ids, passages)]
    con.executemany("INSERT INTO passages_fts (rowid, words, folded, context) VALUES (?,?,?,?)", rows)
    con.executemany(
        "INSERT INTO abbreviations VALUES (?,?,?,?)",
        [(doc.id, abbr, expansion, n) for (abbr, expansion), n in abbreviation_runs(doc.text).items()],
    )
    write_targets(con, doc.id, extract_targets(doc, passages))
    write_relations(con, doc.id, extract_relations(doc))
    return rows


def _lexical_rows(con: sqlite3.Connection) -> Iterator[tuple[int, str, str, str]]:
    """Every passage's lexical row, as the FTS5 table holds it (streamed)."""
    yield from con.execute("SELECT rowid, words, folded, context FROM passages_fts ORDER BY rowid")


def build_index(
    corpus: Path | Iterable[Document],
    settings: Settings,
    embedder=None,
    progress: bool = True,
) -> BuildReport:
    """Build a fresh index of ``corpus`` under ``settings.index`` and switch to it.

    When nothing could be indexed (an empty folder, only unreadable files) the report
    says so (``build`` None, ``errors``) and ``current`` stays as it was."""
    from qa.embedding import Embedder

    started = time.perf_counter()
    embedder = embedder or Embedder(settings)
    root = settings.index
    (root / "builds").mkdir(parents=True, exist_ok=True)
    # unique even for two builds in one second of one process
    build = root / "builds" / f"{datetime.now().strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    work = build.with_name("." + build.name + PARTIAL)
    work.mkdir()
    held = hold(work)  # another build finishing meanwhile must not prune this one
    from_files = isinstance(corpus, (str, Path))
    # Listed before reading: a file changed while the build reads makes it stale.
    listing = corpus_listing(Path(corpus)) if from_files else {}
    errors: list[DocumentError] = []
    try:
        written = _write_build(work, corpus, errors, settings, embedder, progress)
        if written.documents == 0:
            shutil.rmtree(work, ignore_errors=True)
            return BuildReport(0, 0, time.perf_counter() - started, written.embed_seconds, [str(e) for e in errors])
        Manifest(
            model=embedder.name, dimension=embedder.dim, documents=written.documents, passages=written.passages,
            dense_index=written.dense_index, created=_now(),
            corpus=str(Path(corpus).resolve()) if from_files else "", corpus_files=listing,
        ).write(work)
        work.rename(build)
        fsync_folder(build.parent)
        crash_point("build-renamed")
        switch(root, build, is_good=lambda folder: verify_build(folder) is None)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # gone already once renamed: the next build prunes that one
        raise
    finally:
        if held:
            held.close()
    return BuildReport(written.documents, written.passages, time.perf_counter() - started,
                       written.embed_seconds, [str(e) for e in errors], build)


@dataclass
class _Written:
    documents: int
    passages: int
    embed_seconds: float
    dense_index: str


def _write_build(work: Path, corpus: Path | Iterable[Document], errors: list[DocumentError],
                 settings: Settings, embedder, progress: bool) -> _Written:
    """store.sqlite and dense-0.faiss of ``corpus`` in the folder ``work``."""
    bar = _BuildProgress(_document_count(corpus), enabled=progress)
    documents = iter_documents(Path(corpus), errors) if isinstance(corpus, (str, Path)) else iter(corpus)
    con = _connect(work / DB)
    _create_schema(con)
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
        crash_point("build-inserted")
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
        vectors.clear()  # the matrix holds them now
        dense, kind = dense_factory(n_passages, embedder.dim, settings.exact_max)
        if kind != "flat":
            dense.index.train(matrix)
        dense.add_with_ids(matrix, np.arange(1, n_passages + 1, dtype=np.int64))
        del matrix
        checksum = _write_faiss(dense, work, dense_name(0))
        _write_meta(con, Meta(0, dense_name(0), checksum, n_passages + 1))
        con.execute("INSERT INTO passages_fts(passages_fts) VALUES ('optimize')")
        con.commit()
        crash_point("build-committed")
        # After the bulk insert (a rollback journal is cheaper for one huge transaction):
        # from now on searches read while `qa add` / `qa remove` write.
        _use_wal(con)
        if settings.lexical_engine == "tantivy":
            LexicalIndex(work, create=True).rebuild(0, _lexical_rows(con))
    finally:
        bar.close()
        con.close()
    return _Written(n_docs, n_passages, embed_seconds, kind)


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


def index_is_current(settings: Settings) -> bool:
    """True when the current build is sound (``verify_build``), matches the model and
    code versions, and was built from ``settings.corpus`` as it is now: the same folder
    or file holding the same files, with the same sizes and modification times. What
    ``make serve`` checks."""
    folder = settings.index / CURRENT
    try:
        manifest = Manifest.read(folder)
    except (OSError, ValueError, TypeError):
        return False
    if (manifest.model, manifest.normalizer_version, manifest.chunker_version, manifest.store_version) != (
        settings.model, NORMALIZER_VERSION, CHUNKER_VERSION, STORE_VERSION
    ):
        return False
    return _built_from(manifest, folder, Path(settings.corpus)) and verify_build(folder) is None


def _built_from(manifest: Manifest, folder: Path, corpus: Path) -> bool:
    if not manifest.corpus:
        # Built from documents in memory (the development archive): whoever built it
        # compares what it holds; here only that no corpus file is newer than the build.
        built = (folder / MANIFEST).stat().st_mtime_ns
        return all(mtime <= built for _, mtime in corpus_listing(corpus).values())
    return manifest.corpus == str(corpus.resolve()) and manifest.corpus_files == corpus_listing(corpus)


def verify_build(folder: Path) -> str | None:
    """What is wrong with the build in ``folder``, or None when nothing is: its manifest
    reads, its meta names a FAISS file that is there, has the recorded checksum and holds
    exactly the passages' ids. Reads the whole FAISS file."""
    try:
        Manifest.read(folder)
    except (OSError, ValueError, TypeError) as exc:
        return f"its {MANIFEST} cannot be read ({exc})"
    if not (folder / DB).is_file():
        return f"its {DB} is missing"
    try:
        con = _connect_read_only(folder / DB)
    except sqlite3.DatabaseError as exc:
        return f"its {DB} cannot be read ({exc})"
    try:
        con.execute("BEGIN")  # one snapshot: the meta and the passages it describes
        meta = _read_meta(con)
        try:
            dense = _read_faiss(folder / meta.dense, meta.dense_sha256)
        except FileNotFoundError:
            return f"{meta.dense}, the dense index its {DB} names, is missing"
        _check(con, meta, dense)
    except BrokenIndex as exc:
        return str(exc)
    except sqlite3.DatabaseError as exc:
        return f"its {DB} cannot be read ({exc})"
    finally:
        con.close()
    return None


def _check(con: sqlite3.Connection, meta: Meta, dense: faiss.Index) -> None:
    """Raises BrokenIndex unless ``dense`` holds a vector for exactly the passages ``con``
    reads, and the id counter is past every passage id."""
    ids = np.asarray([row[0] for row in con.execute("SELECT id FROM passages ORDER BY id")], dtype=np.int64)
    if dense.ntotal != len(ids):
        raise BrokenIndex(f"{DB} holds {len(ids)} passages but {meta.dense} holds {dense.ntotal} vectors")
    if not np.array_equal(np.sort(faiss.vector_to_array(dense.id_map)), ids):
        raise BrokenIndex(f"the passage ids of {DB} and of {meta.dense} differ")
    if len(ids) and ids[-1] >= meta.next_id:
        raise BrokenIndex(f"the passage id counter of {DB} ({meta.next_id}) is not past its passages' ids")


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
    row: TableRow | None = None  # a table row's fields (kind == "table_row")

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> PassageRecord:
        values = dict(row)
        values["row"] = TableRow.from_json(json.loads(values["row"])) if values["row"] else None
        return cls(**values)


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


def _refuse_mismatch(manifest: Manifest, settings: Settings, embedder) -> None:
    """StoreError when the build cannot serve this model or this version of qa."""
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


@dataclass(frozen=True)
class _View:
    """What a search reads besides SQLite, for one generation of the build. Never changed
    once made: a change makes a new one, so a search holding this one is undisturbed."""

    generation: int
    dense_file: str
    dense: faiss.Index
    documents: dict[str, DocumentRecord]
    # Read on first use by Index.targets() / Index.graph(): the targets and the relations
    # graph of this generation (one search or page view of the documents needs them).
    derived: dict[str, object] = field(default_factory=dict, compare=False)


class Index:
    """An open index: read by search, changed by ``add`` / ``remove``.

    Safe to share between threads: reads go through each thread's read-only
    connection; ``add`` / ``remove`` through one write connection, one at a time.
    """

    def __init__(self, folder: Path, settings: Settings, embedder=None):
        """Open the build in ``folder`` (``Index.open`` finds it). Raises
        FileNotFoundError when the folder or its manifest is gone (pruned), BrokenIndex
        when its files are damaged or disagree (``_check``)."""
        self.folder = folder
        self.settings = settings
        self._embedder = embedder
        # Why this is not the current build (``Index.open`` fell back to the previous one), else None.
        self.fallback: str | None = None
        self._local = threading.local()  # per thread: the read connection, the pinned view
        self._swap = threading.Lock()    # a snapshot's begin and the view it gets; a commit and its view
        self._load = threading.Lock()    # one thread loads another process's generation
        self._write = threading.Lock()   # one change at a time
        self._writer: sqlite3.Connection | None = None
        self._held = hold(folder)
        try:
            if not (folder / MANIFEST).exists():  # pruned before we held it: a newer build is current
                raise FileNotFoundError(folder / MANIFEST)
            manifest = Manifest.read(folder)
            self._lexicon = LexicalIndex.open(folder) if settings.lexical_engine == "tantivy" else None
            self._view, (documents, passages) = self._first_view()
        except BaseException:
            self.close()
            raise
        # The counts SQLite holds: the manifest lags one change behind after a crash between a commit and its rewrite.
        self.manifest = replace(manifest, documents=documents, passages=passages, generation=self._view.generation)

    def _first_view(self) -> tuple[_View, tuple[int, int]]:
        """The newest generation with its counts, checked (``_check``)."""
        try:
            con = self._reader()
            for _ in range(SNAPSHOT_ATTEMPTS):
                con.execute("BEGIN")
                try:
                    meta = _read_meta(con)
                    try:
                        view = self._load_view(con, meta)
                    except FileNotFoundError:
                        continue  # removed by a writer two commits on since the snapshot began: begin again
                    _check(con, meta, view.dense)
                    return view, _counts(con)
                finally:
                    con.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise BrokenIndex(f"its {DB} cannot be read ({exc})") from None
        raise BrokenIndex(f"{meta.dense}, the dense index its {DB} names, is missing")

    @classmethod
    def open(cls, settings: Settings, embedder=None) -> Index:
        """The current build of ``settings.index``. When it is broken, the previous good
        build, read-only, with ``fallback`` saying why; when there is none, StoreError
        saying to rebuild."""
        root = settings.index
        if not (root / CURRENT).is_symlink() and not (root / CURRENT).exists():
            raise StoreError(f"no index in {root}: build one with `qa build --corpus PATH --index {root}`")
        try:
            index = cls._open_link(root / CURRENT, settings, embedder)
        except BrokenIndex as broken:
            problem = f"the current build of the index in {root} is broken: {broken}"
        else:
            index.repair_lexicon()
            return index
        if target(root, PREVIOUS) is not None:
            try:
                index = cls._open_link(root / PREVIOUS, settings, embedder)
            except BrokenIndex:
                pass
            else:
                log.warning("%s; serving the previous build %s until `qa build` makes a new one", problem, index.folder.name)
                index.fallback = problem
                return index
        raise StoreError(f"{problem}; rebuild it with `qa build --corpus PATH --index {root}`")

    @classmethod
    def _open_link(cls, link: Path, settings: Settings, embedder) -> Index:
        """The build ``link`` (``current`` or ``previous``) names, followed again when a
        build switches it as we open."""
        for _ in range(SNAPSHOT_ATTEMPTS):
            folder = link.resolve()
            try:
                manifest = Manifest.read(folder)
            except (OSError, ValueError, TypeError) as exc:
                if link.resolve() != folder:
                    continue  # a build switched the link and pruned this one as we opened it: open the new one
                raise BrokenIndex(f"its {MANIFEST} cannot be read ({exc})") from None
            _refuse_mismatch(manifest, settings, embedder)
            try:
                return cls(folder, settings, embedder)
            except FileNotFoundError:
                if link.resolve() != folder:
                    continue  # the same, a moment later
                raise BrokenIndex(f"its {MANIFEST} is missing") from None
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
                meta = _read_meta(con)  # the first read fixes the snapshot
                view = self._view
            if view.dense_file == meta.dense:
                return view
            try:  # another process changed this build since: load what this snapshot reads
                return self._other_generation(con, meta)
            except FileNotFoundError:
                con.execute("COMMIT")  # that generation's vectors are gone already: begin again
        raise StoreError(f"the index in {self.folder} keeps changing under this search; try again")

    def _other_generation(self, con: sqlite3.Connection, meta: Meta) -> _View:
        with self._load:
            view = self._view
            if view.dense_file != meta.dense:
                view = self._load_view(con, meta)
                with self._swap:
                    if view.generation > self._view.generation:
                        self._view = view
            return view

    def _load_view(self, con: sqlite3.Connection, meta: Meta) -> _View:
        dense = _read_faiss(self.folder / meta.dense, meta.dense_sha256)
        return _View(meta.generation, meta.dense, dense, _read_documents(con))

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

    def targets(self) -> TargetBook:
        """Every target and reported figure of the pinned generation, grouped by indicator."""
        view = self._pinned()
        if "targets" not in view.derived:  # two threads may both load it once: same result
            view.derived["targets"] = TargetBook.load(self.con)
        return view.derived["targets"]

    def warm(self) -> None:
        """Load the targets and the relations graph of the newest generation now, so that the
        first /targets or document view after a start or a change does not wait for them
        (the targets take seconds on an archive)."""
        with self.reading():
            self.targets()
            self.graph()

    def graph(self) -> Graph:
        """The relations among the documents of the pinned generation (with reverse edges)."""
        view = self._pinned()
        if "graph" not in view.derived:
            view.derived["graph"] = load_graph(self.con, view.documents.values())
        return view.derived["graph"]

    def validity(self, doc_id: str) -> Validity | None:
        """Whether ``doc_id`` is in force, with the evidence (``qa.relations.validity``: its own
        clauses, the indexed documents that replace or amend it); None if not indexed.
        Judged once a day per generation: a search reads it for every candidate document."""
        view = self._pinned()
        doc = view.documents.get(doc_id)
        if doc is None:
            return None
        today = date.today().isoformat()
        known = view.derived.get("validity")
        if known is None or known[0] != today:
            known = view.derived["validity"] = (today, {})
        if doc_id not in known[1]:
            graph = self.graph()
            text = SimpleNamespace(id=doc.id, text=self.document_text(doc_id) or "", number=doc.number,
                                   type=doc.type, date=doc.date)
            known[1][doc_id] = validity(text, graph.relations.get(doc_id, []), graph.incoming(doc_id),
                                        view.documents, today)
        return known[1][doc_id]

    def document_text(self, doc_id: str) -> str | None:
        row = self.con.execute("SELECT text FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return row["text"] if row else None

    def passages(self, ids: Iterable[int]) -> dict[int, PassageRecord]:
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.con.execute(f"SELECT * FROM passages WHERE id IN ({marks})", ids).fetchall()
        return {row["id"]: PassageRecord.from_row(row) for row in rows}

    def passage_ids(self, doc_ids: Iterable[str]) -> np.ndarray:
        return _passage_ids(self.con, doc_ids)

    def passage_ids_by_ordinal(self, doc_ids: Iterable[str]) -> dict[tuple[str, int], int]:
        """(document id, ordinal) -> passage id, for the passages of ``doc_ids``: where a
        target record (``TargetRecord.passage``, an ordinal) is in the index."""
        doc_ids = list(doc_ids)
        marks = ",".join("?" * len(doc_ids))
        rows = self.con.execute(f"SELECT doc_id, ordinal, id FROM passages WHERE doc_id IN ({marks})", doc_ids)
        return {(doc_id, ordinal): pid for doc_id, ordinal, pid in rows}

    def lexical(self, query: LexicalQuery, k: int, weights: tuple[float, float, float],
                allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``k`` passages of best BM25 for ``query`` (among ``allowed``), best first,
        score > 0: from tantivy when it is of the pinned generation, else from FTS5."""
        if not query:
            return []
        searcher = self._lexical_searcher(self._pinned())
        if searcher is not None:
            return self._lexicon.search(searcher, query, weights, k, allowed)
        return self.fts5(query.fts5(), k, weights, allowed)

    def lexical_engine(self) -> str:
        """The engine ``lexical`` uses for the pinned generation: "tantivy" or "fts5"."""
        return "tantivy" if self._lexical_searcher(self._pinned()) is not None else "fts5"

    def lexical_passage_ids(self) -> set[int] | None:
        """The passage ids tantivy holds for the pinned generation (None: FTS5 is used)."""
        searcher = self._lexical_searcher(self._pinned())
        return None if searcher is None else self._lexicon.ids(searcher)

    def _lexical_searcher(self, view: _View):
        """A tantivy snapshot of ``view``'s generation, or None (use FTS5). Looked for
        again at most once a second while tantivy is at another generation (another
        process's change between its two commits, or a crash not yet repaired)."""
        if self._lexicon is None:
            return None
        found = view.derived.get("lexical")
        if found is not None or time.monotonic() < view.derived.get("lexical_retry", 0.0):
            return found
        view.derived["lexical_retry"] = time.monotonic() + 1.0
        searcher = self._lexicon.searcher()
        if self._lexicon.generation(searcher) != view.generation:
            self._lexicon.reload()
            searcher = self._lexicon.searcher()
        if self._lexicon.generation(searcher) != view.generation:
            return None
        view.derived["lexical"] = searcher
        return searcher

    def repair_lexicon(self) -> None:
        """Rebuild the tantivy index from FTS5 when it is not of the newest generation
        (a crash between its commit and SQLite's, or a build made before it existed)."""
        if self.settings.lexical_engine != "tantivy" or self.fallback:
            return
        if self._lexicon is not None and self._lexical_searcher(self._view) is not None:
            return
        with self._write:
            try:
                con = self._writer_con()
                con.execute("BEGIN IMMEDIATE")  # the build's one writer, in any process
            except sqlite3.Error as exc:
                log.warning("cannot repair the tantivy index of %s (%s); searching with FTS5", self.folder.name, exc)
                return
            try:
                meta = _read_meta(con)
                if self._lexicon is not None:  # another process may have repaired it as we waited
                    self._lexicon.reload()
                    if self._lexicon.generation(self._lexicon.searcher()) == meta.generation:
                        return
                searcher = self._change_lexicon(con, meta.generation, meta.generation, [], np.zeros(0, np.int64))
                view = self._view
                if searcher is not None and view.generation == meta.generation:
                    view.derived["lexical"] = searcher
            finally:
                con.execute("COMMIT")

    def _change_lexicon(self, con: sqlite3.Connection, before: int, after: int, rows: list, removed: np.ndarray):
        """Bring the tantivy index from generation ``before`` to ``after`` (adding ``rows``,
        removing ``removed``), or rebuild it from what ``con`` reads when it is not at
        ``before``. Returns a snapshot of ``after``, or None when tantivy could not be
        written (FTS5 answers meanwhile; the next change tries again)."""
        try:
            if self._lexicon is None:
                self._lexicon = LexicalIndex.open(self.folder) or LexicalIndex(self.folder, create=True)
            lexicon = self._lexicon
            lexicon.reload()
            if before != after and lexicon.generation(lexicon.searcher()) == before:
                lexicon.write(after, rows, removed)
            else:
                log.warning("the tantivy index of %s is behind its store; rebuilding it from FTS5", self.folder.name)
                lexicon.rebuild(after, _lexical_rows(con))
            searcher = lexicon.searcher()
            return searcher if lexicon.generation(searcher) == after else None
        except (OSError, ValueError) as exc:  # ValueError: tantivy's errors
            log.warning("the tantivy index of %s could not be written (%s); searching with FTS5", self.folder.name, exc)
            return None

    def fts5(self, match: str, k: int, weights: tuple[float, float, float], allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
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
    def add(self, path: Path) -> AddReport:
        """Index the document(s) at ``path``; a changed document replaces its old passages.

        A document that cannot be read goes into the report's ``errors`` and the others
        are indexed all the same; StoreError only when the index itself cannot change."""
        self._refuse_changes_on_fallback()
        path = Path(path)
        report = AddReport()
        listing = self._corpus_files_at(path)  # before reading, as a build lists its corpus
        try:
            for doc in iter_documents(path, report.errors):
                if self._holds(doc):
                    report.unchanged.append(doc.id)
                else:
                    self._replace(doc)
                    report.changed.append(doc.id)
        except DocumentError as error:  # no such file or folder
            report.errors.append(error)
        if listing:
            with self._write:
                self._update_manifest(corpus_files={**self._manifest_on_disk().corpus_files, **listing})
        return report

    def remove(self, doc_id: str) -> int:
        """Remove a document and its passages; returns how many passages went."""
        self._refuse_changes_on_fallback()
        if not self.con.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone():
            raise KeyError(doc_id)
        return self._replace(None, remove_id=doc_id)

    def _refuse_changes_on_fallback(self) -> None:
        if self.fallback:
            raise StoreError(f"{self.fallback}; the previous build serves searches meanwhile but is not changed: "
                             f"rebuild with `qa build --corpus PATH --index {self.settings.index}` first")

    def _holds(self, doc: Document) -> bool:
        """True when the index holds this exact version of ``doc`` (text and metadata)."""
        row = self.con.execute("SELECT hash FROM documents WHERE id = ?", (doc.id,)).fetchone()
        return bool(row) and row["hash"] == _doc_hash(doc)

    def _corpus_files_at(self, path: Path) -> dict[str, list[int]]:
        """The manifest's ``corpus_files`` entries of the files at ``path`` when they lie in
        the corpus this build was made from: once added, they no longer make the index
        stale (``index_is_current``). Empty for files from elsewhere."""
        if not self.manifest.corpus or not path.exists():
            return {}
        corpus, path = Path(self.manifest.corpus), path.resolve()
        if corpus.is_file():
            return corpus_listing(corpus) if path == corpus else {}
        if not path.is_relative_to(corpus):
            return {}
        where = path.relative_to(corpus)
        if path.is_file():
            return {where.as_posix(): stamp for stamp in corpus_listing(path).values() if is_read_by_build(where)}
        return {(where / name).as_posix(): stamp for name, stamp in corpus_listing(path).items()
                if is_read_by_build(where / name)}

    def _manifest_on_disk(self) -> Manifest:
        try:
            return Manifest.read(self.folder)
        except (OSError, ValueError, TypeError):
            return self.manifest  # damaged since we opened it: ours is the best there is

    def _update_manifest(self, **changes) -> None:
        """Rewrite the manifest with ``changes`` on top of what is on disk (another process
        may have written it), unless that already describes a newer generation. Holding
        ``_write``."""
        on_disk = self._manifest_on_disk()
        self.manifest = replace(self.manifest, **changes)
        if changes.get("generation", on_disk.generation) >= on_disk.generation:
            replace(on_disk, **changes).write(self.folder)

    def _writer_con(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = _connect(self.folder / DB)
            self._writer.isolation_level = None  # _replace begins and commits itself
            _use_wal(self._writer)
        return self._writer

    def _replace(self, doc: Document | None, remove_id: str | None = None) -> int:
        """Put ``doc`` in place of its old version (or remove ``remove_id``) in one
        generation: the FAISS file of the new generation is written durably, then one
        commit changes the passages and names that file. Killed at any point, the build
        stays at the old generation or is at the new one, whole."""
        self._refuse_changes_on_fallback()
        doc_id = doc.id if doc else remove_id
        passages = chunk_document(doc) if doc else []
        # Embedding is the slow part: before any lock, while searches and writers go on.
        vectors = self.embedder.encode_passages([embedding_text(doc, p) for p in passages]) if passages else None
        with self._write:
            con = self._writer_con()
            con.execute("BEGIN IMMEDIATE")  # the build's one writer until COMMIT, in any process
            written = None
            try:
                meta = _read_meta(con)  # another process may have changed the build since we opened it
                base = self._view_of(con, meta)
                old = _passage_ids(con, [doc_id])
                _delete(con, doc_id, old)
                dense = faiss.clone_index(base.dense)  # searches keep reading base.dense, untouched
                if len(old):
                    dense.remove_ids(old)
                next_id = meta.next_id  # never MAX(id) + 1: a removed passage's id stays retired
                rows = []
                if doc:
                    rows = _insert(con, doc, passages, next_id)
                    next_id += len(passages)
                    if passages:
                        dense.add_with_ids(vectors, np.asarray([r[0] for r in rows], dtype=np.int64))
                crash_point("replace-changed")
                written = dense_name(meta.generation + 1)
                checksum = _write_faiss(dense, self.folder, written)  # durable before the commit that names it
                crash_point("replace-dense-written")
                new = Meta(meta.generation + 1, written, checksum, next_id)
                _write_meta(con, new)
                _remove_stale_dense(self.folder, keep={written, base.dense_file})
                view = _View(new.generation, written, dense, _read_documents(con))
                documents, passage_count = _counts(con)
                crash_point("replace-before-lexical")
                if self.settings.lexical_engine == "tantivy":  # before SQLite's commit, under its write lock
                    searcher = self._change_lexicon(con, meta.generation, new.generation, rows, old)
                    if searcher is not None:
                        view.derived["lexical"] = searcher
                crash_point("replace-before-commit")
                with self._swap:
                    con.execute("COMMIT")
                    self._view = view
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                if written:  # never committed: the meta still names base's file
                    (self.folder / written).unlink(missing_ok=True)
                raise
            crash_point("replace-committed")
            self._update_manifest(documents=documents, passages=passage_count, generation=new.generation)
        return len(old)

    def _view_of(self, con: sqlite3.Connection, meta: Meta) -> _View:
        """The view of what ``con`` (holding the write lock) reads: the newest generation."""
        view = self._view
        return view if view.dense_file == meta.dense else self._load_view(con, meta)


def _delete(con: sqlite3.Connection, doc_id: str, passage_ids: np.ndarray) -> None:
    if len(passage_ids):
        marks = ",".join("?" * len(passage_ids))
        con.execute(f"DELETE FROM passages_fts WHERE rowid IN ({marks})", passage_ids.tolist())
    delete_targets(con, doc_id)
    delete_relations(con, doc_id)
    con.execute("DELETE FROM documents WHERE id = ?", (doc_id,))  # cascades to passages and abbreviations


def _passage_ids(con: sqlite3.Connection, doc_ids: Iterable[str]) -> np.ndarray:
    doc_ids = list(doc_ids)
    marks = ",".join("?" * len(doc_ids))
    rows = con.execute(f"SELECT id FROM passages WHERE doc_id IN ({marks})", doc_ids).fetchall()
    return np.asarray([r[0] for r in rows], dtype=np.int64)


def _counts(con: sqlite3.Connection) -> tuple[int, int]:
    docs = con.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    passages = con.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
    return docs, passages
