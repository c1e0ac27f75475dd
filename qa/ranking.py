"""Learned ranking and answering: per-candidate features, two small linear models,
and the one configuration object that holds every ranking and answering knob.

``Searcher.search`` gathers candidates (lexical and dense lists), then:

1. ``candidate_features`` describes each candidate with a few dozen numbers: its
   bm25 and cosine (and their margins to the best), its rank in each list, how much
   of the question it covers, whether its document is *about* the period asked for
   or merely *mentions* it, the district, the passage kind, the document type …;
2. ``RankingConfig.rank_scores`` orders the candidates with a logistic model over
   those features;
3. ``answer_features`` describes the top candidate as an answer to *this* question
   (does it state the year, district and period asked for, the kind of value asked
   for, enough of the question's content, how far ahead of the rest it is), and
   ``RankingConfig.answer_probability`` says how likely it is to be right; /answer
   declines below ``answer_threshold``.

The weights are not set by hand: ``qa train`` (``qa.training``) fits them on the
development set with cross-validation and writes ``qa/data/ranking.json``, which
``RankingConfig.load`` reads. Nothing here hard-codes a weight; the defaults below
are only what an untrained install falls back to (plain reciprocal-rank fusion).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel, Field

from qa.periods import same_period
from qa.text import fold

CONFIG_FILE = "ranking.json"
_WORD = re.compile(r"\w+")
_YEAR = re.compile(r"(?<![\d/.,])(?:19[5-9]\d|20\d\d)(?!\d)")
# Target-style questions, where a row of a targets table is the natural answer.
_TARGET_WORDS = re.compile(r"\b(chi tieu|ke hoach|ty le|bao nhieu|muc tieu|phan dau|dat)\b")

# What kind of value a question asks for, and how an answer shows it (folded text).
VALUE_KINDS = {
    "percent": (re.compile(r"\b(ty le|phan tram|bao nhieu %|%|ti le)\b|%"), re.compile(r"\d\s*%|\bphan tram\b")),
    "amount": (re.compile(r"\b(bao nhieu tien|kinh phi|ngan sach|thu ngan sach|chi ngan sach|von|ty dong|trieu dong|dong)\b"),
               re.compile(r"\d[\d.,]*\s*(ty|trieu|nghin|dong)\b")),
    "date": (re.compile(r"\b(khi nao|bao gio|ngay nao|thoi gian nao|thoi han|han chot|luc nao)\b"),
             re.compile(r"\b(ngay\s+\d|\d{1,2}/\d{1,2}|thang\s+\d|quy\s+[ivx\d]|nam\s+(19|20)\d\d)")),
    "phone": (re.compile(r"\b(so dien thoai|duong day nong|hotline|so may)\b"),
              re.compile(r"(?<![\d.,])(?:\d[ .]?){8,11}(?![\d.,])")),
    # a figure that is not a year ("2024" does not say how many)
    "count": (re.compile(r"\b(bao nhieu|so luong|may)\b"), re.compile(r"(?<![\d.,/])(?!(?:19|20)\d\d(?!\d))\d")),
    "name": (re.compile(r"\b(ai|ten la gi|la ai|don vi nao|co quan nao|phuong nao|chu de)\b"), re.compile(r"\w")),
}
# Words asking for a kind of figure, not naming its topic, folded: a targets table says
# "KH năm 2021", not "chỉ tiêu".
_KIND_PHRASES = ("chi tieu", "muc tieu", "ke hoach", "ket qua", "so luong", "tong so", "phan tram", "bao nhieu")
# Compounds that ask rather than say what is asked for ("bao_nhiêu", "hiện_nay"), folded.
_ASKING_COMPOUNDS = frozenset({
    "nhu the nao", "the nao", "hien nay", "hien tai", "bay gio", "khi nao", "bao gio", "o dau",
    "la gi", "cho hoi", "xin hoi", "muon biet", "duoc khong", "co khong", "nhung gi", "vi sao", "tai sao",
    *_KIND_PHRASES})

RANK_FEATURES = (
    "lexical", "lexical_rr", "lexical_present", "cosine", "cosine_margin", "dense_rr", "dense_present",
    "coverage", "label_coverage", "section_coverage", "phrase_overlap",
    "about_period", "about_year", "other_year_doc", "states_year", "mentions_other_year", "doc_recency",
    "district_match", "district_other", "district_doc", "doc_named", "doc_named_other",
    "table_row", "table_target", "table_subrow", "accent", "log_length",
    # relative to the other candidates of the same question, and interactions a linear
    # model cannot form by itself
    "coverage_gap", "label_coverage_gap", "table_target_label", "density",
    # the question's words weighted by how rare they are in the index
    "rare_coverage", "rare_coverage_gap",
    # the question's topic: its words without those that describe the document asked about
    "topic_coverage", "topic_coverage_gap",
    # the article that puts the document into effect ("Điều 2. Tổ chức thực hiện", "Điều
    # khoản thi hành"): it names the resolution and its bodies, and answers no question on a topic
    "enacting_clause",
)
_ENACTING = re.compile(r"\b(to chuc thuc hien|dieu khoan thi hanh|hieu luc thi hanh|trach nhiem thi hanh)\b")
ANSWER_FEATURES = (
    "rank_score", "rank_margin", "rank_spread", "coverage", "label_coverage", "cosine", "cosine_margin",
    "lexical", "year_asked_met", "year_asked_missed", "district_asked_met", "period_asked_missed",
    "kind_asked", "kind_met", "content_words", "unknown_words",
    "rare_coverage", "rare_missing", "answer_coverage", "unit_asked", "unit_met", "asks_now", "doc_named_missed",
    # the question's compound words ("dân_số", "điểm_chuẩn") written as such in the passage (with
    # its section and title) and in the answer: their syllables scattered apart do not say it
    "compounds", "compound_coverage", "compound_answer_coverage",
)
# "hôm nay", "tuần này": the archive holds resolutions and reports, not today's news
_NOW = re.compile(r"\b(hom nay|tuan nay|thang nay|bay gio|luc nay|ngay mai|tuan sau|tuan toi|hien tai)\b")


class LinearModel(BaseModel):
    """A logistic model over standardised features: p = σ(bias + Σ w·(x − mean)/scale)."""

    features: list[str]
    weights: list[float]
    mean: list[float]
    scale: list[float]
    bias: float = 0.0

    def logits(self, x: np.ndarray, names: tuple[str, ...] | None = None) -> np.ndarray:
        """``x``: rows of the features ``names`` (default: the model's own); the model reads
        its features by name, so a configuration trained before a feature was added still loads."""
        if names is not None and tuple(self.features) != tuple(names):
            x = x[..., [names.index(f) for f in self.features]]
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return z @ np.asarray(self.weights) + self.bias

    def probability(self, x: np.ndarray, names: tuple[str, ...] | None = None) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(x, names)))


class RankingConfig(BaseModel):
    """Every knob of ranking and answering, in one object (``qa/data/ranking.json``)."""

    candidates: int = 100                      # taken from each of the lexical and the dense list
    # A question naming a district or a document by number also searches within that
    # district's (that document's) passages, and this many of each list join the candidates:
    # in an archive of many years and provinces, the district's own passage about a topic in
    # everyday words can rank below a hundred national ones (``Searcher.retrieve``).
    scoped_candidates: int = 40
    bm25: tuple[float, float, float] = (1.0, 1.0, 0.3)  # words, folded, context columns
    rrf_k: float = 60.0                        # the untrained fallback: reciprocal rank fusion
    ranker: LinearModel | None = None
    answerer: LinearModel | None = None
    answer_threshold: float = 0.5
    # ``also``: other periods of the same indicator — passages of other documents of the
    # same district and type whose wording (figures and years aside) is this similar.
    also_similarity: float = 0.6
    also_limit: int = 5
    # A question naming no year, period or document is about what applies now: a candidate
    # whose document is replaced or expired (qa.relations.NOT_IN_FORCE) loses this many
    # standard deviations of the candidates' scores, so it moves below in-force documents'
    # passages of similar score (and stays above much weaker ones). Applied by
    # ``prefer_in_force``; not learned. In units of the scores' spread, not of the scores, so
    # that it means the same for every trained ranker: measured on four real circulars each
    # replacing the one before (tests/test_number_search.py), an in-force passage comes first
    # for 4 of 8 questions about them without it, and for 8 of 8 from 1.5 to 2.5 with both the
    # ranker of 2026-12-02 and that of 2026-12-04 (1.0: 8 and 7 of 8).
    superseded_penalty: float = 2.0
    trained: dict = Field(default_factory=dict)  # provenance: when, on what, held-out numbers

    @classmethod
    def load(cls, path: Path | None = None) -> RankingConfig:
        if path is None:
            source = resources.files("qa") / "data" / CONFIG_FILE
            if not source.is_file():
                return cls()
            return cls.model_validate_json(source.read_text(encoding="utf-8"))
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))

    def save(self, path: Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=1) + "\n", encoding="utf-8")

    def rank_scores(self, features: np.ndarray) -> np.ndarray:
        """One score per candidate (rows of ``RANK_FEATURES``), higher first: the ranker,
        or plain reciprocal rank fusion of the two lists until a ranker is trained."""
        if self.ranker is not None and len(features):
            scores = self.ranker.logits(features, RANK_FEATURES)
        else:
            scores = np.zeros(len(features))
            for name in ("lexical_rr", "dense_rr"):
                reciprocal = features[:, RANK_FEATURES.index(name)]  # 1 / (rank + 1), 0 when absent
                present = reciprocal > 0
                scores[present] += 1.0 / (self.rrf_k + 1.0 / reciprocal[present])
        # A question that names a document by number ("nghị quyết 21 … về X") is about that
        # document: its passages come first, in their own order.
        named = features[:, RANK_FEATURES.index("doc_named")] if len(features) else features
        if len(features) and named.any():
            scores = scores + named * (scores.max() - scores.min() + 1.0)
        return scores

    def prefer_in_force(self, scores: np.ndarray, superseded: np.ndarray) -> np.ndarray:
        """``scores`` with ``superseded_penalty`` standard deviations of them taken from
        candidates of documents no longer in force (``superseded``: 1.0 for those, else 0.0)."""
        spread = float(scores.std()) if len(scores) > 1 else 0.0
        return scores - self.superseded_penalty * spread * superseded

    def answer_probability(self, features: np.ndarray) -> float:
        if self.answerer is None:
            return 1.0
        return float(self.answerer.probability(features[None, :], ANSWER_FEATURES)[0])


# --------------------------------------------------------------------------- features


@dataclass
class Candidates:
    """The two ranked lists of one query, as ``{passage id: (rank, score)}`` (rank None: found
    only by a search within the question's scope, ``extended``)."""

    lexical: dict[int, tuple[int | None, float]]
    dense: dict[int, tuple[int | None, float]]

    @classmethod
    def of(cls, lexical: list[tuple[int, float]], dense: list[tuple[int, float]]) -> Candidates:
        return cls({p: (r, s) for r, (p, s) in enumerate(lexical)}, {p: (r, s) for r, (p, s) in enumerate(dense)})

    def extended(self, lexical: list[tuple[int, float]], dense: list[tuple[int, float]]) -> Candidates:
        """These lists with the passages of ``lexical`` and ``dense`` (lists searched within a
        scope, with the same scores) they lack, with their scores and no rank: they are not
        in the whole lists (``lexical_present`` and the reciprocal ranks stay 0), which is
        what their rank there would tell."""
        def grow(ranked: dict, more: list[tuple[int, float]]) -> dict:
            out = dict(ranked)
            for p, s in more:
                out.setdefault(p, (None, s))
            return out

        return Candidates(grow(self.lexical, lexical), grow(self.dense, dense))

    def ids(self) -> list[int]:
        return list(dict.fromkeys([*self.lexical, *self.dense]))


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_words(q) -> list[str]:
    from qa.answer import STOPWORDS

    # "nghị quyết 21" names a document: not what is asked
    return [w for w in words_of(q.restored) if w not in STOPWORDS and not w.isdigit() and fold(w) not in q.reference_words]


@dataclass
class Vocabulary:
    """How often each folded syllable occurs in the index (the lexical ``words`` column):
    ``rarity`` weighs a question's words, so that missing "camera" or "covid" counts for
    more than missing "quận" or "năm"."""

    counts: dict[str, int]
    total: int

    @classmethod
    def of(cls, words) -> Vocabulary:
        counts: dict[str, int] = {}
        for word, count in words:
            for syllable in fold(word).split("_"):
                counts[syllable] = counts.get(syllable, 0) + count
        return cls(counts, sum(counts.values()))

    def __contains__(self, syllable: str) -> bool:
        return syllable in self.counts

    def rarity(self, syllable: str) -> float:
        """log of the inverse share of the index's words; an unseen word is the rarest."""
        return math.log((self.total + 1) / (self.counts.get(syllable, 0) + 1))


# Words that say which document a question is about rather than what it asks about:
# "nghị quyết HĐND quận … nhiệm vụ 6 tháng cuối năm về <topic>". Accented (the query's
# diacritics are restored first): folded, "báo" would also drop "bảo" of bảo hiểm.
_DESCRIPTOR_WORDS = frozenset(
    "nghị quyết báo cáo kế hoạch chương trình định hđnd ubnd hội đồng nhân dân ủy uỷ ban quận huyện "
    "phường nhiệm vụ giải pháp trọng tâm tháng cuối đầu năm quý nửa về".split())


def topic_words(q) -> list[str]:
    """The content words of the question without those describing the document (its type,
    issuer, district and period): what a passage of that document must be about."""
    named = {s for d in q.districts for s in _WORD.findall(fold(d))}
    named |= {s for p in q.periods for s in _WORD.findall(q.folded[p.start : p.end])}
    return [w for w in content_words(q) if w not in _DESCRIPTOR_WORDS and fold(w) not in named]


def query_syllables(q) -> list[str]:
    """The question's content words as folded syllables, each once."""
    return list(dict.fromkeys(s for w in content_words(q) for s in _WORD.findall(fold(w))))


def rare_coverage(syllables: list[str], weights: list[float], text: str | TextView, aliases) -> float:
    """Share of the question's rarity-weighted syllables present in ``text`` (an alias's
    other form counts: "GPXD" in the text covers "giấy phép xây dựng")."""
    if not syllables:
        return 0.0
    present = present_in(text, aliases)
    total = sum(weights) or 1.0
    return sum(w for s, w in zip(syllables, weights) if s in present) / total


@dataclass(frozen=True)
class TextView:
    exact: frozenset[str]    # words as written, lower case
    folded: frozenset[str]   # the same, folded
    padded: str              # the folded words joined by spaces, a space at each end: phrase look-ups


# About 17 KB a passage: 30,000 passages' views are about half a gigabyte per process.
@lru_cache(maxsize=30_000)
def text_view(text: str) -> TextView:
    """A passage's words, computed once per text and kept, since the same passages come
    back query after query (features are the hot path of a search; folding is most of
    a first search's cost)."""
    lower = text.lower()
    folded = _WORD.findall(fold(lower))
    return TextView(frozenset(_WORD.findall(lower)), frozenset(folded), f" {' '.join(folded)} ")


def joined_view(*texts: str) -> TextView:
    """The view of the texts joined by spaces, made from each one's cached view (a
    passage's text, its section, its document's title: each folded once, not once for
    every combination of them)."""
    views = [text_view(t) for t in texts]
    if len(views) == 1:
        return views[0]
    return TextView(frozenset().union(*(v.exact for v in views)), frozenset().union(*(v.folded for v in views)),
                    views[0].padded + "".join(v.padded[1:] for v in views[1:]))


def _view(text: str | TextView) -> TextView:
    return text if isinstance(text, TextView) else text_view(text)


def present_in(text: str | TextView, aliases) -> frozenset[str] | set[str]:
    """The folded words of ``text``, plus those an alias brings in (``qa.answer.alias_words``)."""
    from qa.answer import alias_words

    view = _view(text)
    return view.folded | alias_words(view.padded, aliases) if aliases else view.folded


def coverage_of(words: list[str], text: str | TextView, aliases) -> float:
    """Share of ``words`` found in ``text``: fully as typed (or through an alias),
    half when only the folded form is there ("vé" is not "về")."""
    from qa.answer import alias_words

    if not words:
        return 0.0
    view = _view(text)
    aliased = alias_words(view.padded, aliases) - view.folded if aliases else set()
    found = 0.0
    for w in words:
        f = _fold_word(w)
        found += 1.0 if w in view.exact or f in aliased else 0.5 if f in view.folded else 0.0
    return found / len(words)


@lru_cache(maxsize=50_000)
def _fold_word(word: str) -> str:
    """A question word folded: once, not once per candidate passage."""
    return fold(word)


class _Part(NamedTuple):
    """What one text, or several read as one, holds of one question's words (``_QuestionMatcher``)."""

    exact: frozenset[str]        # question words present as typed
    folded: frozenset[str]       # question words' folded forms and syllables present
    alias_words: frozenset[str]  # words of the question's aliases' forms present

    def __or__(self, other: _Part) -> _Part:  # type: ignore[override]  # the texts read as one
        return _Part(self.exact | other.exact, self.folded | other.folded, self.alias_words | other.alias_words)


class _Found(NamedTuple):
    """A ``_Part`` with the folded words its aliases bring in (``qa.answer.alias_words``)."""

    exact: frozenset[str]
    folded: frozenset[str]
    aliased: frozenset[str] | set[str]


class _QuestionMatcher:
    """One question's words and aliases, prepared once, matched against each candidate's texts.

    ``coverage_of(words, joined_view(text, section), aliases)`` builds the union of both
    texts' word sets for every candidate, then looks a few words up in it. Intersecting each
    text's sets with the question's few words (``&`` walks the smaller set) and uniting those
    small results gives the same answer for those words, at a fraction of the cost; and a
    text shared by many candidates (a section, a document's title) is intersected once.

    Aliases are looked for in the joined padded text, as ``coverage_of`` does (an alias may
    span two texts), but only when the texts hold every word of one of an alias's forms:
    without them the form cannot be there, and most candidates are spared the search."""

    def __init__(self, words: list[str], topic: list[str], syllables: list[str], aliases):
        from qa.answer import _folded_aliases

        self.exact_words = frozenset(words) | frozenset(topic)
        self.folded_words = frozenset(_fold_word(w) for w in [*words, *topic]) | frozenset(syllables)
        self.aliases = aliases
        self._alias_forms = [frozenset(form) for _, a_words, _, b_words in _folded_aliases(tuple(aliases or ()))
                             for form in (a_words, b_words)]
        self._alias_words = frozenset().union(*self._alias_forms)
        self._parts: dict[str, _Part] = {}  # text -> what it holds of the question's words

    def candidate(self, text: str, section: str, title: str, label: str) -> tuple[_Found, _Found, _Found, _Found]:
        """What a candidate's texts hold, read as ``candidate_features`` reads them: its text
        and section; its label; its document's title and its section; all three."""
        text_part, section_part, title_part = self._part(text), self._part(section), self._part(title)
        label_part = text_part if label is text else self._part(label)
        body = text_part | section_part
        return (self._found(body, (text, section)), self._found(label_part, (label,)),
                self._found(title_part | section_part, (title, section)),
                self._found(body | title_part, (text, section, title)))

    def _part(self, text: str) -> _Part:
        part = self._parts.get(text)
        if part is None:
            view = text_view(text)
            part = self._parts[text] = _Part(view.exact & self.exact_words, view.folded & self.folded_words,
                                             view.folded & self._alias_words)
        return part

    def _found(self, part: _Part, texts: tuple[str, ...]) -> _Found:
        if not (self._alias_forms and any(form <= part.alias_words for form in self._alias_forms)):
            return _Found(part.exact, part.folded, frozenset())
        from qa.answer import alias_words

        views = [text_view(t) for t in texts]
        # the padded text of joined_view(*texts): the texts joined by one space
        padded = views[0].padded + "".join(v.padded[1:] for v in views[1:])
        return _Found(part.exact, part.folded, alias_words(padded, self.aliases))


def _coverage(words: list[tuple[str, str]], found: _Found) -> float:
    """``coverage_of`` over ``(word, folded word)`` pairs and what a text holds of them."""
    if not words:
        return 0.0
    exact, folded, aliased = found
    total = 0.0
    for w, f in words:
        # coverage_of's ``aliased - view.folded``: an alias's word not there folded already
        total += 1.0 if w in exact or (f in aliased and f not in folded) else 0.5 if f in folded else 0.0
    return total / len(words)


def _rare_coverage(syllables: list[str], weights: list[float], found: _Found) -> float:
    """``rare_coverage`` over what a text holds of the question's syllables."""
    if not syllables:
        return 0.0
    total = sum(weights) or 1.0
    return sum(w for s, w in zip(syllables, weights) if s in found.folded or s in found.aliased) / total


def own_label(passage) -> str:
    """A table row's own label, from its fields (``qa.rows.TableRow``): the row of
    ("20. Số người đóng …", "Số người đóng bảo hiểm y tế") -> "Số người đóng bảo hiểm y tế"
    (other passages: their text)."""
    if passage.kind != "table_row" or passage.row is None:
        return passage.text
    return passage.row.own_label


def passage_years(passage) -> set[int]:
    return _years_in(passage.text) | _years_in(passage.section)


@lru_cache(maxsize=100_000)
def _years_in(text: str) -> frozenset[int]:
    return frozenset(int(y) for y in _YEAR.findall(text))


def candidate_features(q, candidates: Candidates, passages: dict, docs: dict, newest_year: int,
                       vocabulary: Vocabulary | None = None) -> tuple[list[int], np.ndarray]:
    """``(ids, matrix)``: one row of ``RANK_FEATURES`` per candidate."""
    ids = [pid for pid in candidates.ids() if pid in passages]
    words = content_words(q)
    topic = topic_words(q)
    syllables = query_syllables(q)
    rarities = [vocabulary.rarity(x) for x in syllables] if vocabulary is not None else [1.0] * len(syllables)
    folded_query = " ".join(_WORD.findall(q.folded))
    query_pairs = {f"{a} {b}" for a, b in zip(folded_query.split(), folded_query.split()[1:])}
    padded_pairs = [(*pair.split(), f" {pair} ") for pair in query_pairs]  # padded once, not per candidate
    # the question's words matched against each text once, not once per coverage and candidate
    matcher = _QuestionMatcher(words, topic, syllables, q.aliases)
    word_forms = [(w, _fold_word(w)) for w in words]
    topic_forms = [(w, _fold_word(w)) for w in topic]
    years = set(q.years)
    target_style = bool(_TARGET_WORDS.search(q.folded))
    accented = {x for x in words_of(q.text) if fold(x) != x} if q.accented else set()
    lex_top = max((s for _, s in candidates.lexical.values()), default=0.0) or 1.0
    cos_top = max((s for _, s in candidates.dense.values()), default=0.0)
    cos_floor = min((s for _, s in candidates.dense.values()), default=0.0)
    rows, rare, topical, enacting = [], [], [], []
    for pid in ids:
        p = passages[pid]
        d = docs[p.doc_id]
        lex_rank, lex_score = candidates.lexical.get(pid, (None, 0.0))
        dense_rank, cosine = candidates.dense.get(pid, (None, cos_floor))
        stated = passage_years(p)
        doc_years = set(d.years)
        label = own_label(p)
        view = text_view(p.text)
        body, label_found, title_found, context = matcher.candidate(p.text, p.section, d.title, label)
        # (a pair can only be in the text if both its words are: set look-ups before the substring search)
        pairs = sum(1 for a, b, pair in padded_pairs if a in view.folded and b in view.folded and pair in view.padded
                    ) / len(query_pairs) if query_pairs else 0.0
        present = view.exact
        rows.append([
            lex_score / lex_top,
            1.0 / (lex_rank + 1) if lex_rank is not None else 0.0,
            float(lex_rank is not None),
            cosine,
            cosine - cos_top,
            1.0 / (dense_rank + 1) if dense_rank is not None else 0.0,
            float(dense_rank is not None),
            _coverage(word_forms, body),
            _coverage(word_forms, label_found),
            _coverage(word_forms, title_found),
            pairs,
            float(same_period(q.period, d.period)),
            float(bool(years & doc_years)),
            float(bool(years) and bool(doc_years) and not years & doc_years),
            float(bool(years & stated)),
            float(bool(years) and bool(stated) and not years & stated),
            (max(doc_years) - newest_year) / 10.0 if doc_years and not years else 0.0,
            float(bool(q.districts) and d.district in q.districts),
            float(bool(q.districts) and bool(d.district) and d.district not in q.districts),
            float(bool(d.district)),
            float(d.id in q.documents),
            float(bool(q.documents) and d.id not in q.documents),
            float(p.kind == "table_row"),
            float(target_style and p.kind == "table_row"),
            float(p.kind == "table_row" and " › " in p.text),
            len(accented & present) / len(accented) if accented else 0.0,
            math.log1p(len(p.text)) / 7.0,
        ])
        rare.append(_rare_coverage(syllables, rarities, context))
        topical.append(_coverage(topic_forms, body))
        enacting.append(float(bool(_ENACTING.search(_folded_section(p.section)))))
    derived = 9  # the columns computed below, from all candidates at once
    matrix = np.asarray(rows, dtype=np.float64).reshape(len(ids), len(RANK_FEATURES) - derived)
    col = {name: i for i, name in enumerate(RANK_FEATURES)}
    cov, label_cov = matrix[:, col["coverage"]], matrix[:, col["label_coverage"]]
    lengths = np.asarray([len(passages[pid].text) for pid in ids], dtype=np.float64)
    rare_cov = np.asarray(rare, dtype=np.float64)
    topic_cov = np.asarray(topical, dtype=np.float64)
    extra = np.stack([
        cov - (cov.max() if len(ids) else 0.0),
        label_cov - (label_cov.max() if len(ids) else 0.0),
        matrix[:, col["table_target"]] * label_cov,
        cov * len(words) / np.maximum(lengths, 50.0) * 100.0 if words else np.zeros(len(ids)),
        rare_cov,
        rare_cov - (rare_cov.max() if len(ids) else 0.0),
        topic_cov,
        topic_cov - (topic_cov.max() if len(ids) else 0.0),
        np.asarray(enacting, dtype=np.float64),
    ], axis=1) if len(ids) else np.zeros((0, derived))
    return ids, np.concatenate([matrix, extra], axis=1)


@lru_cache(maxsize=10_000)
def _folded_section(section: str) -> str:
    """The last heading of a section path, folded (once per section, not per candidate)."""
    return fold(section.rsplit(" › ", 1)[-1])


def question_compounds(q) -> list[str]:
    """The question's compound words (pyvi: "dân_số", "điểm_chuẩn"), folded, without those
    that ask ("bao_nhiêu"), those naming the district, the period or the document asked
    about, and those of the words naming a document by number."""
    from qa.text import segment

    named = {s for d in q.districts for s in _WORD.findall(fold(d))}
    named |= {s for p in q.periods for s in _WORD.findall(q.folded[p.start : p.end])} | set(q.reference_words)
    out = []
    for token in segment(q.restored).split():
        if "_" not in token:
            continue
        syllables = token.split("_")
        folded = fold(" ".join(syllables))
        if folded in _ASKING_COMPOUNDS or set(folded.split()) <= named or set(syllables) <= _DESCRIPTOR_WORDS:
            continue
        out.append(folded)
    return list(dict.fromkeys(out))


def phrase_share(phrases: list[str], text: str | TextView, aliases=()) -> float:
    """Share of ``phrases`` (folded, words joined by spaces) written in ``text``, or whose
    alias is ("khám bệnh" of "thẻ khám bệnh" when the text says "thẻ bảo hiểm y tế"); 1.0
    for none."""
    if not phrases:
        return 1.0
    from qa.answer import _folded_aliases

    padded = _view(text).padded
    forms = [(a, b) for a, _, b, _ in _folded_aliases(tuple(aliases))]  # padded folded forms

    def said(p: str) -> bool:
        return f" {p} " in padded or any(
            (f" {p} " in a and b in padded) or (f" {p} " in b and a in padded) for a, b in forms)

    return sum(said(p) for p in phrases) / len(phrases)


def value_kind(q) -> str:
    """The kind of value the question asks for ("" when it asks for none in particular)."""
    for kind, (asked, _) in VALUE_KINDS.items():
        if asked.search(q.folded):
            return kind
    return ""


def answer_features(q, top_row: np.ndarray, scores: np.ndarray, answer: str, top_passage, top_doc,
                    vocabulary: Vocabulary | None = None) -> np.ndarray:
    """One row of ``ANSWER_FEATURES`` for the top candidate as the answer."""
    f = dict(zip(RANK_FEATURES, top_row))
    ordered = np.sort(scores)[::-1]
    margin = float(ordered[0] - ordered[1]) if len(ordered) > 1 else 1.0
    spread = float(ordered[0] - ordered[min(9, len(ordered) - 1)]) if len(ordered) > 1 else 1.0
    years = set(q.years)
    stated = passage_years(top_passage) | set(top_doc.years)
    kind = value_kind(q)
    shown = bool(VALUE_KINDS[kind][1].search(fold(answer))) if kind else True
    period_missed = bool(q.period) and not same_period(q.period, top_doc.period) and fold(q.period) not in fold(
        f"{top_passage.text} {top_passage.section}")
    words = content_words(q)
    unknown = [w for w in words if vocabulary is not None and fold(w) not in vocabulary]
    # the rarest question word the passage (with its section and title) lacks, against the rarest possible
    from qa.answer import counted_unit, states_unit

    syllables = query_syllables(q)
    context = present_in(f"{top_passage.text} {top_passage.section} {top_doc.title}", q.aliases)
    ceiling = math.log(vocabulary.total + 1) if vocabulary is not None and vocabulary.total else 1.0
    missing = max((vocabulary.rarity(x) if vocabulary is not None else 1.0 for x in syllables if x not in context),
                  default=0.0) / ceiling
    # what the answer must say: the question's words but those asking for a kind of figure
    # ("chỉ tiêu BHYT năm 2021" is answered by "Tỷ lệ bao phủ bảo hiểm y tế … KH năm 2021: 91,5")
    padded = f" {' '.join(_WORD.findall(q.folded))} "
    kind_syllables = {x for phrase in _KIND_PHRASES if f" {phrase} " in padded for x in phrase.split()}
    answer_cov = coverage_of([w for w in words if fold(w) not in kind_syllables] or words, answer, q.aliases)
    unit = counted_unit(q)
    compounds = question_compounds(q)
    return np.asarray([
        float(ordered[0]), margin, spread,
        f["coverage"], f["label_coverage"], f["cosine"], f["cosine_margin"], f["lexical"],
        float(bool(years) and bool(years & stated)), float(bool(years) and not years & stated),
        f["district_match"], float(period_missed),
        float(bool(kind)), float(shown),
        min(len(words), 12) / 12.0, len(unknown) / len(words) if words else 0.0,
        f["rare_coverage"], missing, answer_cov,
        float(bool(unit)), float(bool(unit) and states_unit(fold(answer), unit)),
        float(bool(_NOW.search(q.folded))),
        f["doc_named_other"],
        min(len(compounds), 4) / 4.0,
        phrase_share(compounds, joined_view(top_passage.text, top_passage.section, top_doc.title), q.aliases),
        phrase_share(compounds, answer, q.aliases),
    ], dtype=np.float64)


def hard_mismatch(q, top_passage, top_doc) -> str:
    """Why the top passage cannot answer this question whatever the model says
    ("" when nothing rules it out): the question names a year, a district or a
    period that the passage and its document are not about."""
    if q.places:
        return "district not in the archive"
    years = set(q.years)
    if years and not years & (passage_years(top_passage) | set(top_doc.years)):
        return "another year"
    if q.districts and top_doc.district and top_doc.district not in q.districts:
        return "another district"
    if q.period and not same_period(q.period, top_doc.period) and fold(q.period) not in fold(f"{top_passage.text} {top_passage.section}"):
        return "another period"
    if _month_not_covered(q, top_passage, top_doc):
        return "another period"
    return ""


def _month_not_covered(q, passage, doc) -> bool:
    """The question asks about a month ("tháng 7 năm 2024") that the document's period does
    not include and the passage does not name: a half-year report ending in June does not
    say what happened in July."""
    from qa.periods import find_periods

    months = [p for p in q.periods if p.kind == "month" and p.first_year]
    if not months or not doc.period:
        return False
    covering = find_periods(fold(doc.period))
    named = find_periods(fold(f"{passage.text} {passage.section}"))
    return not any(c.contains(m) for m in months for c in covering + named)


# --------------------------------------------------------------------------- also: other periods


def _shape(text: str) -> set[str]:
    """The words of a passage without its figures and years: what two versions of the
    same indicator share."""
    return {w for w in _WORD.findall(fold(text)) if not w.isdigit()}


def similarity(a: str, b: str) -> float:
    x, y = _shape(a), _shape(b)
    return len(x & y) / len(x | y) if x and y else 0.0
