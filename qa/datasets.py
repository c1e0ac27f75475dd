"""Evaluation datasets: the development set and BEIR-format folders, and their
relevance judgments (qrels).

* **the development set** (``eval/datasets/district-docs``: ``queries.jsonl`` with
  ``_id, text, category, doc_id, answers, pinned, near_miss`` and no corpus file).
  Its corpus is the service's own. Relevance is judged at **passage** level: a
  passage is relevant when it comes from an accepted document (``doc_id``, and in the
  development archive its other-year versions when the query is not ``pinned``) and
  contains that document's answer (``passage_qrels``), derived from the index
  evaluated, so the labels survive re-chunking.
* **BEIR-format datasets** (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``),
  judged by their own qrels at **document** (record) level.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qa.config import PROJECT_ROOT, Settings

DEV_KIND, BEIR_KIND = "devset", "beir"
UNANSWERABLE = "unanswerable"
DEV_SET = PROJECT_ROOT / "eval" / "datasets" / "district-docs"


@dataclass
class EvalQuery:
    id: str
    text: str
    category: str = "all"
    doc_id: str | None = None      # development set: the labelled document
    answers: list[str] = field(default_factory=list)
    answerable: bool = True
    # only doc_id answers it (it names the year, the period or the figure); otherwise a
    # version of another year of doc_id (in the archive) answers it as well
    pinned: bool = True
    near_miss: str | None = None   # unanswerable: year, district, period, absent, out_of_domain
    # doc id -> the labelled answers as that document states them (doc_id, and when not
    # pinned its other-year versions in the archive); filled by ``accept_versions``
    accepted: dict[str, list[str]] = field(default_factory=dict)
    # False for an unanswerable question about another year that the index evaluated holds a
    # constructed version of (``accept_versions``): it may be answered there, rightly
    judged: bool = True

    def accepted_answers(self) -> dict[str, list[str]]:
        return self.accepted or ({self.doc_id: self.answers} if self.doc_id else {})


@dataclass
class Dataset:
    name: str
    path: Path
    kind: str                      # DEV_KIND or BEIR_KIND
    corpus: Path
    queries: list[EvalQuery]
    # BEIR: document-level qrels from the file; development set: {} until
    # ``passage_qrels`` derives them from an index.
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def level(self) -> str:
        return "passage" if self.kind == DEV_KIND else "document"


def _corpus_file(folder: Path) -> Path | None:
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _queries_file(folder: Path) -> Path | None:
    for name in ("queries.jsonl", "queries.jsonl.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def detect_kind(folder: Path) -> str:
    """``beir`` when the folder holds a corpus and qrels, ``devset`` when it holds
    only labelled queries (their corpus is the service's own)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"no dataset folder at {folder}")
    if _queries_file(folder) is None:
        raise ValueError(f"{folder} has no queries.jsonl: not a dataset")
    if _corpus_file(folder) is not None:
        if not (folder / "qrels" / "test.tsv").is_file():
            raise ValueError(f"{folder} has a corpus but no qrels/test.tsv (BEIR format expected)")
        return BEIR_KIND
    return DEV_KIND


def _read_jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path} line {n}: not valid JSON ({e})") from e


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """A BEIR qrels TSV (``query-id corpus-id score``, header optional); judgments
    with score <= 0 (judged non-relevant) are dropped."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if not line.strip() or (n == 1 and parts[0] == "query-id"):
                continue
            if len(parts) < 3:
                raise ValueError(f"{path} line {n}: expected query-id, corpus-id, score")
            try:
                score = int(float(parts[2]))
            except ValueError as e:
                raise ValueError(f"{path} line {n}: score {parts[2]!r} is not a number") from e
            if score > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = score
    return qrels


def _answers(record: dict) -> list[str]:
    meta = record.get("metadata") or {}
    value = record.get("answers", meta.get("answers", meta.get("answer", [])))
    values = [value] if isinstance(value, str) else list(value or [])
    return [str(v) for v in values if str(v).strip()]


def load_dataset(folder: Path, settings: Settings, limit: int | None = None) -> Dataset:
    """Read a dataset folder; ``limit`` keeps the first N (judged) queries."""
    folder = Path(folder)
    kind = detect_kind(folder)
    queries: list[EvalQuery] = []
    if kind == BEIR_KIND:
        qrels = read_qrels(folder / "qrels" / "test.tsv")
        for r in _read_jsonl(_queries_file(folder)):
            qid = str(r.get("_id", r.get("id", "")))
            if qid not in qrels:  # not in the test split
                continue
            meta = r.get("metadata") or {}
            category = r.get("category") or meta.get("category") or "all"
            queries.append(EvalQuery(qid, str(r.get("text", "")), str(category), None, _answers(r), True))
            if limit is not None and len(queries) >= limit:
                break
        kept = {q.id for q in queries}
        qrels = {qid: rel for qid, rel in qrels.items() if qid in kept}
        return Dataset(folder.name, folder, kind, _corpus_file(folder), queries, qrels)
    for r in _read_jsonl(_queries_file(folder)):
        doc_id = r.get("doc_id")
        category = str(r.get("category") or "all")
        answerable = doc_id is not None and category != UNANSWERABLE
        queries.append(EvalQuery(str(r["_id"]), str(r["text"]), category, doc_id, _answers(r), answerable,
                                 bool(r.get("pinned", True)), r.get("near_miss")))
        if limit is not None and len(queries) >= limit:
            break
    return Dataset(folder.name, folder, kind, Path(settings.corpus), queries)


def accept_versions(queries: Iterable[EvalQuery], archive) -> None:
    """In the archive, a query that is not pinned to its document is answered as well
    by the other-year versions of that document, at the same place, with their figures
    (``qa.archive.Variant.translate``)."""
    district_docs = [] if archive is None else [*archive.corpus, *(v.document for v in archive.variants)]
    for q in queries:
        q.accepted = {q.doc_id: q.answers} if q.doc_id else {}
        q.judged = not (q.near_miss == "year" and _year_held(q.text, district_docs))
        if q.doc_id and not q.pinned and archive is not None:
            for version in archive.versions_of(q.doc_id):
                translated = [t for a in q.answers for t in version.translate(a)]
                if translated:
                    q.accepted[version.document.id] = list(dict.fromkeys(translated))


def _year_held(text: str, documents: list) -> bool:
    """Whether one of ``documents`` (the archive's district documents and their other-year
    versions) is of a district the question names (any, if it names none) and about the
    period it asks for: "chỉ tiêu BHYT năm 2022" is a near miss on the five documents, and
    answered by the archive's version of the 2021 plan moved to 2022."""
    from qa.periods import find_periods, most_specific, same_period
    from qa.text import fold

    folded = fold(text)
    periods = find_periods(folded)
    asked = most_specific(periods) or next((p for p in periods if p.kind == "year"), None)
    if asked is None:
        return False
    named = {d.district for d in documents if d.district and f" {fold(d.district)} " in f" {folded} "}
    return any(same_period(asked.label, d.period) and (not named or d.district in named) for d in documents)


def passage_qrels(index, queries: Iterable[EvalQuery]) -> dict[str, dict[str, int]]:
    """Passage-level qrels of the development set, from the index as it is now:
    the passages of each accepted document (``doc_id``, and in the archive its
    other-year versions when the query is not pinned) whose text contains one of
    that document's answers. Queries without a doc_id (unanswerable) get none; a
    query whose answer is in no passage gets an empty dict (reported and excluded
    by ``split_judged``)."""
    by_doc: dict[str, list[tuple[int, str]]] = {}
    qrels: dict[str, dict[str, int]] = {}
    for q in queries:
        if not q.answerable or q.doc_id is None:
            continue
        qrels[q.id] = {}
        for doc_id, answers in q.accepted_answers().items():
            if doc_id not in by_doc:
                rows = index.con.execute("SELECT id, text FROM passages WHERE doc_id = ? ORDER BY id", (doc_id,))
                by_doc[doc_id] = [(row[0], row[1]) for row in rows]
            qrels[q.id].update({str(pid): 1 for pid, text in by_doc[doc_id] if any(a in text for a in answers)})
    return qrels


def split_judged(qrels: dict[str, dict[str, int]]) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Queries with at least one relevant unit, and the ids of those without
    (ranx cannot score them: they are excluded from retrieval metrics, loudly)."""
    judged = {qid: rel for qid, rel in qrels.items() if any(v > 0 for v in rel.values())}
    return judged, [qid for qid in qrels if qid not in judged]

