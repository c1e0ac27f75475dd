"""Sanity checks for the hand-written evaluation set eval/datasets/district-docs/."""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from qa.text import fold, normalize

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "eval" / "datasets" / "district-docs" / "queries.jsonl"
CORPUS = ROOT / "corpus"

MIN_PER_CATEGORY = {
    "target_table": 10,
    "report_fact": 10,
    "commitment": 10,
    "paraphrase": 10,
    "abbreviation": 10,
    "no_diacritics": 10,
    "typo": 10,
    "period": 10,
    "unanswerable": 8,
}
MIN_QUERIES = 110
MIN_PER_DOCUMENT = 12
FIELDS = {"_id", "text", "category", "doc_id", "answers"}


def _load() -> list[dict]:
    rows = []
    with DATASET.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:  # pragma: no cover - reported by the test
                pytest.fail(f"line {n} is not valid JSON: {e}")
    return rows


@lru_cache(maxsize=None)
def _doc_text(doc_id: str) -> str:
    return normalize((CORPUS / f"{doc_id}.txt").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return _load()


def test_parses_with_expected_fields(rows):
    assert rows, "empty dataset"
    for r in rows:
        assert set(r) == FIELDS, r
        assert isinstance(r["_id"], str) and r["_id"]
        assert isinstance(r["text"], str) and r["text"].strip(), r
        assert isinstance(r["answers"], list), r
        assert all(isinstance(a, str) and a.strip() for a in r["answers"]), r


def test_enough_queries(rows):
    assert len(rows) >= MIN_QUERIES


def test_ids_unique(rows):
    dup = [i for i, n in Counter(r["_id"] for r in rows).items() if n > 1]
    assert not dup, f"duplicate ids: {dup}"


def test_texts_unique(rows):
    dup = [t for t, n in Counter(r["text"].strip().lower() for r in rows).items() if n > 1]
    assert not dup, f"duplicate query texts: {dup}"


def test_categories_allowed_with_minimum_counts(rows):
    counts = Counter(r["category"] for r in rows)
    unknown = set(counts) - set(MIN_PER_CATEGORY)
    assert not unknown, f"unknown categories: {unknown}"
    for cat, minimum in MIN_PER_CATEGORY.items():
        assert counts[cat] >= minimum, f"{cat}: {counts[cat]} < {minimum}"


def test_doc_ids_exist_and_every_document_covered(rows):
    corpus_ids = {p.stem for p in CORPUS.glob("*.txt")}
    assert corpus_ids, "corpus/ is empty"
    for r in rows:
        if r["category"] != "unanswerable":
            assert r["doc_id"] in corpus_ids, r
    per_doc = Counter(r["doc_id"] for r in rows if r["doc_id"] is not None)
    for doc_id in corpus_ids:
        assert per_doc[doc_id] >= MIN_PER_DOCUMENT, f"{doc_id}: {per_doc[doc_id]} queries"


def test_answers_are_substrings_of_normalised_document(rows):
    problems = []
    for r in rows:
        if r["category"] == "unanswerable":
            continue
        if not r["answers"]:
            problems.append((r["_id"], "no answers"))
        text = _doc_text(r["doc_id"])
        for a in r["answers"]:
            if "\t" in a or "\n" in a:
                problems.append((r["_id"], f"answer spans a tab/line break: {a!r}"))
            elif a not in text:
                problems.append((r["_id"], f"not in normalised {r['doc_id']}: {a!r}"))
    assert not problems, problems


def test_unanswerable_have_no_doc_and_no_answers(rows):
    for r in rows:
        if r["category"] == "unanswerable":
            assert r["doc_id"] is None, r
            assert r["answers"] == [], r
        else:
            assert r["doc_id"] is not None, r


def test_no_diacritics_queries_have_none(rows):
    for r in rows:
        if r["category"] == "no_diacritics":
            assert fold(r["text"]) == r["text"].lower(), r
