"""The one search function: the API, the CLI and the evaluation all call it.

``Searcher(index).search(query, k, mode, filters)``:

1. understand the query (``qa.query``): diacritics, abbreviations, periods, places;
2. candidates from the lexical index (FTS5 bm25 over pyvi words, folded
   syllables and folded syllable pairs) and from the dense index (FAISS);
3. ``hybrid`` fuses both ranked lists with weighted reciprocal rank fusion and
   re-scores with the period / district / table-row / diacritics signals;
   ``lexical`` and ``dense`` return one list as it is, for comparison;
4. each result gets its best answering sentence and highlight offsets (``qa.answer``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace

import numpy as np

from qa.answer import STOPWORDS, Highlight, best_answer, highlights, present_words
from qa.query import Lexicon, Query, QueryError, understand
from qa.store import DocumentRecord, Index, PassageRecord
from qa.text import fold, segment

MODES = ("hybrid", "lexical", "dense")
CANDIDATES = 100

# Question words carry no content; dropped from the lexical query (folded).
_QUESTION_WORDS = re.compile(r"\b(bao nhieu|nhu the nao|la gi|the nao|o dau|khi nao|bao gio|gi|nao|khong|nhung gi)\b")
# Target-style questions, where a row of a targets table is the natural answer.
_TARGET_WORDS = re.compile(r"\b(chi tieu|ke hoach|ty le|bao nhieu|muc tieu|phan dau|dat)\b")


@dataclass
class Weights:
    """Fusion and re-scoring weights, chosen on the development set
    (``qa tune``; see eval/README.md), not guessed."""

    # "rrf": reciprocal rank fusion (ranks only); "score": a convex combination
    # of the max-normalised bm25 and the min-max-normalised cosine, which keeps
    # how far ahead a candidate is (dense cosines on these documents are all close).
    fusion: str = "score"
    rrf_k: float = 60.0
    lexical: float = 0.6
    dense: float = 0.4
    bm25: tuple[float, float, float] = (1.0, 1.0, 0.3)  # words, folded, context columns
    period: float = 0.6
    district: float = 0.4
    table: float = 0.4
    accent: float = 0.0  # agreement with typed diacritics: measured no help beyond the folded match


@dataclass
class Filters:
    district: str | None = None
    year: int | None = None
    type: str | None = None

    def active(self) -> bool:
        return any(v not in (None, "") for v in (self.district, self.year, self.type))


@dataclass
class Result:
    passage: PassageRecord
    doc: DocumentRecord
    score: float
    answer: str = ""
    answer_start: int = -1
    highlights: list[Highlight] = field(default_factory=list)


@dataclass
class SearchResponse:
    query: str
    understood: Query
    results: list[Result]
    total: int
    took_ms: float
    mode: str
    dense_scores: dict[int, float] = field(default_factory=dict)  # cosine of each dense candidate


def coverage(q: Query, passage: PassageRecord) -> float:
    """Share of the query's content words found in the passage.

    A word counts fully when found as typed (diacritics restored), or through an
    abbreviation alias; half when only its folded form is there ("vé" is not "về").
    """
    words = [w for w in re.findall(r"\w+", q.restored.lower()) if w not in STOPWORDS and not w.isdigit()]
    if not words:
        return 0.0
    text = f"{passage.text} {passage.section}".lower()
    exact = set(re.findall(r"\w+", text))
    folded = {fold(w) for w in exact}
    aliased = present_words(fold(text), q.aliases) - folded
    found = sum(1.0 if w in exact or fold(w) in aliased else 0.5 if fold(w) in folded else 0.0 for w in words)
    return found / len(words)


def _own_label(passage: PassageRecord) -> PassageRecord:
    """A table row reduced to its own label: "caption — 20. … › Số người đóng
    bảo hiểm y tế — Đơn vị: … — …" -> "Số người đóng bảo hiểm y tế"."""
    parts = passage.text.split(" — ")
    label = parts[1] if len(parts) > 2 else parts[0]
    return replace(passage, text=label.rsplit(" › ", 1)[-1], section="")


def sibling_rows(response: SearchResponse, limit: int = 5) -> list[Result]:
    """Other rows of the top result's table whose own label matches the query as
    well as the top row's: "chỉ tiêu BHYT năm 2021" is answered by the coverage
    rate (91,5 %) *and* the number of insured people (259.195), not by the
    number paying social insurance listed under the same parent row."""
    if not response.results or response.results[0].passage.kind != "table_row":
        return []
    q, top = response.understood, response.results[0]
    needed = coverage(q, _own_label(top.passage))
    if needed == 0:
        return []
    return [
        r for r in response.results[1:limit]
        if r.passage.kind == "table_row" and r.doc.id == top.doc.id and r.passage.section == top.passage.section
        and coverage(q, _own_label(r.passage)) >= needed
    ]


def confident(response: SearchResponse, min_coverage: float = 0.5, min_cosine: float = 0.80) -> bool:
    """Whether the top result answers the query, rather than merely being the
    least bad passage: /answer returns null otherwise. Thresholds chosen on the
    development set: the best balanced accuracy (answerable / unanswerable) that
    keeps at least 70 % of answerable queries answered right (0.71 / 0.64 here;
    0.3 gives 0.76 / 0.55, 0.7 gives 0.62 / 0.91)."""
    if not response.results:
        return False
    q, top = response.understood, response.results[0]
    if q.places:  # a district the corpus says nothing about
        return False
    years_known = set(top.doc.years) | {int(y) for y in re.findall(r"\b(?:19|20)\d\d\b", top.passage.text)}
    if q.years and not q.years & years_known:
        return False
    if q.districts and top.doc.district and top.doc.district not in q.districts:
        return False  # the query names another district than the one the passage is about
    if q.period and top.doc.period != q.period and fold(q.period) not in fold(top.passage.text + " " + top.passage.section):
        return False  # "6 tháng đầu năm 2023" is not answered by a report on 2024
    cosine = response.dense_scores.get(top.passage.id, 0.0)
    return coverage(q, top.passage) >= min_coverage and cosine >= min_cosine


class Searcher:
    """Search over one open index; cheap to call, built once per index."""

    def __init__(self, index: Index, weights: Weights | None = None):
        self.index = index
        self.weights = weights or Weights()
        documents = index.documents()
        self.lexicon = Lexicon.build(
            index.vocabulary(), index.mined_abbreviations(), {d.district for d in documents.values()}
        )

    @classmethod
    def plain(cls, index: Index) -> Searcher:
        """Hybrid search without query understanding: no abbreviations, no
        diacritic restoration, no period/place signals, plain RRF. The baseline
        that the development set compares the full search with."""
        searcher = cls(index, Weights(fusion="rrf", lexical=1.0, dense=1.0, period=0, district=0, table=0, accent=0))
        searcher.lexicon = Lexicon()
        return searcher

    # -- filters --------------------------------------------------------------
    def check_filters(self, filters: Filters) -> None:
        docs = self.index.documents().values()
        known = {
            "district": sorted({d.district for d in docs if d.district}),
            "type": sorted({d.type for d in docs if d.type}),
        }
        for name in ("district", "type"):
            value = getattr(filters, name)
            if value and fold(value) not in {fold(v) for v in known[name]}:
                choices = ", ".join(known[name]) or "none"
                raise QueryError(f"Unknown {name} {value!r}. Known values: {choices}.")

    def allowed_passages(self, filters: Filters) -> np.ndarray | None:
        if not filters.active():
            return None
        self.check_filters(filters)
        docs = [
            d.id for d in self.index.documents().values()
            if (not filters.district or fold(d.district) == fold(filters.district))
            and (not filters.type or fold(d.type) == fold(filters.type))
            and (not filters.year or filters.year in d.years or d.date.startswith(str(filters.year)))
        ]
        return self.index.passage_ids(docs)

    # -- retrieval --------------------------------------------------------------
    def lexical_expression(self, q: Query) -> str:
        folded = _QUESTION_WORDS.sub(" ", " ".join(re.findall(r"\w+", q.folded)))
        syllables = folded.split()
        words = [w for w in segment(q.restored).split() if not _QUESTION_WORDS.fullmatch(fold(w).replace("_", " "))]
        phrases = [" ".join(pair) for pair in zip(syllables, syllables[1:])]
        for extra in q.expanded:
            extra_folded = " ".join(re.findall(r"\w+", fold(extra)))
            syllables += extra_folded.split()
            phrases.append(extra_folded)
            words += segment(extra).split()
        parts = []
        if words:
            parts.append(f"words : ({_or(words)})")
        if syllables or phrases:
            parts.append(f"folded : ({_or(syllables + phrases)})")
            parts.append(f"context : ({_or(syllables)})")
        return " OR ".join(f"({p})" for p in parts)

    def lexical(self, q: Query, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        expression = self.lexical_expression(q)
        return self.index.lexical(expression, k, self.weights.bm25, allowed) if expression else []

    def dense(self, q: Query, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        vector = self.index.embedder.encode_query(q.dense_text)
        return self.index.dense_search(vector, k, allowed)

    def fuse(self, lexical: list[tuple[int, float]], dense: list[tuple[int, float]]) -> dict[int, float]:
        w = self.weights
        scores: dict[int, float] = {}
        if w.fusion == "rrf":
            for weight, ranked in ((w.lexical, lexical), (w.dense, dense)):
                for rank, (pid, _) in enumerate(ranked):
                    scores[pid] = scores.get(pid, 0.0) + weight / (w.rrf_k + rank + 1)
            return scores
        for weight, ranked in ((w.lexical, _max_normalised(lexical)), (w.dense, _min_max_normalised(dense))):
            for pid, value in ranked:
                scores[pid] = scores.get(pid, 0.0) + weight * value
        return scores

    def rescore(self, q: Query, scores: dict[int, float], passages: dict[int, PassageRecord]) -> dict[int, float]:
        w = self.weights
        docs = self.index.documents()
        target_style = bool(_TARGET_WORDS.search(q.folded))
        accented_words = {x for x in re.findall(r"\w+", q.text.lower()) if fold(x) != x}
        out = {}
        for pid, score in scores.items():
            passage = passages[pid]
            doc = docs[passage.doc_id]
            boost = 0.0
            if q.period and doc.period == q.period:
                boost += w.period
            elif q.years and set(doc.years) & q.years:
                boost += w.period / 2
            elif q.years and doc.years:
                boost -= w.period / 2
            if q.districts and doc.district in q.districts:
                boost += w.district
            if target_style and passage.kind == "table_row":
                # a sub-row ("20. … › Số người đóng bảo hiểm y tế") details its parent
                # indicator; unless the query names the detail, the headline row answers first
                boost += w.table / 2 if " › " in passage.text else w.table
            if q.accented and accented_words:
                present = set(re.findall(r"\w+", passage.text.lower()))
                boost += w.accent * len(accented_words & present) / len(accented_words)
            out[pid] = score * (1.0 + boost)
        return out

    def search(
        self, query: str, k: int = 10, mode: str = "hybrid", filters: Filters | None = None, offset: int = 0
    ) -> SearchResponse:
        started = time.perf_counter()
        if mode not in MODES:
            raise QueryError(f"Unknown mode {mode!r}; use one of: {', '.join(MODES)}.")
        q = understand(query, self.lexicon)
        allowed = self.allowed_passages(filters or Filters())
        depth = max(CANDIDATES, offset + k)
        lexical = self.lexical(q, depth, allowed) if mode in ("hybrid", "lexical") else []
        dense = self.dense(q, depth, allowed) if mode in ("hybrid", "dense") else []
        if mode == "hybrid":
            fused = self.fuse(lexical, dense)
            passages = self.index.passages(fused)
            scores = self.rescore(q, fused, passages)
        else:
            scores = dict(lexical or dense)
            passages = self.index.passages(scores)
        ranked = sorted(scores.items(), key=lambda item: -item[1])
        docs = self.index.documents()
        results = []
        for pid, score in ranked[offset : offset + k]:
            passage = passages[pid]
            answer, start = best_answer(q, passage)
            results.append(Result(passage, docs[passage.doc_id], score, answer, start, highlights(q, passage, answer, start)))
        took = (time.perf_counter() - started) * 1000
        return SearchResponse(query, q, results, len(ranked), took, mode, dict(dense))


def _max_normalised(ranked: list[tuple[int, float]]) -> list[tuple[int, float]]:
    top = max((s for _, s in ranked), default=0.0)
    return [(pid, s / top) for pid, s in ranked] if top > 0 else []


def _min_max_normalised(ranked: list[tuple[int, float]]) -> list[tuple[int, float]]:
    if not ranked:
        return []
    lo, hi = min(s for _, s in ranked), max(s for _, s in ranked)
    return [(pid, (s - lo) / (hi - lo) if hi > lo else 1.0) for pid, s in ranked]


def _or(terms: list[str]) -> str:
    unique = dict.fromkeys(t for t in terms if re.search(r"\w", t))
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in unique)
