"""Evaluation reports: Markdown tables, a chart and the JSON of everything, from the
report dict that ``qa.evaluation.evaluate_dataset`` returns."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from qa.metrics import LABELS, METRICS

CHART_METRICS = ("mrr@10", "hit_rate@5")


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
                + ("; only hybrid judges answers, so `confident()` never accepts in the other modes." if len(answers) > 1 else "."), ""]
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


def side_by_side(five: dict, archive: dict) -> str:
    """The development set on the five documents and on the archive, per category."""
    out = [f"# {five['dataset']['name']}: five documents vs the development archive", "",
           f"Five documents: {five['index']['documents']} documents, {five['index']['passages']} passages. "
           f"Archive: {archive['index']['documents']} documents, {archive['index']['passages']} passages "
           "(the corpus, other years' versions of each district document and real provincial and national "
           "documents; `qa.archive`). Hybrid search as the API serves it; code "
           f"{five.get('code', '')}. In the archive a question that names no period is answered by any "
           "year's version of its document (`pinned` in the dataset). The deployed ranker and answer model "
           "were fitted on these same queries, so these numbers are in-sample: the held-out ones (5-fold "
           "cross-validation) are in `ranking.md`.", "",
           "| category | n | Hit@1 five | Hit@1 archive | Hit@5 five | Hit@5 archive | MRR@10 five | MRR@10 archive |"
           " answer acc. five | answer acc. archive |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    mode = "hybrid"
    cats = list(dict.fromkeys([*five["answers"][mode]["per_category"], *archive["answers"][mode]["per_category"]]))
    for cat in cats + ["overall"]:
        cells = []
        for metric in ("hit_rate@1", "hit_rate@5", "mrr@10"):
            for r in (five, archive):
                if cat == "overall":
                    cells.append(_f(r["metrics"][mode][metric]))
                else:
                    cells.append(_f(r["per_category"].get(cat, {}).get("modes", {}).get(mode, {}).get(metric)))
        for r in (five, archive):
            a = r["answers"][mode]["overall"] if cat == "overall" else r["answers"][mode]["per_category"].get(cat)
            cells.append(_f(a["accuracy"]) if a else "–")
        n = (five["answers"][mode]["overall"] if cat == "overall" else five["answers"][mode]["per_category"].get(cat, {})).get("n", 0)
        out.append(f"| {'**overall**' if cat == 'overall' else cat} | {n} | " + " | ".join(cells) + " |")
    for name, r in (("five documents", five), ("archive", archive)):
        o = r["answers"][mode]["overall"]
        out += ["", f"Answers on the {name}: answerable {_f(o['answerable_accuracy'])} right "
                f"({o['n_answerable']} queries), unanswerable {_f(o['unanswerable_accuracy'])} declined "
                f"({o['n_unanswerable']})."]
    if archive.get("unjudged"):
        out += ["", f"Not judged on the archive: {', '.join(archive['unjudged'])} (unanswerable on the five "
                "documents, about a period the archive holds a constructed version of; `accept_versions`)."]
    return "\n".join(out) + "\n"

