"""Retrieval metrics through ranx (never by hand): means, per-query scores and
paired significance tests between runs."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterable

import numpy as np

from qa.datasets import split_judged

METRICS = ("hit_rate@1", "hit_rate@5", "recall@10", "mrr@10", "ndcg@10")
LABELS = {
    "hit_rate@1": "Hit@1", "hit_rate@5": "Hit@5", "recall@10": "Recall@10", "mrr@10": "MRR@10", "ndcg@10": "nDCG@10",
}
ALPHA = 0.05               # significance level of the paired t-test
NO_RESULT = "__no_result__"  # placeholder so ranx accepts a query that retrieved nothing


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

