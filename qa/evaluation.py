"""Evaluation: retrieval quality, answer accuracy and speed, measured the same way
every time (``qa eval``; see eval/README.md).

Two kinds of dataset, told apart by their folder:

* **the development set** (``eval/datasets/district-docs``: ``queries.jsonl`` with
  ``_id, text, category, doc_id, answers`` and no corpus file). Its corpus is the
  service's own (``settings.corpus``). Relevance is judged at **passage** level: a
  passage is relevant when it comes from the labelled ``doc_id`` and contains one of
  the ``answers``. These passage qrels are derived from the index being evaluated
  (``passage_qrels``), so the labels survive re-chunking.
* **BEIR-format datasets** (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``).
  Judged by their own qrels at **document** (record) level: each retrieved passage
  is mapped to its record and each record keeps its best rank
  (``document_ranking``). Their index lives in ``<settings.index>/eval/<name>``
  (``eval_index_settings``) and is rebuilt only when missing or stale.

Every query goes through ``Searcher.search``, the function the API and the CLI
use. Metrics come from ranx (``compute_metrics``, ``significance``); answer accuracy
uses ``qa.search.confident`` as /answer does. ``tune`` searches the fusion and
re-scoring weights and the answer thresholds on the development set.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import math
import re
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

METRICS = ("hit_rate@1", "hit_rate@5", "recall@10", "mrr@10", "ndcg@10")
LABELS = {
    "hit_rate@1": "Hit@1", "hit_rate@5": "Hit@5", "recall@10": "Recall@10", "mrr@10": "MRR@10", "ndcg@10": "nDCG@10",
}
MIN_K = 10                 # the metrics look at 10 results
ALPHA = 0.05               # significance level of the paired t-test
NO_RESULT = "__no_result__"  # placeholder so ranx accepts a query that retrieved nothing
DEV_KIND, BEIR_KIND = "devset", "beir"
UNANSWERABLE = "unanswerable"
DEFAULT_OUTPUT = PROJECT_ROOT / "eval" / "reports"
DEV_SET = PROJECT_ROOT / "eval" / "datasets" / "district-docs"
CHART_METRICS = ("mrr@10", "hit_rate@5")


# --------------------------------------------------------------------------- datasets


@dataclass
class EvalQuery:
    id: str
    text: str
    category: str = "all"
    doc_id: str | None = None      # development set: the labelled document
    answers: list[str] = field(default_factory=list)
    answerable: bool = True


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
        queries.append(EvalQuery(str(r["_id"]), str(r["text"]), category, doc_id, _answers(r), answerable))
        if limit is not None and len(queries) >= limit:
            break
    return Dataset(folder.name, folder, kind, Path(settings.corpus), queries)


def passage_qrels(index, queries: Iterable[EvalQuery]) -> dict[str, dict[str, int]]:
    """Passage-level qrels of the development set, from the index as it is now:
    the passages of ``doc_id`` whose text contains one of ``answers``.
    Queries without a doc_id (unanswerable) get none; a query whose answer is in
    no passage gets an empty dict (reported and excluded by ``split_judged``)."""
    by_doc: dict[str, list[tuple[int, str]]] = {}
    qrels: dict[str, dict[str, int]] = {}
    for q in queries:
        if not q.answerable or q.doc_id is None:
            continue
        if q.doc_id not in by_doc:
            rows = index.con.execute("SELECT id, text FROM passages WHERE doc_id = ? ORDER BY id", (q.doc_id,))
            by_doc[q.doc_id] = [(row[0], row[1]) for row in rows]
        qrels[q.id] = {str(pid): 1 for pid, text in by_doc[q.doc_id] if any(a in text for a in q.answers)}
    return qrels


def split_judged(qrels: dict[str, dict[str, int]]) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Queries with at least one relevant unit, and the ids of those without
    (ranx cannot score them: they are excluded from retrieval metrics, loudly)."""
    judged = {qid: rel for qid, rel in qrels.items() if any(v > 0 for v in rel.values())}
    return judged, [qid for qid in qrels if qid not in judged]


# --------------------------------------------------------------------------- indexes


def eval_index_settings(dataset: Dataset, settings: Settings) -> Settings:
    """Settings whose ``index`` and ``corpus`` are the ones this dataset is evaluated on.

    The development set uses the service's index (``settings.index``). A BEIR
    dataset uses ``settings.index`` itself only when that index was built from the
    dataset's corpus; otherwise its own index in ``<settings.index>/eval/<name>``
    (``index/eval/<name>`` by default), so evaluating never replaces the index the
    service serves.
    """
    if dataset.kind == DEV_KIND:
        return settings
    from qa.store import MANIFEST, Manifest

    folder = Path(settings.index)
    try:
        built_from = Manifest.read(folder / "current").corpus if (folder / "current" / MANIFEST).exists() else ""
    except (OSError, ValueError, TypeError):
        built_from = ""
    if not (built_from and Path(built_from).resolve() == dataset.corpus.resolve()):
        folder = folder / "eval" / dataset.name
    return settings.model_copy(update={"index": folder, "corpus": dataset.corpus})


def open_index(dataset: Dataset, settings: Settings, embedder=None, progress: bool = True):
    """Open the dataset's index, building it first when missing or stale
    (``qa.store.index_is_current``: model, code versions, corpus newer than index)."""
    from qa.store import Index, build_index, index_is_current

    s = eval_index_settings(dataset, settings)
    built = False
    if not index_is_current(s):
        print(f"Building the index of {s.corpus} in {s.index} …", file=sys.stderr)
        report = build_index(s.corpus, s, embedder=embedder, progress=progress)
        for error in report.errors:
            log.warning("skipped while indexing: %s", error)
        built = True
    return Index.open(s, embedder), built


# --------------------------------------------------------------------------- running


@dataclass
class Outcome:
    """What one query returned in one mode."""

    ranking: list[str]             # judged units (passage or document ids), best first
    ms: float = 0.0
    top_passage: int | None = None
    top_doc: str | None = None
    answer: str = ""
    confident: bool = False
    error: str = ""


def document_ranking(passage_docs: Iterable[str]) -> list[str]:
    """Retrieved passages' document ids (best first) -> documents, each at its best rank."""
    return list(dict.fromkeys(passage_docs))


def judged_ranking(response, level: str) -> list[str]:
    if level == "passage":
        return [str(r.passage.id) for r in response.results]
    return document_ranking(r.passage.doc_id for r in response.results)


def outcome_of(response, level: str, ms: float) -> Outcome:
    from qa.search import confident

    top = response.results[0] if response.results else None
    return Outcome(
        ranking=judged_ranking(response, level), ms=ms,
        top_passage=top.passage.id if top else None, top_doc=top.passage.doc_id if top else None,
        answer=top.answer if top else "", confident=bool(confident(response)),
    )


def run_queries(
    searcher, dataset: Dataset, modes: list[str], k: int, progress: bool = True
) -> tuple[dict[str, dict[str, Outcome]], list[float]]:
    """Every query through ``Searcher.search`` in every mode, timed around the call;
    plus the time of the query embedding alone (``embedder.encode_query``)."""
    from tqdm import tqdm

    from qa.query import QueryError, understand

    outcomes: dict[str, dict[str, Outcome]] = {m: {} for m in modes}
    embed_ms: list[float] = []
    if dataset.queries:  # warm-up (lazy caches, first FAISS/SQLite touch), untimed
        for mode in modes:
            with contextlib.suppress(QueryError):
                searcher.search(dataset.queries[0].text, k=k, mode=mode)
    embedder = searcher.index.embedder
    for q in tqdm(dataset.queries, desc=f"{dataset.name}: queries", unit=" q", disable=not progress):
        for mode in modes:
            started = time.perf_counter()
            try:
                response = searcher.search(q.text, k=k, mode=mode)
            except QueryError as error:
                log.warning("query %s (%r) fails in %s mode: %s", q.id, q.text, mode, error)
                outcomes[mode][q.id] = Outcome([], error=str(error))
                continue
            ms = (time.perf_counter() - started) * 1000
            outcomes[mode][q.id] = outcome_of(response, dataset.level, ms)
        try:
            dense_text = understand(q.text, searcher.lexicon).dense_text
        except QueryError:
            continue
        started = time.perf_counter()
        embedder.encode_query(dense_text)
        embed_ms.append((time.perf_counter() - started) * 1000)
    return outcomes, embed_ms


# --------------------------------------------------------------------------- metrics (ranx)


@contextlib.contextmanager
def _quiet_numba():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unsafe cast.*")
        warnings.filterwarnings("ignore", module="numba.*")
        yield


def make_run(rankings: dict[str, list[str]], qids: Iterable[str], name: str = "run"):
    """A ranx Run holding exactly ``qids``; scores encode the rank (1/rank), and a
    query that retrieved nothing gets a zero-score placeholder ranx accepts."""
    from ranx import Run

    data = {}
    for qid in qids:
        ranked = list(dict.fromkeys(rankings.get(qid) or []))
        data[qid] = {doc: 1.0 / (i + 1) for i, doc in enumerate(ranked)} or {NO_RESULT: 0.0}
    return Run.from_dict(data, name=name)


def compute_metrics(
    qrels: dict[str, dict[str, int]], rankings: dict[str, list[str]], metrics: Iterable[str] = METRICS
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean and per-query ranx scores of ``rankings`` (query id -> unit ids, best
    first) against ``qrels`` (query id -> {unit id: grade}). Only queries with a
    relevant unit are scored (see ``split_judged``); a query missing from
    ``rankings`` counts as having retrieved nothing.
    Returns ``({metric: mean}, {query id: {metric: score}})``."""
    from ranx import Qrels, evaluate

    metrics = list(metrics)
    judged, _ = split_judged(qrels)
    if not judged:
        return {m: float("nan") for m in metrics}, {}
    run = make_run(rankings, judged)
    with _quiet_numba():
        means = evaluate(Qrels.from_dict(judged), run, metrics, make_comparable=False)
    if len(metrics) == 1:
        means = {metrics[0]: means}
    per_query = {qid: {m: float(run.scores[m][qid]) for m in metrics} for qid in judged}
    return {m: float(v) for m, v in means.items()}, per_query


def significance(
    qrels: dict[str, dict[str, int]], rankings: dict[str, dict[str, list[str]]], metrics: Iterable[str] = METRICS,
    alpha: float = ALPHA,
) -> list[dict]:
    """Paired two-sided Student's t-test (ranx ``compare``) between every pair of
    modes, per metric: ``{a, b, metric, a_score, b_score, p, significant, better}``."""
    from ranx import Qrels, compare

    metrics = list(metrics)
    judged, _ = split_judged(qrels)
    names = list(rankings)
    if len(names) < 2 or len(judged) < 2:
        return []
    runs = [make_run(rankings[name], judged, name) for name in names]
    with _quiet_numba(), np.errstate(all="ignore"):
        report = compare(Qrels.from_dict(judged), runs, metrics, stat_test="student", max_p=alpha)
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for m in metrics:
                result = report.comparisons[frozenset([a, b])][m]
                p = float(result["p_value"])
                sa, sb = float(report.results[a][m]), float(report.results[b][m])
                significant = not math.isnan(p) and p < alpha
                rows.append({
                    "a": a, "b": b, "metric": m, "a_score": sa, "b_score": sb,
                    "p": None if math.isnan(p) else p, "significant": significant,
                    "better": (a if sa > sb else b) if significant and sa != sb else None,
                })
    return rows


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def by_category(
    queries: list[EvalQuery], per_query: dict[str, dict[str, dict[str, float]]], metrics: Iterable[str] = METRICS
) -> dict[str, dict]:
    """Per category: number of judged queries and each mode's mean of each metric."""
    metrics = list(metrics)
    out: dict[str, dict] = {}
    for category in dict.fromkeys(q.category for q in queries):
        ids = [q.id for q in queries if q.category == category]
        modes = {}
        for mode, scores in per_query.items():
            judged = [qid for qid in ids if qid in scores]
            if judged:
                modes[mode] = {m: _mean([scores[qid][m] for qid in judged]) for m in metrics}
        n = len([qid for qid in ids if any(qid in s for s in per_query.values())])
        if n:
            out[category] = {"n": n, "modes": modes}
    return out


def answer_correct(q: EvalQuery, outcome: Outcome) -> bool:
    """/answer's behaviour judged: an answerable query needs a confident answer
    containing a labelled answer; an unanswerable one needs no answer."""
    if not q.answerable:
        return not outcome.confident
    return outcome.confident and any(a in outcome.answer for a in q.answers)


def answer_accuracy(
    queries: list[EvalQuery], outcomes: dict[str, dict[str, Outcome]], qrels: dict[str, dict[str, int]]
) -> dict[str, dict]:
    """Per mode: answer accuracy overall, on answerable and unanswerable queries and
    per category, and the looser "top result relevant" (answerable queries)."""
    scored = [q for q in queries if q.answers or not q.answerable]
    out = {}
    for mode, per_query in outcomes.items():
        def summary(qs: list[EvalQuery]) -> dict:
            answerable = [q for q in qs if q.answerable]
            unanswerable = [q for q in qs if not q.answerable]
            correct = [answer_correct(q, per_query[q.id]) for q in qs if q.id in per_query]
            top = [bool(per_query[q.id].ranking) and per_query[q.id].ranking[0] in qrels.get(q.id, {})
                   for q in answerable if q.id in per_query]
            return {
                "n": len(qs), "n_answerable": len(answerable), "n_unanswerable": len(unanswerable),
                "accuracy": _mean([float(c) for c in correct]),
                "answerable_accuracy": _mean([float(answer_correct(q, per_query[q.id])) for q in answerable if q.id in per_query]),
                "unanswerable_accuracy": _mean([float(answer_correct(q, per_query[q.id])) for q in unanswerable if q.id in per_query]),
                "top_relevant": _mean([float(t) for t in top]),
                "answered": _mean([float(per_query[q.id].confident) for q in qs if q.id in per_query]),
            }
        categories = dict.fromkeys(q.category for q in scored)
        out[mode] = {
            "overall": summary(scored),
            "per_category": {c: summary([q for q in scored if q.category == c]) for c in categories},
        }
    return out


def latency_summary(outcomes: dict[str, dict[str, Outcome]], embed_ms: list[float]) -> dict:
    """p50, p95, max and mean in ms per mode, the embedding alone, and each mode's
    p50 as a multiple of the embedding's p50 (machines are noisy; ratios less so)."""
    def stats(values: list[float]) -> dict:
        if not values:
            return {"n": 0, "p50": None, "p95": None, "max": None, "mean": None}
        a = np.asarray(values)
        return {"n": len(values), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
                "max": float(a.max()), "mean": float(a.mean())}

    embed = stats(embed_ms)
    modes = {}
    for mode, per_query in outcomes.items():
        s = stats([o.ms for o in per_query.values() if not o.error])
        s["p50_over_embed_p50"] = s["p50"] / embed["p50"] if s["p50"] is not None and embed["p50"] else None
        modes[mode] = s
    return {"modes": modes, "embed_query": embed}


# --------------------------------------------------------------------------- evaluation


def evaluate_dataset(
    dataset: Dataset, index, modes: list[str], k: int = MIN_K, progress: bool = True, searcher=None
) -> dict:
    """Run and score one dataset on an open index; returns the full report dict."""
    from qa.search import Searcher

    code = code_version()  # before the run: the code measured, even if it changes meanwhile
    searcher = searcher or Searcher(index)
    k = max(k, MIN_K)
    qrels = passage_qrels(index, dataset.queries) if dataset.kind == DEV_KIND else dataset.qrels
    judged, excluded = split_judged(qrels)
    if excluded:
        log.warning(
            "%d %s quer%s with no relevant %s in the index (excluded from retrieval metrics): %s",
            len(excluded), dataset.name, "y" if len(excluded) == 1 else "ies", dataset.level, ", ".join(excluded),
        )
    outcomes, embed_ms = run_queries(searcher, dataset, modes, k, progress)
    rankings = {mode: {qid: o.ranking for qid, o in per.items()} for mode, per in outcomes.items()}
    metrics, per_query = {}, {}
    for mode in modes:
        metrics[mode], per_query[mode] = compute_metrics(judged, rankings[mode])
    judged_queries = [q for q in dataset.queries if q.id in judged]
    categories = by_category(judged_queries, per_query)
    answers = answer_accuracy(dataset.queries, outcomes, judged)
    docs, passages = index.counts()
    rows = []
    for q in dataset.queries:
        row = {"id": q.id, "text": q.text, "category": q.category, "doc_id": q.doc_id, "answers": q.answers,
               "judged": q.id in judged, "relevant": sorted(judged.get(q.id, {}), key=_natural), "modes": {}}
        for mode in modes:
            o = outcomes[mode].get(q.id)
            if o is None:
                continue
            relevant = judged.get(q.id, {})
            rank = next((i + 1 for i, unit in enumerate(o.ranking) if unit in relevant), None)
            row["modes"][mode] = {
                "rank": rank, "top_passage": o.top_passage, "top_doc": o.top_doc, "ms": round(o.ms, 2),
                "confident": o.confident, "answer_correct": answer_correct(q, o) if (q.answers or not q.answerable) else None,
                "answer": o.answer, **({"error": o.error} if o.error else {}),
            }
        rows.append(row)
    from qa.search import Weights

    return {
        "dataset": {
            "name": dataset.name, "path": str(dataset.path), "kind": dataset.kind, "level": dataset.level,
            "corpus": str(dataset.corpus), "queries": len(dataset.queries), "judged": len(judged),
            "excluded": excluded, "unanswerable": sum(not q.answerable for q in dataset.queries),
        },
        "index": {"path": str(index.folder), "model": index.manifest.model, "documents": docs, "passages": passages},
        "settings": {"modes": modes, "k": k, "metrics": list(METRICS),
                     "weights": asdict(searcher.weights) if hasattr(searcher, "weights") else asdict(Weights()),
                     "alpha": ALPHA},
        "metrics": metrics,
        "per_category": categories,
        "significance": significance(judged, rankings),
        "answers": answers,
        "latency": latency_summary(outcomes, embed_ms),
        "mean_units_per_query": {m: _mean([len(o.ranking) for o in outcomes[m].values()]) for m in modes},
        "queries_detail": rows,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code": code,
    }


def code_version() -> str:
    """The git commit measured (``+dirty`` when qa/ has uncommitted changes), or ""."""
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--", "qa"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + ("+dirty" if dirty else "")


def _natural(value: str):
    return (0, int(value)) if value.isdigit() else (1, value)


# --------------------------------------------------------------------------- reports


def _f(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _best(values: dict[str, float | None]) -> set[str]:
    present = {k: v for k, v in values.items() if v is not None and not math.isnan(v)}
    if not present:
        return set()
    top = max(present.values())
    return {k for k, v in present.items() if v == top}


def markdown_report(report: dict) -> str:
    d, modes = report["dataset"], report["settings"]["modes"]
    out = [f"# Evaluation: {d['name']}", ""]
    out.append(
        f"{d['queries']} queries ({d['judged']} judged for retrieval"
        + (f", {d['unanswerable']} unanswerable" if d["unanswerable"] else "")
        + f"); relevance at **{d['level']}** level; index {report['index']['documents']} documents, "
        f"{report['index']['passages']} passages; model `{report['index']['model']}`; "
        f"k = {report['settings']['k']}; {report['created']}"
        + (f"; code {report['code']}" if report.get("code") else "") + "."
    )
    out += ["", f"## Retrieval, overall ({d['judged']} queries)", ""]
    rows = []
    best = {m: _best({mode: report["metrics"][mode][m] for mode in modes}) for m in METRICS}
    for mode in modes:
        cells = [(f"**{_f(report['metrics'][mode][m])}**" if mode in best[m] and len(modes) > 1 else _f(report["metrics"][mode][m])) for m in METRICS]
        rows.append([mode] + cells)
    out.append(_table(["mode"] + [LABELS[m] for m in METRICS], rows))
    out.append("")
    out.append("Best per column in bold.")
    categories = report["per_category"]
    if len(categories) > 1:
        for metric in CHART_METRICS:
            out += ["", f"## {LABELS[metric]} by category", ""]
            rows = []
            for cat, info in categories.items():
                vals = {mode: info["modes"].get(mode, {}).get(metric) for mode in modes}
                b = _best(vals)
                rows.append([cat, str(info["n"])] + [(f"**{_f(vals[m])}**" if m in b and len(modes) > 1 else _f(vals[m])) for m in modes])
            out.append(_table(["category", "n"] + modes, rows))
        out += ["", "## All metrics by category", ""]
        rows = []
        for cat, info in categories.items():
            for mode in modes:
                if mode in info["modes"]:
                    rows.append([cat, str(info["n"]), mode] + [_f(info["modes"][mode][m]) for m in METRICS])
        out.append(_table(["category", "n", "mode"] + [LABELS[m] for m in METRICS], rows, ["---", "---:", "---"] + ["---:"] * len(METRICS)))
    sig = report["significance"]
    if sig:
        out += ["", f"## Significance (paired two-sided t-test, p < {report['settings']['alpha']})", ""]
        rows = []
        for r in sig:
            verdict = f"**yes: {r['better']} better**" if r["significant"] else ("no (identical)" if r["p"] is None else "no")
            rows.append([LABELS[r["metric"]], f"{r['a']} vs {r['b']}", _f(r["a_score"]), _f(r["b_score"]),
                         "–" if r["p"] is None else f"{r['p']:.3g}", verdict])
        out.append(_table(["metric", "pair", "first", "second", "p", "significant"], rows, ["---", "---", "---:", "---:", "---:", "---"]))
        significant = [r for r in sig if r["significant"]]
        out += ["", "Significant: " + ("; ".join(
            f"{r['better']} over {r['b'] if r['better'] == r['a'] else r['a']} on {LABELS[r['metric']]}" for r in significant
        ) if significant else "none.")]
    answers = report["answers"]
    if answers and any(a["overall"]["n"] for a in answers.values()):
        order = [m for m in ("hybrid", "dense", "lexical") if m in answers] + [m for m in answers if m not in ("hybrid", "dense", "lexical")]
        first = order[0]
        out += ["", "## Answer accuracy", "",
                "An answerable query is answered correctly when `confident()` accepts the top result and its "
                "answer contains a labelled answer; an unanswerable query when `confident()` declines. "
                f"\"top relevant\" is the looser check that the top {d['level']} is relevant (answerable queries). "
                "/answer uses hybrid"
                + ("; lexical mode has no cosine, so `confident()` never accepts there." if "lexical" in answers else "."), ""]
        rows = []
        cats = answers[first]["per_category"]
        for cat in (list(cats) if len(cats) > 1 else []) + ["overall"]:
            s = answers[first]["overall"] if cat == "overall" else cats[cat]
            name = "**overall**" if cat == "overall" else cat
            cells = [name, str(s["n"]), _f(s["accuracy"]), _f(s["top_relevant"]), _f(s["answered"])]
            for mode in order[1:]:
                t = answers[mode]["overall"] if cat == "overall" else answers[mode]["per_category"].get(cat)
                cells.append(_f(t["accuracy"]) if t else "–")
            rows.append(cells)
        out.append(_table(["category", "n", f"{first} accuracy", f"{first} top relevant", f"{first} answered"]
                          + [f"{m} accuracy" for m in order[1:]], rows))
        o = answers[first]["overall"]
        if o["n_unanswerable"]:
            out += ["", f"{first}: answerable {_f(o['answerable_accuracy'])} ({o['n_answerable']}), "
                    f"unanswerable {_f(o['unanswerable_accuracy'])} ({o['n_unanswerable']})."]
    lat = report["latency"]
    out += ["", "## Latency (ms, around `Searcher.search`)", ""]
    rows = []
    for mode in modes:
        s = lat["modes"][mode]
        rows.append([mode, str(s["n"]), _f(s["p50"], 1), _f(s["p95"], 1), _f(s["max"], 1), _f(s["p50_over_embed_p50"], 2) + "×"])
    e = lat["embed_query"]
    rows.append(["query embedding alone", str(e["n"]), _f(e["p50"], 1), _f(e["p95"], 1), _f(e["max"], 1), "1.00×"])
    out.append(_table(["", "n", "p50", "p95", "max", "p50 / embedding p50"], rows))
    if "hybrid" in lat["modes"] and lat["modes"]["hybrid"]["p50_over_embed_p50"]:
        out += ["", f"Hybrid p50 is {lat['modes']['hybrid']['p50_over_embed_p50']:.2f}× the query embedding's p50 "
                "(absolute times vary with the machine and its load)."]
    if d["excluded"]:
        out += ["", "## Excluded queries", "",
                f"No relevant {d['level']} in the index (e.g. the answer was split across passages): "
                + ", ".join(d["excluded"]) + "."]
    return "\n".join(out) + "\n"


def chart(report: dict, path: Path) -> None:
    """Grouped bars: modes side by side per category (development set) or per metric (BEIR)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = report["settings"]["modes"]
    categories = report["per_category"]
    per_category = len(categories) > 1
    panels = CHART_METRICS if per_category else (None,)
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8, 1.1 * (len(categories) + 1)) if per_category else 8,
                                                      4 * len(panels)), squeeze=False)
    width = 0.8 / max(1, len(modes))
    for ax, metric in zip(axes[:, 0], panels):
        if per_category:
            groups = list(categories) + ["overall"]
            values = {mode: [categories[c]["modes"].get(mode, {}).get(metric) or 0.0 for c in categories]
                      + [report["metrics"][mode][metric]] for mode in modes}
            title = f"{report['dataset']['name']}: {LABELS[metric]} by category"
        else:
            groups = [LABELS[m] for m in METRICS]
            values = {mode: [report["metrics"][mode][m] for m in METRICS] for mode in modes}
            title = f"{report['dataset']['name']}: overall ({report['dataset']['level']} level)"
        x = np.arange(len(groups))
        for i, mode in enumerate(modes):
            vals = [0.0 if v is None or math.isnan(v) else v for v in values[mode]]
            bars = ax.bar(x + (i - (len(modes) - 1) / 2) * width, vals, width, label=mode)
            if not per_category:
                ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.set_xticks(x, groups, rotation=30 if per_category else 0, ha="right" if per_category else "center")
        ax.set_ylim(0, 1.15)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper right", ncol=len(modes), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_reports(report: dict, output: Path) -> dict[str, Path]:
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    name = report["dataset"]["name"]
    paths = {"json": output / f"{name}.json", "md": output / f"{name}.md", "png": output / f"{name}.png"}
    paths["json"].write_text(json.dumps(_jsonable(report), ensure_ascii=False, indent=1), encoding="utf-8")
    paths["md"].write_text(markdown_report(report), encoding="utf-8")
    chart(report, paths["png"])
    return paths


# --------------------------------------------------------------------------- tuning

# Coarse grids, searched one group at a time (coordinate ascent, two rounds).
# Fusion: the lexical share of the fusion weight (lexical = s, dense = 1 - s; only
# the ratio matters, re-scoring is multiplicative), for each fusion method
# ``Weights.fusion`` offers, and rrf_k for reciprocal rank fusion.
FUSION_GRID = {"fusion": ("score", "rrf"), "share": (0.3, 0.5, 0.6, 0.7, 0.8, 0.9), "rrf_k": (10.0, 30.0, 60.0, 100.0)}
BM25_GRID = ((1.0, 1.0, 0.3), (1.0, 1.0, 0.0), (1.0, 1.0, 1.0), (1.0, 0.5, 0.3), (0.5, 1.0, 0.3), (2.0, 1.0, 0.3), (1.0, 2.0, 0.3))
BOOST_GRID = {"period": (0.0, 0.15, 0.3, 0.6), "district": (0.0, 0.2, 0.4), "table": (0.0, 0.2, 0.4), "accent": (0.0, 0.2, 0.4)}
COVERAGE_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
COSINE_GRID = (0.74, 0.78, 0.80, 0.82, 0.84, 0.86, 0.88, 0.90)


def fusion_grid(weights_cls) -> list[dict]:
    """The fusion group's points, as updates of ``Weights`` (fields it has)."""
    fields = {f for f in weights_cls.__dataclass_fields__}
    shares = [dict(lexical=s, dense=round(1.0 - s, 2)) for s in FUSION_GRID["share"]]
    if "fusion" not in fields:
        return [dict(rrf_k=k, **s) for k in FUSION_GRID["rrf_k"] for s in shares]
    points = []
    for method in FUSION_GRID["fusion"]:
        if method == "rrf":
            points += [dict(fusion="rrf", rrf_k=k, **s) for k in FUSION_GRID["rrf_k"] for s in shares]
        else:
            points += [dict(fusion=method, **s) for s in shares]
    return points


@dataclass
class TuningResult:
    weights: Any                   # qa.search.Weights, the best found
    min_coverage: float
    min_cosine: float
    default: dict                  # hybrid MRR@10 / Hit@1 with the default weights
    best: dict
    table: list[dict]              # every grid point evaluated
    thresholds: list[dict]         # every threshold pair
    folds: dict                    # 2-fold check of the weight choice
    markdown: str = ""


def _fields(w) -> list[str]:
    return list(w.__dataclass_fields__)


def _differs(w, default, name: str) -> bool:
    a, b = getattr(w, name), getattr(default, name)
    if name == "rrf_k" and getattr(w, "fusion", "rrf") != "rrf" and getattr(default, "fusion", "rrf") != "rrf":
        return False  # irrelevant outside reciprocal rank fusion
    return (tuple(a) if isinstance(a, list) else a) != (tuple(b) if isinstance(b, list) else b)


def _changes(w, default) -> int:
    return sum(_differs(w, default, f) for f in _fields(w))


def _diff_text(weights: dict, default) -> str:
    from qa.search import Weights

    w = Weights(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in weights.items()})
    return ", ".join(f"{f}={getattr(w, f)}" for f in _fields(w) if _differs(w, default, f)) or "defaults"


class _Cache:
    """Per-query candidate lists, computed once: the dense list (independent of the
    weights) and one lexical list per bm25 column weighting."""

    def __init__(self, searcher, queries: list[EvalQuery]):
        from qa.query import understand
        from qa.search import CANDIDATES

        self.searcher, self.depth = searcher, CANDIDATES
        self.queries = queries
        self.understood = {q.id: understand(q.text, searcher.lexicon) for q in queries}
        self.dense = {q.id: searcher.dense(self.understood[q.id], CANDIDATES, None) for q in queries}
        self.lexical: dict[tuple, dict[str, list]] = {}
        self.passages: dict[int, Any] = {}
        self._need(self.dense.values())

    def _need(self, lists: Iterable[list]) -> None:
        missing = {pid for ranked in lists for pid, _ in ranked if pid not in self.passages}
        if missing:
            self.passages.update(self.searcher.index.passages(missing))

    def lexical_for(self, bm25: tuple) -> dict[str, list]:
        if bm25 not in self.lexical:
            saved = self.searcher.weights
            self.searcher.weights = replace(saved, bm25=bm25)
            try:
                self.lexical[bm25] = {q.id: self.searcher.lexical(self.understood[q.id], self.depth, None) for q in self.queries}
            finally:
                self.searcher.weights = saved
            self._need(self.lexical[bm25].values())
        return self.lexical[bm25]

    def rankings(self, weights, k: int, level: str) -> dict[str, list[str]]:
        """Hybrid rankings under ``weights``: ``Searcher.fuse`` + ``Searcher.rescore``
        on the cached candidates, sorted as ``Searcher.search`` sorts."""
        lexical = self.lexical_for(tuple(weights.bm25))
        saved = self.searcher.weights
        self.searcher.weights = weights
        try:
            out = {}
            for q in self.queries:
                fused = self.searcher.fuse(lexical[q.id], self.dense[q.id])
                scores = self.searcher.rescore(self.understood[q.id], fused, self.passages)
                ranked = [pid for pid, _ in sorted(scores.items(), key=lambda item: -item[1])[:k]]
                out[q.id] = [str(p) for p in ranked] if level == "passage" else document_ranking(self.passages[p].doc_id for p in ranked)
            return out
        finally:
            self.searcher.weights = saved


def tune(
    settings: Settings | None = None,
    dataset: Path = DEV_SET,
    embedder=None,
    limit: int | None = None,
    output: Path | None = DEFAULT_OUTPUT,
    k: int = MIN_K,
    progress: bool = True,
    threshold_objective: str = "accuracy",
) -> TuningResult:
    """Grid search of ``qa.search.Weights`` (hybrid MRR@10, ties broken by Hit@1,
    then by fewer changes from the defaults) and of ``confident``'s thresholds
    (``threshold_objective``: "accuracy" over answerable + unanswerable queries, or
    "balanced", the mean of the answerable and the unanswerable accuracy, which
    weighs the few unanswerable queries as much as the many answerable ones).
    Writes ``<output>/tuning.md`` unless ``output`` is None."""
    if threshold_objective not in ("accuracy", "balanced"):
        raise ValueError("threshold_objective is 'accuracy' or 'balanced'")
    from qa.search import Searcher, Weights

    code = code_version()
    settings = settings or Settings()
    data = load_dataset(dataset, settings, limit)
    embedder = embedder or _embedder(settings)
    index, _ = open_index(data, settings, embedder, progress)
    searcher = Searcher(index)
    qrels = passage_qrels(index, data.queries) if data.kind == DEV_KIND else data.qrels
    judged, excluded = split_judged(qrels)
    queries = [q for q in data.queries if q.id in judged]
    k = max(k, MIN_K)
    started = time.perf_counter()
    cache = _Cache(searcher, queries)
    default = Weights()
    table: list[dict] = []
    seen: dict[tuple, dict] = {}

    def score(w) -> dict:
        key = tuple(asdict(w).values())
        if key not in seen:
            means, per_query = compute_metrics(judged, cache.rankings(w, k, data.level), ("mrr@10", "hit_rate@1"))
            row = {"weights": asdict(w), "mrr@10": means["mrr@10"], "hit_rate@1": means["hit_rate@1"],
                   "changes": _changes(w, default), "_rr": {qid: s["mrr@10"] for qid, s in per_query.items()}}
            seen[key] = row
            table.append(row)
        return seen[key]

    def rank_key(row: dict):
        return (round(row["mrr@10"], 9), round(row["hit_rate@1"], 9), -row["changes"])

    groups = [
        ("fusion", fusion_grid(Weights)),
        ("bm25 columns", [dict(bm25=b) for b in BM25_GRID]),
        ("boosts", [dict(period=p, district=d, table=t, accent=a) for p in BOOST_GRID["period"]
                    for d in BOOST_GRID["district"] for t in BOOST_GRID["table"] for a in BOOST_GRID["accent"]]),
    ]
    current = default
    path = [("defaults", score(current))]
    from tqdm import tqdm

    bar = tqdm(desc="tuning", unit=" points", disable=not progress)
    for round_ in (1, 2):
        changed = False
        for name, grid in groups:
            best_w, best_row = current, score(current)
            for update in grid:
                w = replace(current, **update)
                row = score(w)
                bar.update(1)
                if rank_key(row) > rank_key(best_row):
                    best_w, best_row = w, row
            if best_w != current:
                changed = True
                current = best_w
            path.append((f"round {round_}: {name}", best_row))
        if not changed:
            break
    bar.close()
    best_row = score(current)

    # 2-fold check: choose among the evaluated points on one half, measure on the other.
    folds = {}
    ids = [q.id for q in queries]
    halves = (ids[0::2], ids[1::2])
    held_out, held_default = [], []
    for train, test in (halves, halves[::-1]):
        if not train or not test:
            continue
        pick = max(table, key=lambda r: (np.mean([r["_rr"][i] for i in train]), -r["changes"]))
        held_out.append(float(np.mean([pick["_rr"][i] for i in test])))
        held_default.append(float(np.mean([seen[tuple(asdict(default).values())]["_rr"][i] for i in test])))
    if held_out:
        folds = {"tuned_mrr@10": float(np.mean(held_out)), "default_mrr@10": float(np.mean(held_default))}

    # Thresholds of confident(): on the responses of the tuned hybrid search.
    cov0, cos0 = _confident_defaults()
    thresholds = _tune_thresholds(searcher, current, data.queries, (cov0, cos0))
    best_t = max(thresholds, key=lambda r: (round(r[threshold_objective] or 0.0, 9), round(r["accuracy"], 9),
                                            -abs(r["min_coverage"] - cov0) - abs(r["min_cosine"] - cos0)))
    default_t = next((r for r in thresholds if r["min_coverage"] == cov0 and r["min_cosine"] == cos0), None)
    result = TuningResult(
        weights=current, min_coverage=best_t["min_coverage"], min_cosine=best_t["min_cosine"],
        default={"mrr@10": path[0][1]["mrr@10"], "hit_rate@1": path[0][1]["hit_rate@1"],
                 "answer_accuracy": default_t["accuracy"] if default_t else None},
        best={"mrr@10": best_row["mrr@10"], "hit_rate@1": best_row["hit_rate@1"], "answer_accuracy": best_t["accuracy"]},
        table=[{k_: v for k_, v in r.items() if k_ != "_rr"} for r in table],
        thresholds=thresholds, folds=folds,
    )
    result.markdown = _tuning_markdown(result, data, path, excluded, len(queries), time.perf_counter() - started,
                                       default_t, code, threshold_objective)
    if output is not None:
        Path(output).mkdir(parents=True, exist_ok=True)
        (Path(output) / "tuning.md").write_text(result.markdown, encoding="utf-8")
    return result


def _confident_defaults() -> tuple[float, float]:
    import inspect

    from qa.search import confident

    params = inspect.signature(confident).parameters
    return float(params["min_coverage"].default), float(params["min_cosine"].default)


def _tune_thresholds(searcher, weights, queries: list[EvalQuery], defaults: tuple[float, float]) -> list[dict]:
    from qa.query import QueryError
    from qa.search import confident

    saved = searcher.weights
    searcher.weights = weights
    responses = []
    try:
        for q in queries:
            if not q.answerable or q.answers:
                with contextlib.suppress(QueryError):
                    responses.append((q, searcher.search(q.text, k=5, mode="hybrid")))  # as /answer asks
    finally:
        searcher.weights = saved
    rows = []
    for cov in sorted(set(COVERAGE_GRID) | {defaults[0]}):
        for cos in sorted(set(COSINE_GRID) | {defaults[1]}):
            correct, ans, unans = [], [], []
            for q, response in responses:
                top = response.results[0] if response.results else None
                o = Outcome([], top_passage=None, answer=top.answer if top else "",
                            confident=bool(confident(response, min_coverage=cov, min_cosine=cos)))
                c = answer_correct(q, o)
                correct.append(c)
                (ans if q.answerable else unans).append(c)
            parts = [v for v in (_mean(ans), _mean(unans)) if v is not None]
            rows.append({"min_coverage": cov, "min_cosine": cos, "accuracy": _mean(correct) or 0.0,
                         "answerable": _mean(ans), "unanswerable": _mean(unans),
                         "balanced": _mean(parts), "n": len(correct)})
    return rows


def _grid_edges(w, min_coverage: float, min_cosine: float) -> list[str]:
    """Chosen values at the end of a grid with more than two values."""
    grids = dict(BOOST_GRID)
    grids["lexical"] = FUSION_GRID["share"]
    if getattr(w, "fusion", "rrf") == "rrf":
        grids["rrf_k"] = FUSION_GRID["rrf_k"]
    values = {name: getattr(w, name) for name in grids if hasattr(w, name)}
    grids["min_coverage"], values["min_coverage"] = COVERAGE_GRID, min_coverage
    grids["min_cosine"], values["min_cosine"] = COSINE_GRID, min_cosine
    return [f"{name}={values[name]}" for name, grid in grids.items()
            if name in values and len(grid) > 2
            and (values[name] == max(grid) or (values[name] == min(grid) and min(grid) > 0))]  # 0 = off: no edge


def _tuning_markdown(result: TuningResult, data: Dataset, path, excluded, n, seconds, default_t, code: str = "",
                     objective: str = "accuracy") -> str:
    from qa.search import Weights

    w, d = result.weights, Weights()
    out = [f"# Tuning on {data.name}", "",
           f"{n} judged queries ({len(data.queries)} in all); objective hybrid MRR@10, ties broken by Hit@1 and then "
           f"by fewer changes from the defaults; coordinate ascent over coarse grids (fusion, bm25 columns, boosts), "
           f"{len(result.table)} points evaluated in {seconds:.0f} s with cached candidate lists"
           + (f"; code {code}. " if code else ". ") +
           "This is the development set: expect the tuned numbers to be optimistic.", ""]
    out += ["## Weights", "", _table(["field", "default", "best"], [
        [f, str(getattr(d, f)), (f"**{getattr(w, f)}**" if getattr(w, f) != getattr(d, f) else str(getattr(w, f)))]
        for f in _fields(d)
    ], ["---", "---:", "---:"]), ""]
    out += [_table(["", "MRR@10", "Hit@1"], [
        ["defaults", _f(result.default["mrr@10"]), _f(result.default["hit_rate@1"])],
        ["best", _f(result.best["mrr@10"]), _f(result.best["hit_rate@1"])],
    ]), ""]
    if result.folds:
        out += [f"2-fold check (choose the point on half of the queries, score it on the other half, averaged): "
                f"tuned MRR@10 {_f(result.folds['tuned_mrr@10'])} vs defaults {_f(result.folds['default_mrr@10'])}. "
                "A gain that does not survive this is noise.", ""]
    out += ["## Search path", "", _table(["step", "MRR@10", "Hit@1", "weights"], [
        [name, _f(row["mrr@10"]), _f(row["hit_rate@1"]), _diff_text(row["weights"], d)]
        for name, row in path
    ], ["---", "---:", "---:", "---"]), ""]
    edges = _grid_edges(w, result.min_coverage, result.min_cosine)
    if edges:
        out += ["At the edge of its grid (the optimum may lie beyond; widen the grid before trusting the value): "
                + ", ".join(edges) + ".", ""]
    top = sorted(result.table, key=lambda r: (-r["mrr@10"], -r["hit_rate@1"], r["changes"]))[:15]
    out += ["## Best 15 grid points", "", _table(["MRR@10", "Hit@1", "changes", "weights (differences from defaults)"], [
        [_f(r["mrr@10"]), _f(r["hit_rate@1"]), str(r["changes"]), _diff_text(r["weights"], d)]
        for r in top
    ], ["---:", "---:", "---:", "---"]), ""]
    best_t = next(r for r in result.thresholds if r["min_coverage"] == result.min_coverage and r["min_cosine"] == result.min_cosine)
    out += ["## Answer thresholds (`confident`)", "",
            f"Answer accuracy over {best_t['n']} queries (answerable: confident and the answer contains a label; "
            "unanswerable: not confident), hybrid with the best weights, k = 5 as /answer. *balanced* is the mean "
            f"of the answerable and the unanswerable accuracy. Chosen by **{objective}**.", ""]
    rows = sorted(result.thresholds, key=lambda r: (-(r[objective] or 0.0), -r["accuracy"]))[:10]
    other = "balanced" if objective == "accuracy" else "accuracy"
    best_other = max(result.thresholds, key=lambda r: (r[other] or 0.0, r[objective] or 0.0))
    for extra in (best_other, default_t):
        if extra and extra not in rows:
            rows.append(extra)
    out.append(_table(["min_coverage", "min_cosine", "accuracy", "answerable", "unanswerable", "balanced"], [
        [_f(r["min_coverage"], 2) + (" (default)" if r is default_t else "") + (f" (best {other})" if r is best_other else ""),
         _f(r["min_cosine"], 2), _f(r["accuracy"]),
         _f(r["answerable"]), _f(r["unanswerable"]), _f(r["balanced"])] for r in rows
    ]))
    cov0, cos0 = _confident_defaults()
    out += ["", f"Best: `confident(response, min_coverage={result.min_coverage}, min_cosine={result.min_cosine})` "
            f"(ties broken towards the defaults {cov0} / {cos0}).", ""]
    out += ["## To adopt", "",
            "Set these as the defaults of `qa.search.Weights` and `qa.search.confident`, then re-run "
            "`qa eval` on both datasets to check nothing else got worse:", "", "```python",
            "Weights(" + ", ".join(f"{f}={getattr(w, f)!r}" for f in _fields(w)) + ")",
            f"confident(response, min_coverage={result.min_coverage}, min_cosine={result.min_cosine})", "```"]
    if excluded:
        out += ["", f"Excluded (no relevant passage in the index): {', '.join(excluded)}."]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- entry point


def _embedder(settings: Settings):
    from qa.embedding import Embedder

    return Embedder(settings)


def main(
    dataset: Path,
    modes: list[str] | None = None,
    k: int = MIN_K,
    limit: int | None = None,
    output: Path = DEFAULT_OUTPUT,
    settings: Settings | None = None,
    tune: bool = False,
    embedder=None,
    progress: bool = True,
) -> dict:
    """``qa eval``: evaluate ``dataset`` in each of ``modes``; write
    ``<output>/<name>.json|.md|.png`` and print the Markdown. With ``tune``, run the
    grid search instead and write ``<output>/tuning.md``."""
    from qa.search import MODES

    settings = settings or Settings()
    modes = list(dict.fromkeys(modes or ["lexical", "dense", "hybrid"]))
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown mode(s) {', '.join(unknown)}; use {', '.join(MODES)}")
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    embedder = embedder or _embedder(settings)
    if tune:
        result = tune_(settings, Path(dataset), embedder, limit, output, k, progress)
        print(result.markdown)
        return {"tuning": asdict(result) | {"weights": asdict(result.weights)}}
    data = load_dataset(Path(dataset), settings, limit)
    index, built = open_index(data, settings, embedder, progress)
    report = evaluate_dataset(data, index, modes, k, progress)
    report["index"]["built_now"] = built
    paths = write_reports(report, Path(output))
    print(markdown_report(report))
    print("Written: " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return report


tune_ = tune  # ``main``'s parameter ``tune`` shadows the function inside it
