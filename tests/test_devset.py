"""Sanity checks for the hand-written evaluation set eval/datasets/district-docs/."""

from __future__ import annotations

import hashlib
import json
import re
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
    "everyday": 30,
    "conversational": 25,
    "staff_lookup": 25,
    "by_number": 20,
    "messy": 30,
    "near_miss": 45,
    "out_of_domain": 10,
}
# categories whose queries the documents cannot answer (doc_id null, answers [])
UNANSWERABLE_CATEGORIES = {"unanswerable", "near_miss", "out_of_domain"}
NEAR_MISS_KINDS = {"year", "district", "period", "absent", "out_of_domain"}
MIN_PER_NEAR_MISS_KIND = {"year": 8, "district": 8, "period": 8, "absent": 8, "out_of_domain": 10}
MIN_QUERIES = 320
MIN_PER_DOCUMENT = 30
FIELDS = {"_id", "text", "category", "doc_id", "answers", "pinned", "near_miss"}
ORIGINAL_FIELDS = ("_id", "text", "category", "doc_id", "answers")
# q001-q142 (their original five fields) are frozen: only `pinned` and `near_miss` were added
ORIGINAL_COUNT = 142
ORIGINAL_SHA256 = "53776e150bf785cf2b9c33b9d2c5d19bf4fcf3623abfd29dacbed101887b91be"
CONVERSATIONAL_WORDS = (15, 40)
_BARE_FIGURE = re.compile(r"[<>+-]?[\d.,]+%?")


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


def _answerable(r: dict) -> bool:
    return r["category"] not in UNANSWERABLE_CATEGORIES


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
        assert isinstance(r["pinned"], bool), r
        assert r["near_miss"] is None or isinstance(r["near_miss"], str), r


def test_enough_queries(rows):
    assert len(rows) >= MIN_QUERIES


def test_ids_unique_and_sequential(rows):
    dup = [i for i, n in Counter(r["_id"] for r in rows).items() if n > 1]
    assert not dup, f"duplicate ids: {dup}"
    assert [r["_id"] for r in rows] == [f"q{n:03d}" for n in range(1, len(rows) + 1)]


def test_original_queries_unchanged(rows):
    original = [[r[k] for k in ORIGINAL_FIELDS] for r in rows[:ORIGINAL_COUNT]]
    digest = hashlib.sha256(json.dumps(original, ensure_ascii=False).encode()).hexdigest()
    assert digest == ORIGINAL_SHA256, "q001-q142 changed (only pinned/near_miss may be added to them)"


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
        if _answerable(r):
            assert r["doc_id"] in corpus_ids, r
    per_doc = Counter(r["doc_id"] for r in rows if r["doc_id"] is not None)
    for doc_id in corpus_ids:
        assert per_doc[doc_id] >= MIN_PER_DOCUMENT, f"{doc_id}: {per_doc[doc_id]} queries"


def test_answers_are_substrings_of_normalised_document(rows):
    problems = []
    for r in rows:
        if not _answerable(r):
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


def test_unanswerable_have_no_doc_no_answers_and_a_near_miss_kind(rows):
    for r in rows:
        if _answerable(r):
            assert r["doc_id"] is not None, r
            assert r["near_miss"] is None, r
        else:
            assert r["doc_id"] is None, r
            assert r["answers"] == [], r
            assert r["pinned"] is False, r
            assert r["near_miss"] in NEAR_MISS_KINDS, r


def test_near_miss_kinds_match_categories_with_minimum_counts(rows):
    for r in rows:
        if r["category"] == "out_of_domain":
            assert r["near_miss"] == "out_of_domain", r
        elif r["category"] == "near_miss":
            assert r["near_miss"] in NEAR_MISS_KINDS - {"out_of_domain"}, r
    kinds = Counter(r["near_miss"] for r in rows if not _answerable(r))
    for kind, minimum in MIN_PER_NEAR_MISS_KIND.items():
        assert kinds[kind] >= minimum, f"near_miss {kind}: {kinds[kind]} < {minimum}"
    in_category = Counter(r["near_miss"] for r in rows if r["category"] == "near_miss")
    for kind in ("year", "district", "period", "absent"):
        assert in_category[kind] >= 8, f"near_miss category, kind {kind}: {in_category[kind]} < 8"


def test_pinned_and_unpinned_both_present(rows):
    answerable = [r for r in rows if _answerable(r)]
    pinned = sum(r["pinned"] for r in answerable)
    assert 0.25 <= pinned / len(answerable) <= 0.75, f"{pinned}/{len(answerable)} pinned"


def test_unpinned_answers_are_not_bare_figures(rows):
    # other years' versions change every figure: an unpinned query's answers carry words
    bare = [(r["_id"], a) for r in rows if _answerable(r) and not r["pinned"]
            for a in r["answers"] if _BARE_FIGURE.fullmatch(a.strip())]
    assert not bare, bare


def test_by_number_queries_quote_a_figure_and_are_pinned(rows):
    for r in rows:
        if r["category"] == "by_number":
            assert re.search(r"\d", r["text"]), r
            assert r["pinned"] is True, r


def test_conversational_queries_are_long(rows):
    low, high = CONVERSATIONAL_WORDS
    for r in rows:
        if r["category"] == "conversational":
            assert low <= len(r["text"].split()) <= high, r


def test_no_diacritics_queries_have_none(rows):
    for r in rows:
        if r["category"] in ("no_diacritics", "messy"):
            assert fold(r["text"]) == r["text"].lower(), r
