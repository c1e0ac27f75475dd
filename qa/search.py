"""The one search function: the API, the CLI and the evaluation all call it.

``Searcher(index).search(query, k, mode, filters)``:

1. understand the query (``qa.query``): diacritics, abbreviations, periods, places;
2. candidates from the lexical index (FTS5 bm25 over pyvi words, folded
   syllables and folded syllable pairs) and from the dense index (FAISS);
3. ``hybrid`` orders the union of both lists with the learned ranker over
   per-candidate features (``qa.ranking``: bm25, cosine, coverage, period, district,
   passage kind …); ``lexical`` and ``dense`` return one list as it is, for comparison;
   a document the query names by number (``qa.docnumbers``) comes first, and when the
   question names no year, period or document, documents no longer in force move down
   (``RankingConfig.superseded_penalty``); each result carries its document's status;
4. each result gets its best answering sentence and highlight offsets (``qa.answer``);
   the top one is judged as an answer to *this* question (``confident``), and the same
   indicator's other periods are listed in ``also``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np

from qa.answer import Highlight, best_answer, highlights
from qa.lexical import LexicalQuery
from qa.query import NO_CONTENT, NO_CONTENT_MESSAGE, Lexicon, Query, QueryError, has_content, understand
from qa.ranking import (
    Candidates, RankingConfig, answer_features, candidate_features, coverage_of, content_words,
    Vocabulary, hard_mismatch, own_label, similarity,
)
from qa.relations import NOT_IN_FORCE, STATUSES
from qa.store import DocumentRecord, Index, PassageRecord
from qa.text import fold, segment

MODES = ("hybrid", "lexical", "dense")

# Question words carry no content; dropped from the lexical query (folded).
_QUESTION_WORDS = re.compile(r"\b(bao nhieu|nhu the nao|la gi|the nao|o dau|khi nao|bao gio|gi|nao|khong|nhung gi)\b")


@dataclass
class Filters:
    district: str | None = None
    year: int | None = None
    type: str | None = None
    status: str | None = None        # only documents of this validity status (qa.relations.STATUSES)
    include_expired: bool = True     # False: not documents replaced or expired (NOT_IN_FORCE)

    def __post_init__(self):
        # an empty form field ("district=") is no filter, not a district named ""
        self.district = _blank_to_none(self.district)
        self.type = _blank_to_none(self.type)
        self.status = _blank_to_none(self.status)

    def active(self) -> bool:
        return any(v not in (None, "") for v in (self.district, self.year, self.type)) or self.by_status()

    def by_status(self) -> bool:
        return bool(self.status) or not self.include_expired

    def admits(self, status: str) -> bool:
        """Whether a document of this validity status passes the status filters."""
        return (not self.status or status == self.status) and (self.include_expired or status not in NOT_IN_FORCE)


@dataclass
class Result:
    passage: PassageRecord
    doc: DocumentRecord
    score: float
    answer: str = ""
    answer_start: int = -1
    highlights: list[Highlight] = field(default_factory=list)
    status: str = "unknown"  # the document's validity (qa.relations.STATUSES)


@dataclass
class SearchResponse:
    query: str
    understood: Query
    results: list[Result]
    total: int
    took_ms: float
    mode: str
    dense_scores: dict[int, float] = field(default_factory=dict)  # cosine of each dense candidate
    # /answer: how likely the top result answers this question, why it cannot (if so),
    # and the same indicator in other periods' documents (newest first)
    answer_probability: float = 0.0
    declined: str = ""
    threshold: float = 0.5
    also: list[Result] = field(default_factory=list)
    # why there are no results, in plain words, when the query could not be searched at all
    message: str = ""
    # the documents the query names by number, best first (``Query.number_matches``); the
    # query's other words chose ``understood.documents`` among them
    named: list[DocumentRecord] = field(default_factory=list)


def sibling_rows(response: SearchResponse, limit: int = 5) -> list[Result]:
    """Other rows of the top result's table whose own label matches the query as
    well as the top row's: "chỉ tiêu BHYT năm 2021" is answered by the coverage
    rate (91,5 %) *and* the number of insured people (259.195), not by the
    number paying social insurance listed under the same parent row."""
    if not response.results or response.results[0].passage.kind != "table_row":
        return []
    q, top = response.understood, response.results[0]
    words = content_words(q)
    needed = coverage_of(words, own_label(top.passage), q.aliases)
    if needed == 0:
        return []
    return [
        r for r in response.results[1:limit]
        if r.passage.kind == "table_row" and r.doc.id == top.doc.id and r.passage.section == top.passage.section
        and coverage_of(words, own_label(r.passage), q.aliases) >= needed
    ]


def confident(response: SearchResponse) -> bool:
    """Whether the top result answers *this* question, rather than merely being the
    least bad passage: /answer returns null otherwise. Nothing rules it out (the year,
    district and period asked for; ``qa.ranking.hard_mismatch``) and the answer model
    gives it at least the threshold the trainer chose (``RankingConfig``)."""
    return bool(response.results) and not response.declined and response.answer_probability >= response.threshold


class Searcher:
    """Search over one open index; cheap to call, built once per index."""

    def __init__(self, index: Index, config: RankingConfig | None = None):
        self.index = index
        self.config = config or RankingConfig.load()
        documents = index.documents()
        vocabulary = index.vocabulary()
        self.lexicon = Lexicon.build(vocabulary, index.mined_abbreviations(), {d.district for d in documents.values()},
                                     documents.values())
        self.vocabulary = Vocabulary.of(vocabulary)
        self.newest_year = max((y for d in documents.values() for y in d.years), default=0)

    @classmethod
    def plain(cls, index: Index) -> Searcher:
        """Hybrid search without query understanding or learning: no abbreviations, no
        diacritic restoration, no period/place signals, plain reciprocal rank fusion.
        The baseline that the development set compares the full search with."""
        searcher = cls(index, RankingConfig())
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
                raise QueryError(f"Unknown {name} {value!r}. Known values: {choices}.", code="unknown_filter")
        if filters.status and filters.status not in STATUSES:
            raise QueryError(f"Unknown status {filters.status!r}. Known values: {', '.join(STATUSES)}.",
                             code="unknown_filter")

    def allowed_passages(self, filters: Filters) -> np.ndarray | None:
        if not filters.active():
            return None
        self.check_filters(filters)
        docs = [
            d.id for d in self.index.documents().values()
            if (not filters.district or fold(d.district) == fold(filters.district))
            and (not filters.type or fold(d.type) == fold(filters.type))
            and (not filters.year or filters.year in d.years or d.date.startswith(str(filters.year)))
            and (not filters.by_status() or filters.admits(self.status(d.id)))
        ]
        return self.index.passage_ids(docs)

    # -- retrieval --------------------------------------------------------------
    def lexical_query(self, q: Query) -> LexicalQuery:
        folded = _QUESTION_WORDS.sub(" ", " ".join(re.findall(r"\w+", q.folded)))
        # a document named by number is found through its number (``doc_named``), not its words:
        # "nghị quyết" would otherwise pull up every passage that cites a resolution
        syllables = [x for x in folded.split() if x not in q.reference_words]
        words = [w for w in segment(q.restored).split() if not _QUESTION_WORDS.fullmatch(fold(w).replace("_", " "))
                 and not set(fold(w).split("_")) <= q.reference_words]
        phrases = [" ".join(pair) for pair in zip(syllables, syllables[1:])]
        for extra in q.expanded:
            extra_folded = " ".join(re.findall(r"\w+", fold(extra)))
            syllables += extra_folded.split()
            phrases.append(extra_folded)
            words += segment(extra).split()
        return LexicalQuery(words=tuple(words), folded=tuple(syllables + phrases), context=tuple(syllables))

    def lexical(self, q: Query, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        return self.index.lexical(self.lexical_query(q), k, self.config.bm25, allowed)

    def retrieve(self, q: Query, mode: str, depth: int, allowed: np.ndarray | None) -> Candidates:
        lexical = self.lexical(q, depth, allowed) if mode in ("hybrid", "lexical") else []
        vector = self.index.embedder.encode_query(q.dense_text) if mode in ("hybrid", "dense") else None
        dense = self.index.dense_search(vector, depth, allowed) if vector is not None else []
        candidates = Candidates.of(lexical, dense)
        k = self.config.scoped_candidates
        scope = self.scope(q, allowed) if mode == "hybrid" and k > 0 else None
        if scope is not None and len(scope):
            candidates = candidates.extended(self.lexical(q, k, scope), self.index.dense_search(vector, k, scope))
        return candidates

    def scope(self, q: Query, allowed: np.ndarray | None) -> np.ndarray | None:
        """The passages of the documents a question names by number, else of the documents of
        the districts it names (within ``allowed``); None when it names neither, or when
        the whole index is theirs."""
        docs = self.index.documents()
        if q.documents:
            chosen = [d for d in q.documents if d in docs]
        elif q.districts:
            chosen = [d.id for d in docs.values() if d.district in q.districts]
        else:
            return None
        if len(chosen) == len(docs):
            return None
        scope = self.index.passage_ids(chosen)
        return np.intersect1d(scope, allowed) if allowed is not None else scope

    def features(self, q: Query, candidates: Candidates) -> tuple[list[int], np.ndarray, dict[int, PassageRecord]]:
        passages = self.index.passages(candidates.ids())
        ids, matrix = candidate_features(q, candidates, passages, self.index.documents(), self.newest_year,
                                         self.vocabulary)
        return ids, matrix, passages

    def rank(self, q: Query, candidates: Candidates, mode: str):
        """``(ranked ids, scores by id, features by id, passages)``."""
        if mode != "hybrid":
            scores = {pid: s for pid, (_, s) in (candidates.lexical or candidates.dense).items()}
            passages = self.index.passages(scores)
            return sorted(scores, key=lambda pid: -scores[pid]), scores, {}, passages
        ids, matrix, passages = self.features(q, candidates)
        values = self.config.rank_scores(matrix)
        if not (q.years or q.period or q.documents):  # a question about now: what is in force first
            values = self.config.prefer_in_force(values, np.asarray(
                [float(self.status(passages[pid].doc_id) in NOT_IN_FORCE) for pid in ids]))
        scores = dict(zip(ids, values.tolist()))
        order = sorted(scores, key=lambda pid: -scores[pid])
        return order, scores, dict(zip(ids, matrix)), passages

    def judge(self, q: Query, order: list[int], scores: dict[int, float], features: dict[int, np.ndarray],
              passages: dict[int, PassageRecord], answer: str) -> tuple[float, str]:
        """How likely the top candidate answers the question, and a reason it cannot."""
        top = passages[order[0]]
        doc = self.index.documents()[top.doc_id]
        declined = hard_mismatch(q, top, doc)
        row = answer_features(q, features[order[0]], np.asarray([scores[p] for p in order]), answer, top, doc,
                              self.vocabulary)
        return self.config.answer_probability(row), declined

    def other_periods(self, q: Query, top: Result, order: list[int], passages: dict[int, PassageRecord]) -> list[Result]:
        """The top result's indicator in other periods: passages of other documents of the
        same district and type, worded alike (figures and years aside), newest first."""
        docs = self.index.documents()
        found: dict[str, Result] = {}
        for pid in order[1:50]:
            p = passages[pid]
            d = docs[p.doc_id]
            if d.id == top.doc.id or d.id in found or d.district != top.doc.district or d.type != top.doc.type:
                continue
            if d.period == top.doc.period or similarity(p.text, top.passage.text) < self.config.also_similarity:
                continue
            answer, start = best_answer(q, p)
            found[d.id] = Result(p, d, 0.0, answer, start, [])
        also = sorted(found.values(), key=lambda r: (max(r.doc.years or [0]), r.doc.date), reverse=True)
        return also[: self.config.also_limit]

    def status(self, doc_id: str) -> str:
        """The document's validity status (in force, replaced, …; ``Index.validity``)."""
        found = self.index.validity(doc_id)
        return found.status if found else "unknown"

    def nothing_to_search(self, q: Query, mode: str, started: float) -> SearchResponse:
        """No results for a query without words or numbers ("*", "III.", "你好"): whatever
        came first would be unrelated, and its "answer" a heading."""
        return SearchResponse(q.raw, q, [], 0, (time.perf_counter() - started) * 1000, mode,
                              threshold=self.config.answer_threshold, declined=NO_CONTENT, message=NO_CONTENT_MESSAGE)

    def search(
        self, query: str, k: int = 10, mode: str = "hybrid", filters: Filters | None = None, offset: int = 0
    ) -> SearchResponse:
        started = time.perf_counter()
        if mode not in MODES:
            raise QueryError(f"Unknown mode {mode!r}; use one of: {', '.join(MODES)}.", code="unknown_mode")
        q = understand(query, self.lexicon)
        allowed = self.allowed_passages(filters or Filters())
        if not has_content(q.raw):
            return self.nothing_to_search(q, mode, started)
        candidates = self.retrieve(q, mode, max(self.config.candidates, offset + k), allowed)
        order, scores, features, passages = self.rank(q, candidates, mode)
        docs = self.index.documents()
        results = []
        for pid in order[offset : offset + k]:
            passage = passages[pid]
            answer, start = best_answer(q, passage)
            results.append(Result(passage, docs[passage.doc_id], scores[pid], answer, start,
                                  highlights(q, passage, answer, start), self.status(passage.doc_id)))
        response = SearchResponse(query, q, results, len(order), 0.0, mode,
                                  {pid: s for pid, (_, s) in candidates.dense.items()},
                                  threshold=self.config.answer_threshold,
                                  named=[docs[d] for d in q.number_matches if d in docs])
        if mode == "hybrid" and order and offset == 0:
            response.answer_probability, response.declined = self.judge(
                q, order, scores, features, passages, results[0].answer)
            response.also = self.other_periods(q, results[0], order, passages)
        response.took_ms = (time.perf_counter() - started) * 1000
        return response


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() or None if isinstance(value, str) else value
