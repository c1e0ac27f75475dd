"""Evaluation: retrieval quality, answer accuracy and speed, measured the same way
every time (``qa eval``; see eval/README.md).

The datasets and their relevance judgments are ``qa.datasets``; the metrics (ranx)
``qa.metrics``; the reports ``qa.reports``. This module opens the index a dataset is
evaluated on (the development set also on the development archive, ``qa.archive``),
runs every query through ``Searcher.search`` — the function the API and the CLI use —
and judges answers with ``qa.search.confident`` as /answer does. The ranker and the
answer model are fitted by ``qa.training`` (``qa train``), which reports held-out
numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from qa.config import PROJECT_ROOT, Settings
from qa.datasets import (  # noqa: F401  (re-exported: the evaluation's vocabulary)
    BEIR_KIND, DEV_KIND, DEV_SET, UNANSWERABLE, Dataset, EvalQuery, accept_versions, detect_kind, load_dataset,
    passage_qrels, read_qrels, split_judged,
)
from qa.metrics import ALPHA, METRICS, compute_metrics, significance  # noqa: F401
from qa.reports import markdown_report, side_by_side, write_reports  # noqa: F401

log = logging.getLogger(__name__)

MIN_K = 10                 # the metrics look at 10 results
DEFAULT_OUTPUT = PROJECT_ROOT / "eval" / "reports"


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
    """/answer's behaviour judged: an answerable query needs a confident answer from
    an accepted document containing that document's labelled answer; an unanswerable
    one needs no answer."""
    if not q.answerable:
        return not outcome.confident
    accepted = q.accepted_answers().get(outcome.top_doc or "", [])
    return outcome.confident and any(a in outcome.answer for a in accepted)


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
    return {
        "dataset": {
            "name": dataset.name, "path": str(dataset.path), "kind": dataset.kind, "level": dataset.level,
            "corpus": str(dataset.corpus), "queries": len(dataset.queries), "judged": len(judged),
            "excluded": excluded, "unanswerable": sum(not q.answerable for q in dataset.queries),
        },
        "index": {"path": str(index.folder), "model": index.manifest.model, "documents": docs, "passages": passages},
        "settings": {"modes": modes, "k": k, "metrics": list(METRICS),
                     "ranking": {"trained": bool(searcher.config.ranker), "threshold": searcher.config.answer_threshold,
                                 "created": searcher.config.trained.get("created", "")},
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
    embedder=None,
    progress: bool = True,
    archive: bool = True,
) -> dict:
    """``qa eval``: evaluate ``dataset`` in each of ``modes``; write
    ``<output>/<name>.json|.md|.png`` and print the Markdown. The development set is
    also evaluated on the development archive (``qa.archive``; ``archive=False``
    skips it): ``<name>-archive.*`` and ``<name>-side-by-side.md``."""
    from qa.search import MODES

    settings = settings or Settings()
    modes = list(dict.fromkeys(modes or ["lexical", "dense", "hybrid"]))
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown mode(s) {', '.join(unknown)}; use {', '.join(MODES)}")
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    embedder = embedder or _embedder(settings)
    data = load_dataset(Path(dataset), settings, limit)
    accept_versions(data.queries, None)
    index, built = open_index(data, settings, embedder, progress)
    report = evaluate_dataset(data, index, modes, k, progress)
    report["index"]["built_now"] = built
    paths = write_reports(report, Path(output))
    print(markdown_report(report))
    if data.kind == DEV_KIND and archive:
        from qa.archive import open_archive_index

        archive_index, held, built = open_archive_index(settings, embedder, progress)
        accept_versions(data.queries, held)
        # an unanswerable question about a year the archive holds a constructed version of
        # may be answered rightly there: not judged on the archive
        unjudged = [q.id for q in data.queries if not q.judged]
        data = dataclasses.replace(data, name=f"{data.name}-archive", queries=[q for q in data.queries if q.judged])
        archived = evaluate_dataset(data, archive_index, modes, k, progress)
        archived["index"]["built_now"] = built
        archived["unjudged"] = unjudged
        archived["archive"] = held.summary()
        paths.update({f"archive {k}": v for k, v in write_reports(archived, Path(output)).items()})
        print(markdown_report(archived))
        if "hybrid" in modes:
            both = Path(output) / f"{report['dataset']['name']}-side-by-side.md"
            both.write_text(side_by_side(report, archived), encoding="utf-8")
            paths["side by side"] = both
            print(both.read_text(encoding="utf-8"))
        report = {"five": report, "archive": archived}
    print("Written: " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return report

