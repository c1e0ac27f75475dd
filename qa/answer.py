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
    for a, b in aliases:
        a, b = " ".join(_WORD.findall(fold(a))), " ".join(_WORD.findall(fold(b)))
        if f" {b} " in padded:
            extra.update(a.split())
        if f" {a} " in padded:
            extra.update(b.split())
    return extra


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
    if passage.kind == "table_row":
        # A row reads "caption — label — unit — value": the answer is the row from its label on.
        first = text.find(" — ")
        start = first + 3 if 0 <= first < len(text) // 2 else 0
        return text[start:], start
    folded = fold(text)
    terms = query_terms(q)
    wants_number = bool(_QUANTITY.search(q.folded))
    unit = counted_unit(q)
    best, best_score = (0, min(len(text), MAX_ANSWER_CHARS)), -1.0
    for a, b in _spans(text, _SENTENCE_END):
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
