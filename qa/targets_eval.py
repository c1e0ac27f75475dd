"""How well ``qa.targets`` reads targets: precision and recall against labelled sets.

``eval/datasets/targets/`` holds the labels (one JSON object a line: ``doc``,
``indicator``, ``value`` as written, ``unit``, ``period`` label, ``kind``, optional
``group``: labels of one indicator share it) and, in ``<set>_scopes.json``, the part
of a document that was labelled (``{"doc": {"from": text, "to": text}}``; a document
without one was labelled whole). Records outside a document's labelled part do not
count.

A record **matches** a label when it is of the same document, its value is the
label's (number and comparator: ``trên 80`` is ``> 80``) and at least half of the
label's indicator words are in the record's indicator (after folding and
abbreviation expansion); each label matches one record at most, best overlap first.
Then for each field (``value``, ``unit``, ``period``, ``kind``): precision = matched
records with that field right / records, recall = the same / labels. Indicator
grouping is measured on pairs of matched labels: the records of two labels that
share a ``group`` should be in one indicator of ``group_indicators``, the records of
two that do not, in different ones.

``python -m qa.targets_eval`` prints both sets' numbers.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.chunking import chunk_document
from qa.config import PROJECT_ROOT
from qa.documents import Document, iter_documents
from qa.numbers import parse_quantity
from qa.periods import Period
from qa.targets import TargetRecord, extract_targets, group_indicators, indicator_key
from qa.text import fold

DATASETS = PROJECT_ROOT / "eval" / "datasets" / "targets"
SHARED_CORPUS = PROJECT_ROOT.parent / "shared" / "corpora" / "vn-official-1114.jsonl.gz"
MIN_OVERLAP = 0.5
HELDOUT_DOCUMENTS = 2   # how many documents of the held-out rule were labelled


@dataclass(frozen=True)
class Label:
    doc: str
    indicator: str
    value: str
    unit: str
    period: str
    kind: str
    group: str = ""

    @classmethod
    def from_json(cls, data: dict) -> Label:
        return cls(data["doc"], data["indicator"], data["value"], data.get("unit", ""), data.get("period", ""),
                   data.get("kind", ""), data.get("group", ""))


def load_labels(path: Path) -> list[Label]:
    with path.open(encoding="utf-8") as f:
        return [Label.from_json(json.loads(line)) for line in f if line.strip()]


def load_scopes(path: Path) -> dict[str, dict[str, str]]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def heldout_candidates(docs: Iterable[Document]) -> list[Document]:
    """The rule that chose the held-out documents, fixed before any was read: People's
    Council/Committee plans and resolutions of the shared corpus that speak of
    targets (``phấn đấu`` or ``chỉ tiêu``) and give at least five percentages, in
    the order of the SHA-1 of their id. The first ``HELDOUT_DOCUMENTS`` were labelled
    (the third in that order, an Đồng Tháp plan, is not labelled)."""
    from qa.archive import is_local_government

    chosen = []
    for d in docs:
        f = fold(d.text)
        if is_local_government(d) and d.type in ("kế hoạch", "nghị quyết") and ("phan dau" in f or "chi tieu" in f) \
                and d.text.count("%") >= 5:
            chosen.append(d)
    return sorted(chosen, key=lambda d: hashlib.sha1(d.id.encode()).hexdigest())


# ------------------------------------------------------------------ matching


def _words(text: str) -> set[str]:
    return set(indicator_key(text).split())


def _overlap(label: Label, record: TargetRecord) -> float:
    wanted = _words(label.indicator)
    if not wanted:
        return 0.0
    return len(wanted & set(record.key.split())) / len(wanted)


def _same_value(label: Label, record: TargetRecord) -> bool:
    q = parse_quantity(label.value)
    if q is None:
        return False
    if abs(q.value - record.value) > 1e-9 * max(1.0, abs(q.value)):
        return False
    if (q.high is None) != (record.high is None) or (q.high is not None and abs(q.high - record.high) > 1e-9):
        return False
    if q.denominator is not None and q.denominator != record.denominator:
        return False
    return q.comparator == record.comparator


def _same_unit(label: Label, record: TargetRecord) -> bool:
    return " ".join(fold(label.unit).split()) == " ".join(fold(record.unit).split())


def _same_period(label: Label, record: TargetRecord) -> bool:
    if not label.period:
        return record.period is None
    if record.period is None:
        return False
    try:
        return Period.from_label(label.period).same(record.period)
    except ValueError:
        return label.period == record.period_label


def match(records: Sequence[TargetRecord], labels: Sequence[Label]) -> list[tuple[Label, TargetRecord]]:
    """One-to-one pairs of label and record (same document and value, indicator overlap)."""
    candidates = []
    for li, label in enumerate(labels):
        for ri, record in enumerate(records):
            if record.doc_id == label.doc and _same_value(label, record):
                overlap = _overlap(label, record)
                if overlap >= MIN_OVERLAP:
                    candidates.append((-overlap, li, ri))
    candidates.sort()
    used_l, used_r, pairs = set(), set(), []
    for _, li, ri in candidates:
        if li in used_l or ri in used_r:
            continue
        used_l.add(li)
        used_r.add(ri)
        pairs.append((labels[li], records[ri]))
    return pairs


def evaluate_targets(records: Sequence[TargetRecord], labels: Sequence[Label]) -> dict:
    """Precision and recall of value, unit, period and kind; pairwise precision and
    recall of indicator grouping (see the module docstring)."""
    pairs = match(records, labels)
    checks = {"value": lambda lab, rec: True, "unit": _same_unit, "period": _same_period,
              "kind": lambda lab, rec: lab.kind == rec.kind}
    out: dict = {"records": len(records), "labels": len(labels), "matched": len(pairs)}
    for name, check in checks.items():
        right = sum(1 for lab, rec in pairs if check(lab, rec))
        out[name] = {"precision": _ratio(right, len(records)), "recall": _ratio(right, len(labels))}
    out["grouping"] = _grouping(pairs, records)
    return out


def _grouping(pairs: list[tuple[Label, TargetRecord]], records: Sequence[TargetRecord]) -> dict:
    indicator_of = {id(r): ind.id for ind in group_indicators(records) for r in ind.records}
    same_gold = same_pred = both = 0
    for i in range(len(pairs)):
        for j in range(i + 1, len(pairs)):
            (a, ra), (b, rb) = pairs[i], pairs[j]
            gold = bool(a.group) and a.group == b.group
            pred = indicator_of[id(ra)] == indicator_of[id(rb)]
            same_gold += gold
            same_pred += pred
            both += gold and pred
    return {"precision": _ratio(both, same_pred), "recall": _ratio(both, same_gold), "gold_pairs": same_gold,
            "predicted_pairs": same_pred}


def _ratio(a: int, b: int) -> float:
    return round(a / b, 3) if b else 0.0


# ------------------------------------------------------------------ running a set


def in_scope(record: TargetRecord, doc: Document, scopes: dict[str, dict[str, str]]) -> bool:
    scope = scopes.get(doc.id)
    if not scope:
        return True
    start = doc.text.find(scope["from"])
    end = doc.text.find(scope["to"], max(start, 0))
    if start < 0 or end < 0:
        raise ValueError(f"{doc.id}: scope anchors not found")
    return start <= record.start < end


def records_for(docs: Iterable[Document], scopes: dict[str, dict[str, str]]) -> list[TargetRecord]:
    out = []
    for doc in docs:
        out += [r for r in extract_targets(doc, chunk_document(doc)) if in_scope(r, doc, scopes)]
    return out


def run_set(name: str, docs: Iterable[Document]) -> tuple[dict, list[TargetRecord], list[Label]]:
    labels = load_labels(DATASETS / f"{name}.jsonl")
    scopes = load_scopes(DATASETS / f"{name}_scopes.json")
    wanted = {lab.doc for lab in labels}
    records = records_for((d for d in docs if d.id in wanted), scopes)
    return evaluate_targets(records, labels), records, labels


def corpus_documents() -> list[Document]:
    return list(iter_documents(PROJECT_ROOT / "corpus"))


def heldout_documents() -> list[Document]:
    wanted = {lab.doc for lab in load_labels(DATASETS / "heldout.jsonl")}
    return [d for d in iter_documents(SHARED_CORPUS) if d.id in wanted]


def report(name: str, result: dict) -> str:
    lines = [f"{name}: {result['labels']} labels, {result['records']} records, {result['matched']} matched"]
    for field in ("value", "unit", "period", "kind"):
        r = result[field]
        lines.append(f"  {field:8} precision {r['precision']:.3f}  recall {r['recall']:.3f}")
    g = result["grouping"]
    if g["gold_pairs"] or g["predicted_pairs"]:
        lines.append(f"  grouping precision {g['precision']:.3f}  recall {g['recall']:.3f}  "
                     f"({g['gold_pairs']} pairs of one indicator, {g['predicted_pairs']} grouped)")
    else:
        lines.append("  grouping n/a: no indicator repeats among the labels, and none was grouped")
    return "\n".join(lines)


def write_reports(output: Path, sets: Sequence[str] = ("corpus", "heldout")) -> str:
    """Both sets' numbers as ``targets.json`` and ``targets.md`` in ``output``; the Markdown text."""
    results, texts = {}, []
    for name in sets:
        docs = corpus_documents() if name == "corpus" else heldout_documents()
        results[name], _, _ = run_set(name, docs)
        texts.append(report(name, results[name]))
    markdown = ("# Target extraction (eval/datasets/targets)\n\n"
                "`corpus`: labels of the five documents (the rules were written on them); "
                "`heldout`: labels of documents of ../shared/corpora the extraction had never seen.\n\n"
                "```\n" + "\n".join(texts) + "\n```\n")
    output.mkdir(parents=True, exist_ok=True)
    (output / "targets.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    (output / "targets.md").write_text(markdown, encoding="utf-8")
    return markdown


def main(argv: list[str]) -> int:
    sets = argv or ["corpus", "heldout"]
    for name in sets:
        docs = corpus_documents() if name == "corpus" else heldout_documents()
        result, _, _ = run_set(name, docs)
        print(report(name, result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
