"""Extractive answers: the sentence (or table row) of a passage that answers
the query, and character offsets a page can mark.

Offsets are into ``passage.text``. ``qa.text.fold`` maps each character to
exactly one character, so a match found in the folded text is at the same
offsets in the original.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from qa.periods import KINDS as PERIOD_KINDS
from qa.periods import most_specific, same_period
from qa.rows import ROW_SEP, SECTION_SEP
from qa.targets import TargetRecord, indicator_matcher
from qa.text import fold

_WORD = re.compile(r"\w+")
# Not at ":" — what follows a colon ("số người nghiện đang quản lý: 333 người") is the answer.
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"“(]?[A-ZĐÀ-Ỹ0-9-])|\n+")
_CLAUSE_END = re.compile(r"(?<=[;,])\s+|\s+(?=\()")
_QUANTITY = re.compile(r"\b(bao nhieu|ty le|so luong|chi tieu|muc|so|dat|tang|giam|bao nhieu phan tram)\b")
_NUMBER = re.compile(r"\d")
# Function words, accented: folded, "bao" (how much) would also drop "bảo" (insurance).
STOPWORDS = {
    "của", "và", "các", "những", "là", "có", "cho", "trong", "với", "được", "năm", "thì", "để", "tại",
    "về", "theo", "một", "này", "đó", "không", "gì", "nào", "bao", "nhiêu", "thế", "ở", "đã", "sẽ",
}
MAX_ANSWER_CHARS = 300
# "bao nhiêu dự án", "mấy hộ": the thing counted, which the answer states after a figure
# ("106 dự án", "173 hộ gia đình"); money and percentages are value kinds of their own.
_COUNTED = re.compile(r"\b(?:bao nhieu|may|so luong)\s+(\w+)")
_NOT_UNITS = {"tien", "phan", "la", "duoc", "nam", "thang", "ngay", "co", "con", "nua", "roi", "a", "vay", "the", "nhi"}


@dataclass
class Highlight:
    start: int
    end: int
    kind: str  # "term" (a query word) or "answer"


def query_terms(q) -> list[str]:
    """Folded content words of the query (diacritics restored first, so that
    function words can be told apart) and of its abbreviation expansions."""
    words = _WORD.findall(q.restored.lower()) + [w for e in q.expanded for w in _WORD.findall(e.lower())]
    named = q.reference_words  # the words naming a document ("nghị quyết 21") are not what is asked
    return list(dict.fromkeys(fold(w) for w in words if w not in STOPWORDS and fold(w) not in named))


def _spans(text: str, pattern: re.Pattern) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in pattern.finditer(text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def alias_words(padded: str, aliases: list[tuple[str, str]]) -> set[str]:
    """Folded words an alias brings in: those of one form when the other is in ``padded``
    (folded words joined by single spaces, with a space at each end)."""
    extra: set[str] = set()
    for a_padded, a_words, b_padded, b_words in _folded_aliases(tuple(aliases)):
        if b_padded in padded:
            extra.update(a_words)
        if a_padded in padded:
            extra.update(b_words)
    return extra


@lru_cache(maxsize=4096)
def _folded_aliases(aliases: tuple[tuple[str, str], ...]) -> tuple[tuple[str, tuple[str, ...], str, tuple[str, ...]], ...]:
    """Each alias's two forms folded, padded and split: once per question, not once per
    passage and span (``alias_words`` runs thousands of times a search)."""
    out = []
    for a, b in aliases:
        a_words, b_words = tuple(_WORD.findall(fold(a))), tuple(_WORD.findall(fold(b)))
        out.append((f" {' '.join(a_words)} ", a_words, f" {' '.join(b_words)} ", b_words))
    return tuple(out)


def present_words(folded_span: str, aliases: list[tuple[str, str]]) -> set[str]:
    """Words of the span, plus the words of an alias whose other form is there
    ("863 GPXD" answers "giấy phép xây dựng")."""
    words = _WORD.findall(folded_span)
    return set(words) | alias_words(f" {' '.join(words)} ", aliases)


def counted_unit(q) -> str:
    """The folded word a "how many" question counts ("" when it counts none in particular)."""
    m = _COUNTED.search(q.folded)
    return m.group(1) if m and m.group(1) not in _NOT_UNITS and not m.group(1).isdigit() else ""


def states_unit(folded_span: str, unit: str) -> bool:
    """Whether the span gives a figure of ``unit`` ("106 dự án", "1.467 lượt cơ sở")."""
    return bool(re.search(rf"\d[\d.,]*\s+(?:\w+\s+){{0,2}}?{re.escape(unit)}\b", folded_span))


def _score(folded_span: str, terms: list[str], wants_number: bool, aliases: list[tuple[str, str]],
           unit: str = "") -> float:
    present = present_words(folded_span, aliases)
    score = sum(1.0 + (0.5 if t.isdigit() else 0.0) for t in terms if t in present)
    pairs = sum(1 for a, b in zip(terms, terms[1:]) if f"{a} {b}" in folded_span)
    score += 0.5 * pairs
    if wants_number:  # "bao nhiêu …": a span without a figure does not answer it
        score *= 1.5 if _NUMBER.search(folded_span) else 0.5
    if unit and states_unit(folded_span, unit):  # ... and one with a figure of what is counted does
        score *= 2.0
    return score / math.log2(len(folded_span) / 80 + 2)  # prefer the tighter span


def best_answer(q, passage) -> tuple[str, int]:
    """The answering sentence (narrowed to a run of clauses when long) and its offset."""
    text = passage.text
    if passage.kind == "table_row" and passage.row is not None:
        # the answer is the row from its label on ("caption — label — Col: value" rendered;
        # a piece of a row too long for one passage, after the first, is its own answer)
        row = passage.row
        start = row.label_start if row.label_start and text.startswith(row.caption + ROW_SEP) else 0
        return text[start:], start
    folded = fold(text)
    terms = query_terms(q)
    wants_number = bool(_QUANTITY.search(q.folded))
    unit = counted_unit(q)
    best, best_score = (0, min(len(text), MAX_ANSWER_CHARS)), -1.0
    for a, b in answer_units(text, passage.section):
        clauses = [(a + x, a + y) for x, y in _spans(text[a:b], _CLAUSE_END)] if b - a > MAX_ANSWER_CHARS else [(a, b)]
        # windows of consecutive clauses that stay short enough to read
        for i in range(len(clauses)):
            for j in range(i, len(clauses)):
                if j > i and clauses[j][1] - clauses[i][0] > MAX_ANSWER_CHARS:
                    break
                score = _score(folded[clauses[i][0] : clauses[j][1]], terms, wants_number, q.aliases, unit)
                if score > best_score:
                    best, best_score = (clauses[i][0], _complete(text, clauses, i, j)), score
    start, end = best
    answer = text[start:end].strip().rstrip(",;")
    start += len(text[start:end]) - len(text[start:end].lstrip())
    return answer, start


# A sentence that goes on with the one before it ("Trong đó, …": what the lead sentence
# announces), folded.
_CONTINUES = re.compile(r"(trong do|theo do|cu the|dong thoi|ngoai ra|rieng)\b[,:]?")
_SECTION_SEP = " › "


def answer_units(text: str, section: str = "") -> list[tuple[int, int]]:
    """The sentences of a passage an answer is chosen from, as ``(start, end)``:

    * not its headings (a first line that is one of its section's headings, "6.2. Công tác
      … phòng cháy chữa cháy:"): they repeat the question's words and say nothing, and the
      section is shown beside the answer anyway — unless the passage is nothing else;
    * a sentence that announces what follows with a colon is joined to the next one, and
      one that goes on with the sentence before ("Trong đó, …") to that one.
    """
    spans = _spans(text, _SENTENCE_END)
    headings = {_bare(h) for h in section.split(_SECTION_SEP) if h.strip()}
    body = 0  # where the text after its heading lines starts
    for line in re.finditer(r"[^\n]+", text):
        if _bare(line.group()) not in headings:
            break
        body = line.end()
    if any(a >= body for a, _ in spans):
        spans = [(a, b) for a, b in spans if a >= body]
    units: list[tuple[int, int]] = []
    for a, b in spans:
        if units and (text[units[-1][0] : units[-1][1]].rstrip().endswith(":")
                      or _CONTINUES.match(fold(text[a:b]))):
            units[-1] = (units[-1][0], b)
        else:
            units.append((a, b))
    return units


def _bare(line: str) -> str:
    """A heading compared with another: folded, without spaces and closing punctuation."""
    return " ".join(_WORD.findall(fold(line)))


# Share of the question's words an indicator must hold for its record to be the answer's
# figure (``TargetBook.search`` lists indicators from MIN_SEARCH_SCORE on; an answer is surer).
MIN_TARGET_MATCH = 0.75
# What kind of figure a question asks for (folded): a comparison only when asked for.
_ASKS_COMPARISON = re.compile(r"\b(so voi|so sanh|cung ky|phan tram (?:du toan|ke hoach|chi tieu))\b")
_ASKS_PLAN = re.compile(r"\b(chi tieu|ke hoach|muc tieu|phan dau|du kien|giao)\b")
_ASKS_RESULT = re.compile(r"\b(ket qua|thuc hien|dat duoc|da dat|uoc dat|uoc tinh)\b")
_ASKS_SHARE = re.compile(r"\b(ty le|ti le|phan tram)\b|%")


def answering_target(q, answer: str, records: list[TargetRecord], doc_period: str = "") -> TargetRecord | None:
    """The target or reported figure that answers ``q`` directly, among ``records`` (those
    written in the answer's passage, ``TargetBook.in_passage``), or ``None``.

    A record qualifies when its indicator is the question's (``qa.targets.indicator_matcher``
    over its key or its own wording, a sub-row's parent aside: folded, abbreviations expanded,
    ``MIN_TARGET_MATCH`` of the question's words), its district the
    one asked (if any) and its period the one asked: the same span, else one inside it
    ("ngày 15/5/2024" for "6 tháng đầu năm 2024"), else one containing it (2020-2025 for
    2021); a record without a period does not answer a question that names one. Its figure
    is one that ``answer`` (the sentence or row shown) states, in the unit a "how many"
    question counts ("bao nhiêu dự án") and a share when a share is asked ("tỷ lệ"). A
    comparison (``56 %`` of the estimate) only answers a question asking for one. Among
    those: the best indicator match, the closest period, the kind asked (plan / estimate
    and result), the figure ``answer`` states first ("210 lượt", not the "133 lượt" of the
    brackets after it)."""
    match = indicator_matcher(q)
    if match is None or not records:
        return None
    asked = most_specific(q.periods, PERIOD_KINDS)
    districts = {fold(d) for d in q.districts}
    wants_comparison = bool(_ASKS_COMPARISON.search(q.folded))
    wanted_kinds = (("plan",) if _ASKS_PLAN.search(q.folded) else ()) + (
        ("estimate", "result") if _ASKS_RESULT.search(q.folded) else ())
    # (what "tăng bao nhiêu so với cùng kỳ" counts is a share of something else: no unit)
    unit = "" if wants_comparison else counted_unit(q)
    share_asked = bool(_ASKS_SHARE.search(q.folded))
    best, best_key = None, None
    for r in records:
        at = _figure_at(answer, r.value_written)
        if at < 0 or (unit and unit not in fold(r.unit).split()):
            continue
        if share_asked and r.kind != "comparison" and not r.unit.startswith("%"):
            continue
        own_words = " ".join(_WORD.findall(fold(r.indicator.rsplit(SECTION_SEP, 1)[-1])))  # a sub-row's own
        share, cover = max(match(r.key), match(own_words))
        if share < MIN_TARGET_MATCH or (districts and fold(r.district) not in districts):
            continue
        if (r.kind == "comparison") != wants_comparison:
            continue
        closeness = _period_closeness(asked, r, doc_period)
        if closeness is None:
            continue
        key = (-share, closeness, r.kind not in wanted_kinds if wanted_kinds else False,
               bool(r.compares_to) and fold(r.compares_to) not in q.folded, at, -cover, r.start)
        if best_key is None or key < best_key:
            best, best_key = r, key
    return best


def _figure_at(text: str, written: str) -> int:
    """Where the figure ``written`` is in ``text`` as a whole number ("1" not in "2021"), or -1."""
    m = re.search(rf"(?<![\d.,]){re.escape(written)}(?![\d]|[.,]\d)", text)
    return m.start() if m else -1


def _period_closeness(asked, r: TargetRecord, doc_period: str) -> int | None:
    """0 the period asked (or, none asked, the document's), 1 a part of it, 2 a span holding
    it, 3 another period when none is asked; ``None``: not the period asked."""
    if asked is None:
        return 0 if r.period_label == doc_period else 3
    if r.period is None:
        return None
    if asked.last_year is None and asked.kind != "annual":  # "6 tháng cuối năm": that part of any year
        return 0 if same_period(asked.label, r.period.label) else None
    if r.period.same(asked):
        return 0
    if asked.contains(r.period):
        return 1
    if r.period.contains(asked):
        return 2
    return None


def _complete(text: str, clauses: list[tuple[int, int]], i: int, j: int) -> int:
    """End of a window, carried over the clauses that finish its thought: a
    colon or "là" asking for what follows, an open quotation or a bracket
    ("kỷ niệm 25 năm Ngày thành lập (27/12/1995 - 27/12/2020)")."""
    start, end = clauses[i][0], clauses[j][1]
    while j + 1 < len(clauses) and end - start < MAX_ANSWER_CHARS:
        window = text[start:end].rstrip()
        following = text[clauses[j + 1][0] : clauses[j + 1][1]].lstrip()
        unfinished = window.endswith((":", " là", "“")) or window.count("“") > window.count("”")
        # a list the window opened with a colon, or a run of figures ("11 nhiệm vụ trọng tâm,
        # 141 nhiệm vụ cụ thể"), goes on in the next clause
        continues = (":" in window and following[:1].islower()) or (
            following[:1].isdigit() and bool(re.search(r"\d", window)) and len(following) <= 60)
        if not (unfinished or continues or following.startswith("(")):
            break
        j += 1
        end = clauses[j][1]
    return end


def highlights(q, passage, answer: str, answer_start: int) -> list[Highlight]:
    folded = fold(passage.text)
    marks = []
    for term in query_terms(q):
        for m in re.finditer(rf"(?<!\w){re.escape(term)}(?!\w)", folded):
            marks.append((m.start(), m.end()))
    merged: list[list[int]] = []
    for start, end in sorted(marks):
        # neighbouring words ("bảo hiểm y tế") become one mark
        if merged and start <= merged[-1][1] + 1 and not passage.text[merged[-1][1] : start].strip():
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    # a lone short syllable ("tế" of "kinh tế") is noise; runs, numbers and longer words are not
    out = [Highlight(s, e, "term") for s, e in merged
           if " " in passage.text[s:e] or e - s >= 4 or passage.text[s:e].isdigit()]
    if answer and answer_start >= 0:
        out.insert(0, Highlight(answer_start, answer_start + len(answer), "answer"))
    return out
