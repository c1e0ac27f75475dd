"""Measuring relation extraction, linking and number lookup against labelled sets.

* ``eval/datasets/relations/relations.jsonl``: relations labelled by reading the
  documents (README there says which documents and how). ``evaluate_relations``
  gives precision and recall of extraction (per kind and overall) and of linking
  to documents present in the collection.
* ``eval/datasets/relations/number-queries.jsonl``: numbers written the ways people
  type them, with the document meant. ``evaluate_lookup`` gives Hit@1 of
  ``qa.docnumbers.lookup`` (the number, then the query's other words).

Run: ``.venv/bin/python -m qa.relations_eval`` (prints the numbers of the README).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qa.docnumbers import NumberIndex, lookup, parse_number
from qa.documents import Document, iter_documents
from qa.relations import KINDS, Relation, extract_relations, link
from qa.text import fold

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "eval" / "datasets" / "relations"
SHARED_CORPUS = ROOT.parent / "shared" / "corpora" / "vn-official-1114.jsonl.gz"
CORPUS = ROOT / "corpus"


@dataclass(frozen=True)
class Gold:
    doc: str
    kind: str
    number: str | None
    title: str | None
    date: str | None
    year: int | None
    partial: bool
    targets: tuple[str, ...]
    split: str = "dev"      # "dev": looked at while writing the extractor; "heldout": labelled after, measured once


@dataclass
class Scores:
    true_positives: int = 0
    predicted: int = 0
    expected: int = 0

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.expected if self.expected else 1.0


@dataclass
class RelationReport:
    extraction: Scores
    by_kind: dict[str, Scores]
    linking: Scores
    missed: list[Gold] = field(default_factory=list)
    spurious: list[tuple[str, Relation]] = field(default_factory=list)
    wrong_links: list[tuple[str, str, str]] = field(default_factory=list)   # (doc, cited, target)
    links: list = field(default_factory=list)


def read_gold(path: Path = DATASET / "relations.jsonl") -> list[Gold]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Gold(r["doc"], r["kind"], r["number"], r["title"], r["date"], r["year"], r["partial"], tuple(r["targets"]),
                 r.get("split", "dev")) for r in rows]


def load_documents(shared: Path = SHARED_CORPUS, corpus: Path = CORPUS) -> list[Document]:
    """The five district documents and the shared collection (read in place, never copied)."""
    docs = list(iter_documents(corpus))
    if shared.is_file():
        docs += list(iter_documents(shared))
    return docs


def _title_key(title: str) -> str:
    return " ".join(re.findall(r"\w+", fold(title)))


def _gold_key(g: Gold) -> str:
    if g.number:
        number = parse_number(g.number)
        return number.key if number else g.number
    return f"{_title_key(g.title or '')}|{g.year or ''}"


def _predicted_key(r: Relation) -> str:
    if r.cited_number:
        return r.cited_number.key
    return f"{_title_key(r.cited_title)}|{r.cited_year or ''}"


def _same(g: Gold, r: Relation) -> bool:
    if g.kind != r.kind:
        return False
    if g.number:
        return bool(r.cited_number) and _gold_key(g) == r.cited_number.key
    return r.cited_number is None and _title_key(g.title or "") == _title_key(r.cited_title) and (
        g.year is None or g.year == r.cited_year)


def evaluate_relations(gold: Sequence[Gold], documents: Sequence[Document]) -> RelationReport:
    """Extraction precision/recall over the labelled documents; linking over the whole collection."""
    by_id = {d.id: d for d in documents}
    wanted = sorted({g.doc for g in gold})
    predicted = {doc_id: extract_relations(by_id[doc_id]) for doc_id in wanted}
    links = link(predicted, documents)
    extraction, by_kind = Scores(), {k: Scores() for k in KINDS}
    report = RelationReport(extraction, by_kind, Scores())
    for doc_id in wanted:
        expected = [g for g in gold if g.doc == doc_id]
        found = predicted[doc_id]
        matched_gold: set[int] = set()
        for r in found:
            hit = next((i for i, g in enumerate(expected) if i not in matched_gold and _same(g, r)), None)
            extraction.predicted += 1
            by_kind[r.kind].predicted += 1
            if hit is None:
                report.spurious.append((doc_id, r))
                continue
            matched_gold.add(hit)
            extraction.true_positives += 1
            by_kind[r.kind].true_positives += 1
        for i, g in enumerate(expected):
            extraction.expected += 1
            by_kind[g.kind].expected += 1
            if i not in matched_gold:
                report.missed.append(g)
    _score_links(gold, links, report)
    report.links = links
    return report


def _score_links(gold: Sequence[Gold], links, report: RelationReport) -> None:
    """A link is right when its relation is a labelled one and it reaches one of that relation's documents."""
    linking = report.linking
    linking.expected = sum(1 for g in gold if g.targets)
    for l in links:
        linking.predicted += 1
        g = next((g for g in gold if g.doc == l.source and _same(g, l.relation)), None)
        if g and l.target in g.targets:
            linking.true_positives += 1
        else:
            report.wrong_links.append((l.source, _predicted_key(l.relation), l.target))


# --------------------------------------------------------------------- number lookup


@dataclass(frozen=True)
class NumberQuery:
    query: str
    expected: str


def read_queries(path: Path = DATASET / "number-queries.jsonl") -> list[NumberQuery]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [NumberQuery(r["query"], r["expected"]) for r in rows]


def evaluate_lookup(queries: Sequence[NumberQuery], documents: Iterable[Document]) -> tuple[float, list[tuple[str, str, list[str]]]]:
    """Hit@1 and the failures (query, expected, ranking)."""
    index = NumberIndex.build(documents)
    failures = []
    for q in queries:
        ranked = lookup(q.query, index)
        if not ranked or ranked[0] != q.expected:
            failures.append((q.query, q.expected, ranked[:3]))
    return 1 - len(failures) / len(queries), failures


def main() -> None:
    documents = load_documents()
    gold = read_gold()
    for split in ("dev", "heldout", "heldout2", "all"):
        chosen = [g for g in gold if split in ("all", g.split)]
        print(f"== {split}: {len(chosen)} labelled relations in {len({g.doc for g in chosen})} documents")
        _print_report(evaluate_relations(chosen, documents), chosen)
    queries = DATASET / "number-queries.jsonl"
    if queries.is_file():
        hit, failures = evaluate_lookup(read_queries(queries), documents)
        print(f"number lookup: Hit@1 {hit:.3f} over {len(read_queries(queries))} queries")
        for row in failures:
            print("  failed", *row)


def write_report(output: Path) -> str:
    """What ``main`` prints, as ``relations.md`` in ``output``; the Markdown text."""
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main()
    markdown = ("# Relations and number lookup (eval/datasets/relations)\n\n"
                "`dev`: relations labelled while writing the rules; `heldout`, `heldout2`: labelled "
                "afterwards from documents the rules had not been written on.\n\n"
                "```\n" + printed.getvalue() + "```\n")
    output.mkdir(parents=True, exist_ok=True)
    (output / "relations.md").write_text(markdown, encoding="utf-8")
    return markdown


def _print_report(report: RelationReport, gold: Sequence[Gold]) -> None:
    e, l = report.extraction, report.linking
    print(f"extraction: precision {e.precision:.3f} recall {e.recall:.3f} ({e.true_positives}/{e.predicted} predicted, {e.expected} labelled)")
    for kind, s in report.by_kind.items():
        print(f"  {kind:9} precision {s.precision:.3f} recall {s.recall:.3f} ({s.true_positives}/{s.predicted}, {s.expected})")
    print(f"linking:    precision {l.precision:.3f} recall {l.recall:.3f} ({l.true_positives}/{l.predicted} links, {l.expected} linkable)")
    for g in report.missed:
        print("  missed", g.doc, g.kind, g.number or g.title, g.year)
    for doc_id, r in report.spurious:
        print("  spurious", doc_id, r.kind, _predicted_key(r), "|", r.passage[:120])
    for row in report.wrong_links:
        print("  wrong link", *row)
    linked = {(l.source, _predicted_key(l.relation)) for l in report.links}
    for g in gold:
        if g.targets and (g.doc, _gold_key(g)) not in linked:
            print("  unlinked", g.doc, g.kind, g.number or g.title, g.targets)


if __name__ == "__main__":
    main()
