"""The index on disk: documents, passages, a lexical index and a dense index.

Layout of an index directory (``QA_INDEX``)::

    index/
      current -> builds/20261121T220501-1234   (symlink, switched atomically)
      builds/<name>/
        manifest.json   model, dimension, normaliser and chunker versions, counts
        store.sqlite    documents, passages, FTS5 lexical index (words + folded)
        dense.faiss     FAISS index keyed by passage id (IndexIDMap2)

``build_index`` writes a new build directory and switches ``current`` to it
only when it is complete, so a crash mid-build leaves the previous index
serving. ``Index.add`` and ``Index.remove`` change the current build in place,
in one SQLite transaction plus an atomic replace of the FAISS file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

from qa.chunking import CHUNKER_VERSION, Passage, chunk_document
from qa.config import Settings
from qa.documents import Document, DocumentError, iter_documents
from qa.query import abbreviation_runs, choose_expansions
from qa.text import NORMALIZER_VERSION, fold, segment

STORE_VERSION = 1
MANIFEST = "manifest.json"
DB = "store.sqlite"
DENSE = "dense.faiss"

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
    con = sqlite3.connect(path, check_same_thread=False)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA foreign_keys = ON")
    return con


def _write_faiss(index: faiss.Index, folder: Path) -> None:
    tmp = folder / (DENSE + ".tmp")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, folder / DENSE)


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
    from tqdm import tqdm

    from qa.embedding import Embedder

    started = time.perf_counter()
    embedder = embedder or Embedder(settings)
    root = settings.index
    (root / "builds").mkdir(parents=True, exist_ok=True)
    # unique even for two builds in one second of one process
    build = root / "builds" / f"{datetime.now().strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    work = build.with_name("." + build.name + ".partial")
    work.mkdir()
    errors: list[DocumentError] = []
    documents = iter_documents(Path(corpus), errors) if isinstance(corpus, (str, Path)) else iter(corpus)
    con = _connect(work / DB)
    con.executescript(SCHEMA)
    vectors: list[np.ndarray] = []
    ids: list[int] = []
    embed_seconds = 0.0
    n_docs = 0
    bar = tqdm(desc="indexing", unit=" passages", disable=not progress)
    try:
        for batch in _batches(_chunked(documents), 256):
            texts = []
            for doc, passages in batch:
                ids += _insert(con, doc, passages, len(ids) + 1)
                texts += [embedding_text(doc, p) for p in passages]
                n_docs += 1
            t = time.perf_counter()
            if texts:
                vectors.append(embedder.encode_passages(texts))
            embed_seconds += time.perf_counter() - t
            bar.update(len(texts))
        con.commit()
        bar.close()
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
        dense, kind = dense_factory(len(ids), embedder.dim, settings.exact_max)
        if kind != "flat":
            dense.index.train(matrix)
        dense.add_with_ids(matrix, np.asarray(ids, dtype=np.int64))
        _write_faiss(dense, work)
        con.execute("INSERT INTO passages_fts(passages_fts) VALUES ('optimize')")
        con.commit()
    except BaseException:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
        raise
    con.close()
    Manifest(
        model=embedder.name, dimension=embedder.dim, documents=n_docs, passages=len(ids),
        dense_index=kind, created=_now(), corpus=str(corpus) if isinstance(corpus, (str, Path)) else "",
    ).write(work)
    work.rename(build)
    _link_current(root, build)
    _prune_builds(root, keep=build)
    return BuildReport(n_docs, len(ids), time.perf_counter() - started, embed_seconds, [str(e) for e in errors])


def _chunked(documents: Iterable[Document]) -> Iterator[tuple[Document, list[Passage]]]:
    seen: set[str] = set()
    for doc in documents:
        if doc.id in seen:  # two files with one stem: the first wins, loudly
            raise StoreError(f"two documents share the id {doc.id!r}; rename one of them")
        seen.add(doc.id)
        yield doc, chunk_document(doc)


def _batches(items: Iterable, size: int) -> Iterator[list]:
    """Groups of documents holding about ``size`` passages, to embed together."""
    batch, count = [], 0
    for item in items:
        batch.append(item)
        count += len(item[1])
        if count >= size:
            yield batch
            batch, count = [], 0
    if batch:
        yield batch


def _prune_builds(root: Path, keep: Path) -> None:
    """Old builds are removed once the new one is current (a stale .partial too)."""
    for old in (root / "builds").iterdir():
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


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


class Index:
    """An open index: read by search, changed by ``add`` / ``remove``."""

    def __init__(self, folder: Path, settings: Settings, embedder=None):
        self.folder = folder
        self.settings = settings
        self.manifest = Manifest.read(folder)
        self._embedder = embedder
        self.con = _connect(folder / DB)
        self.dense = faiss.read_index(str(folder / DENSE))
        self._documents: dict[str, DocumentRecord] | None = None

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
        return cls(folder.resolve(), settings, embedder)

    # -- reading ------------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            from qa.embedding import Embedder

            self._embedder = Embedder(self.settings)
        return self._embedder

    def documents(self) -> dict[str, DocumentRecord]:
        if self._documents is None:
            rows = self.con.execute("SELECT * FROM documents ORDER BY id").fetchall()
            self._documents = {row["id"]: DocumentRecord.from_row(row) for row in rows}
        return self._documents

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
        doc_ids = list(doc_ids)
        marks = ",".join("?" * len(doc_ids))
        rows = self.con.execute(f"SELECT id FROM passages WHERE doc_id IN ({marks})", doc_ids).fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)

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
        if self.dense.ntotal == 0:
            return []
        params = None
        if allowed is not None:
            if len(allowed) == 0:
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        scores, ids = self.dense.search(vector.reshape(1, -1), min(k, self.dense.ntotal), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def counts(self) -> tuple[int, int]:
        docs = self.con.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        passages = self.con.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        return docs, passages

    def vocabulary(self) -> list[tuple[str, int]]:
        """Every word form of the lexical ``words`` column, with its number of occurrences."""
        self.con.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, passages_fts, 'col')")
        return [tuple(r) for r in self.con.execute("SELECT term, cnt FROM temp.vocab WHERE col = 'words'")]

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

    def _replace(self, doc: Document | None, remove_id: str | None = None) -> int:
        doc_id = doc.id if doc else remove_id
        passages = chunk_document(doc) if doc else []
        vectors = self.embedder.encode_passages([embedding_text(doc, p) for p in passages]) if passages else None
        old = self.passage_ids([doc_id])
        with self.con:  # one transaction
            if len(old):
                marks = ",".join("?" * len(old))
                self.con.execute(f"DELETE FROM passages_fts WHERE rowid IN ({marks})", old.tolist())
            self.con.execute("DELETE FROM documents WHERE id = ?", (doc_id,))  # cascades to passages
            if doc:
                next_id = (self.con.execute("SELECT MAX(id) FROM passages").fetchone()[0] or 0) + 1
                ids = _insert(self.con, doc, passages, next_id)
            if len(old):
                self.dense.remove_ids(old)
            if doc and passages:
                self.dense.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
            _write_faiss(self.dense, self.folder)
        self.manifest.documents, self.manifest.passages = self.counts()
        self.manifest.generation += 1
        self.manifest.write(self.folder)
        self._documents = None
        return len(old)
