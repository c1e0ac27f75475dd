"""Relations between documents, read from their text, and each document's validity.

A Vietnamese official document says which documents it rests on and which it
changes, always in the same few phrasings:

* ``based_on``: its legal bases, the "Căn cứ ..." paragraphs of the preamble
  ("Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;",
  "Căn cứ Luật số 47/2019/QH14 ngày 22/11/2019 của Quốc hội sửa đổi, ...");
  a basis "được sửa đổi, bổ sung bởi Luật số 87/2025/QH15" rests on that law too;
* ``guides``: "Nghị định này quy định chi tiết / hướng dẫn (thi hành) ... Luật X";
* ``amends``: "Sửa đổi, bổ sung một số điều của Thông tư số 21/2021/TT-BLĐTBXH";
* ``replaces``: "... thay thế Quyết định số ...", and "Thông tư số 39/2015/TT-BTNMT
  ... hết hiệu lực kể từ ngày Thông tư này có hiệu lực" (the new document takes over);
* ``repeals``: "Bãi bỏ Quyết định số 32/2023/QĐ-UBND ...";
* ``corrects``: "Đính chính Nghị định số ...".

A relation is ``partial`` when it touches parts of the cited document ("bãi bỏ
khoản 5 Điều 4 của Nghị định số 74/2025/NĐ-CP", "thay thế Phụ lục ... kèm theo").

The cited document is a number (``qa.docnumbers``) or, for laws cited by name,
a title and date ("Luật Tổ chức chính quyền địa phương ngày 19/6/2015").
``link`` finds the indexed document each relation cites (by number, kind, issuer
and date; by title and date for laws cited by name) and gives the reverse edges.
``validity`` combines a document's own clauses ("có hiệu lực từ ngày ...",
"có hiệu lực kể từ ngày ký") with the documents that replace, repeal or amend it.

Consolidated texts (văn bản hợp nhất) state no relations of their own: they restate
their original's and the amending documents' words.

Persisting: ``SCHEMA`` / ``ensure_schema``, ``write_relations``, ``delete_relations``,
``read_relations``, ``load_graph`` (links are computed when loading).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace
from typing import Protocol

from qa.docnumbers import KIND_WORDS, DocNumber, NumberMention, document_number, find_numbers, matches
from qa.text import fold

KINDS = ("based_on", "guides", "amends", "replaces", "repeals", "corrects")
# Kinds by which a later document changes the cited one.
CHANGING = ("amends", "replaces", "repeals", "corrects")
STATUSES = ("in_force", "not_yet_in_force", "partly_amended", "replaced", "expired", "unknown")
# No longer in force: search prefers other documents when the question names no period.
NOT_IN_FORCE = ("replaced", "expired")
# What the page and the command line say of each status.
STATUS_LABELS = {"in_force": "Còn hiệu lực", "not_yet_in_force": "Chưa có hiệu lực", "partly_amended": "Sửa đổi một phần",
                 "replaced": "Hết hiệu lực (bị thay thế)", "expired": "Hết hiệu lực", "unknown": "Chưa rõ"}
MAX_PASSAGE = 600
# characters between a verb ("bãi bỏ") and the first document it acts on; "hướng dẫn"
# names its subject first ("hướng dẫn việc ủy quyền ... theo quy định tại Nghị định số ...")
MAX_OBJECT_DISTANCE = {"guides": 300}
MAX_SUBJECT_LEAD = 80       # characters before the first document of "... hết hiệu lực"


class DocumentLike(Protocol):
    """What linking and validity read of a document (``Document`` or the store's record)."""

    id: str
    title: str
    type: str
    number: str
    issuer: str
    date: str


@dataclass(frozen=True)
class Relation:
    kind: str                          # one of KINDS
    cited_number: DocNumber | None     # None for a law cited by name
    cited_kind: str                    # "luật", "nghị định", ... ("" unknown)
    cited_title: str                   # as written: "Luật Tổ chức chính quyền địa phương", or the number's phrase
    cited_date_text: str               # as written: "ngày 19/6/2015", "năm 2015" ("" if none)
    cited_date: str                    # ISO ("" if not a full date)
    cited_year: int | None             # from the date or the number
    cited_issuer: str                  # as written after "của": "Chính phủ", "HĐND Quận"
    start: int                         # evidence: the citation's offsets in the citing document's text
    end: int
    passage: str                       # the clause it was read from (at most MAX_PASSAGE characters)
    partial: bool = False              # about parts of the cited document

    @property
    def cited_key(self) -> str:
        """What identifies the cited document within one citing document."""
        if self.cited_number:
            return self.cited_number.key
        return f"{fold(self.cited_title)}|{self.cited_year or ''}"


@dataclass(frozen=True)
class Link:
    """A relation of ``source`` resolved to the indexed document ``target``."""

    source: str
    target: str
    relation: Relation
    method: str          # "number", "number+date", "title+date", ...


@dataclass
class Graph:
    relations: dict[str, list[Relation]] = field(default_factory=dict)   # citing doc id -> relations
    links: list[Link] = field(default_factory=list)

    def outgoing(self, doc_id: str) -> list[Link]:
        return [link for link in self.links if link.source == doc_id]

    def incoming(self, doc_id: str) -> list[Link]:
        """Which indexed documents cite, amend, replace or repeal ``doc_id``."""
        return [link for link in self.links if link.target == doc_id]


@dataclass(frozen=True)
class Evidence:
    kind: str            # "effective", "expires", or a relation kind
    passage: str
    start: int           # offsets in the text of ``doc_id``
    end: int
    doc_id: str          # the document the passage is in
    other: str = ""      # the other document (the one that replaces/amends), if any


@dataclass(frozen=True)
class Validity:
    status: str                      # one of STATUSES
    effective_date: str              # ISO, "" if unknown
    end_date: str = ""               # ISO: when it stopped (or stops) being in force, "" if unknown
    evidence: tuple[Evidence, ...] = ()


# ------------------------------------------------------------------ text helpers

_KIND_NAMES = sorted({kind for kind, _ in KIND_WORDS.values()}, key=len, reverse=True)
_LAW_KINDS = {"luật", "bộ luật", "pháp lệnh", "hiến pháp"}
# a law cited by name: "Luật Tổ chức chính quyền địa phương", "Bộ luật Lao động" (folded)
_LAW_START = re.compile(r"(?<!phap\s)(?<!\w)(bo luat|luat|phap lenh|hien phap)(?=\s)")  # not "pháp luật"
_DATE = re.compile(
    r"ngay\s+(\d{1,2})\s*(?:thang\s+(\d{1,2})\s+nam\s+(\d{4})|[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4}))")
_YEAR_ONLY = re.compile(r"nam\s+((?:19|20)\d\d)(?!\d)")
_LINE_START = r"(?:^|\n)[ \t*_>|#-]*"
_ARTICLE = r"dieu\s+\d+[a-z]?\s*[.:]"   # an article heading, "Điều 16." (not "Điều 16 đến Điều 26")
_CAN_CU = re.compile(_LINE_START + r"can\s+cu\s+(?=\S)")
_PREAMBLE_END = re.compile(_LINE_START + r"(?:dieu\s+1\b|quyet\s+nghi|quyet\s+dinh\s*:|chuong\s+i\b|theo\s+de\s+nghi|xet\s)")
# where a clause (a legal basis, a trigger's object) ends
_CLAUSE_END = re.compile(
    r";\s*\n|\.\s*\n|(?P<stop>\.\s+)(?=\S)|(?P<blank>\n[ \t*_|]*\n\s*)(?=\S)|\||"
    r"\n[ \t*_]*(?:\d+\.\s|" + _ARTICLE + r"|chuong\s|can\s+cu\b|theo\s+de\s+nghi|xet\s)")
# The verbs of relations, one pattern (a single pass over the text). A forward verb's
# documents follow it; "hết hiệu lực" has them before it (its subject).
_TRIGGER = re.compile(
    r"(?<![a-z])(?:"
    r"(?P<amends>sua\s+doi\s*,?\s*(?:va\s+)?bo\s+sung|sua\s+doi|bo\s+sung(?=\s+(?:mot\s+so|dieu|khoan|diem|phu\s+luc|quy\s+dinh)))"
    r"|(?P<replaces>thay\s+the(?!\s+bang))|(?P<repeals>bai\s+bo)|(?P<corrects>dinh\s+chinh)"
    r"|(?P<guides>quy\s+dinh\s+chi\s+tiet|huong\s+dan)|(?P<expires>het\s+hieu\s+luc))")
# "văn bản sửa đổi, bổ sung, thay thế" (the amending document): a noun, not this document's act
_NOUN_USE = re.compile(r"(?:van\s+ban|vb)(?:\s+(?:khac|duoc|moi))?(?:\s*,?\s*(?:sua\s+doi|bo\s+sung|thay\s+the|bai\s+bo))*\s*,?\s*$")
_PASSIVE = re.compile(r"(?:duoc|bi|da\s+duoc|da)\s+(?:\w+\s+){0,1}$")
# a document talking about itself: "Nghị định này", "ban hành Thông tư", "Nghị quyết có hiệu lực"
_SELF = re.compile(r"(?:\bnay|ban\s+hanh\s+(?:" + "|".join(fold(k) for k in _KIND_NAMES) + r"))\s*,?\s*(?:\w+\s+){0,2}$")
_PARTS = re.compile(
    r"(?<!\w)(?:dieu|khoan|diem|phu\s+luc|danh\s+muc|quy\s+trinh|muc|phan|chuong|mau|bieu|cum\s+tu|tu\s+ngu|"
    r"thu\s+tuc|noi\s+dung|quy\s+dinh|mot\s+so)(?!\w)")
_AMENDED_BY = re.compile(r"duoc\s+sua\s+doi[\w\s,]{0,40}?(?:boi|tai|theo)\s*(?:cac\s+)?(?:\w+\s+){0,1}$")
_LIST_BREAK = re.compile(r";|\n\s*(?:[a-zđ]\)|-\s|\+\s|\d+\.)")
_CONJUNCTION_END = re.compile(r"(?:(?:^|\s)(?:va|hoac)|,)\s*(?:cac\s+)?(?:so\s*)?$")
_PART_CONJUNCT = re.compile(r"(?:^|\s)(?:va|,)\s+(?:cac\s+)?(?:dieu|khoan|diem|phu\s+luc|danh\s+muc|quy\s+trinh|muc|phan|thu\s+tuc)\b")
_ISSUER = re.compile(r"\s*,?\s*cua\s+((?:\w+[ \t\n-]*){1,9}?)(?=\s*(?:ve\b|quy\s+dinh|ban\s+hanh|huong\s+dan|sua\s+doi|ngay\b|;|,|\.|\(|$))")
_OWN_EFFECT = re.compile(
    r"co\s+hieu\s+luc(?:\s+thi\s+hanh)?\s+(?:ke\s+)?tu\s+(?:ngay\s+ky|ngay\s+ban\s+hanh|ngay\s+(?:duoc\s+)?(?:\w+\s+){0,8}?thong\s+qua|"
    r"ngay\s+\d{1,2}\s*(?:thang\s+\d{1,2}\s+nam\s+\d{4}|[/.-]\s*\d{1,2}\s*[/.-]\s*\d{4}))")
_OWN_END = re.compile(r"(?:co\s+hieu\s+luc\s+den\s+(?:het\s+)?|het\s+hieu\s+luc\s+(?:thi\s+hanh\s+)?(?:ke\s+tu\s+|tu\s+|vao\s+)?)(ngay\s+\d{1,2}\s*(?:thang\s+\d{1,2}\s+nam\s+\d{4}|[/.-]\s*\d{1,2}\s*[/.-]\s*\d{4}))")
_SENTENCE_START = re.compile(r"[.;:|]\s|\n[ \t*_|]*\n|\n[ \t*_|]*(?:\d+\.|[a-zđ]\)|" + _ARTICLE + ")")
_KIND_START = re.compile(r"(?:" + "|".join(fold(k) for k in _KIND_NAMES) + r"|so)\s")


def _folded(text: str) -> str:
    """``fold`` with one character per character, so offsets carry over."""
    folded = fold(text)
    return folded if len(folded) == len(text) else "".join((fold(c) or " ")[:1] for c in text)


def _iso(day: str, month: str, year: str) -> str:
    try:
        return dt.date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return ""


def _date_at(folded: str, start: int, limit: int) -> tuple[str, str, int | None, int]:
    """(as written, ISO, year, end) of a date beginning within ``limit`` characters of ``start``."""
    window = folded[start : start + limit]
    m = _DATE.search(window)
    y = _YEAR_ONLY.match(window.lstrip(" ,"))
    if y and (not m or m.start() > window.find(y.group(0))):
        offset = start + window.find(y.group(0))
        return y.group(0), "", int(y.group(1)), offset + len(y.group(0))
    if not m:
        return "", "", None, start
    day, month, year = m.group(1), m.group(2) or m.group(4), m.group(3) or m.group(5)
    return m.group(0), _iso(day, month, year), int(year), start + m.end()


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    """Spans inside curly quotes: amended text quoted in full is the other document's content."""
    spans, depth, begin = [], 0, 0
    for m in re.finditer(r"[“”]", text):
        if m.group(0) == "“":
            if depth == 0:
                begin = m.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                spans.append((begin, m.end()))
    return spans


def _inside(spans: list[tuple[int, int]], starts: list[int], pos: int) -> bool:
    i = bisect_right(starts, pos) - 1
    return i >= 0 and spans[i][0] < pos < spans[i][1]


# --------------------------------------------------------------------- citations


@dataclass(frozen=True)
class Citation:
    """One cited document in a text: a number, or a law by name."""

    start: int
    end: int            # end of the number/name
    head_end: int       # end of the number/name with its date and issuer
    number: DocNumber | None
    kind: str
    title: str
    date_text: str
    date: str
    year: int | None
    issuer: str


_AMENDING = re.compile(r"\s+sua\s+doi\s*,?\s*bo\s+sung\s+mot\s+so\s+dieu\s+cua\s+(?:cac\s+)?")
_NAME_STOPS = {"so", "ngay", "nam", "cua", "duoc", "da", "theo", "tai", "ve", "va", "hoac", "nay",
               "thi", "co", "trong", "sau", "truoc", "khi"}
_NAME_STOP_PAIRS = re.compile(r"\s*(?:quy\s+dinh|huong\s+dan|sua\s+doi|ban\s+hanh\s+kem)\b")


def _law_name(text: str, folded: str, start: int) -> tuple[str, int, int]:
    """A law's name as written from ``start`` ("Luật ..."), where it ends, and how many
    laws an amending law's name lists.

    The name runs to the number, date, year or punctuation that follows it; a comma
    continues it when a lower-case word follows ("Luật Trật tự, an toàn giao thông
    đường bộ"); "và" when a lower-case word follows ("Luật Phí và lệ phí").
    "Luật sửa đổi, bổ sung một số điều của Luật A[ số …], Luật B … và Luật C" is one
    name; with one law listed, a number after it is the amending law's own."""
    m = _LAW_START.match(folded, start)
    amending = _AMENDING.match(folded, m.end())
    if not amending:
        return (*_plain_name(text, folded, start, m.end()), 0)
    pos, inner = amending.end(), 0
    while True:
        law = _LAW_START.match(folded, pos)
        if not law:
            break
        name, pos = _plain_name(text, folded, pos, law.end(), inner=True)
        inner += 1
        numbered = re.match(r"\s+so\s+\d+\s*/\s*\d{4}\s*/\s*qh\d+", folded[pos:])
        after = pos + numbered.end() if numbered else pos
        more = re.match(r"\s*(?:,|va|;)\s*(?=(?:bo\s+)?luat\s)", folded[after:])
        if not more or folded[after : after + len(more.group(0))].strip().startswith(";"):
            break
        pos = after + more.end()
    if inner >= 2:  # numbers inside the list belong to the listed laws
        numbered = re.match(r"\s+so\s+\d+\s*/\s*\d{4}\s*/\s*qh\d+", folded[pos:])
        if numbered:
            pos += numbered.end()
    return " ".join(text[start:pos].split()), pos, inner


def _plain_name(text: str, folded: str, start: int, pos: int, inner: bool = False) -> tuple[str, int]:
    """A law's name from ``start`` (its kind word ends at ``pos``); ``inner``: a law listed in an
    amending law's name, whose name may be written in lower case ("... của Luật ban hành ...")."""
    words = 0
    while pos < len(text) and words < 14:
        nxt = re.match(r"[ \t]*\n?[ \t*_]*(,?)[ \t]*\n?[ \t]*([^\W_][\w-]*)", text[pos:])
        if not nxt:
            break
        comma, word = nxt.group(1), nxt.group(2)
        fw = fold(word)
        if fw in _NAME_STOPS and not (fw == "va" and _continues_name(folded, pos + nxt.end())):
            break
        if words and _NAME_STOP_PAIRS.match(folded, pos):
            break
        if word[0].isdigit() or (comma and not word[0].islower()) or (words and word[0].isupper() and _LAW_START.match(fw + " ")):
            break
        if not words and not inner and not word[0].isupper():
            break  # "Luật là ...": not a name
        pos += nxt.end()
        words += 1
    return " ".join(text[start:pos].split()), pos


def _continues_name(folded: str, pos: int) -> bool:
    """After "và": a lower-case word of the same name ("Luật Phí và lệ phí"), not another document."""
    rest = folded[pos:].lstrip()
    return not any(rest.startswith(fold(k)) for k in _KIND_NAMES) and bool(re.match(r"[a-z]", rest))


def _citations(text: str, folded: str, mentions: Sequence[NumberMention], begin: int, end: int, own_key: tuple[str, str]) -> list[Citation]:
    """Cited documents in ``text[begin:end]``: every number, and laws named (with or without a date)."""
    found: list[Citation] = []
    taken: list[tuple[int, int]] = []
    names = []
    for m in _LAW_START.finditer(folded, begin, end):
        if text[m.start()].isupper() and not any(a <= m.start() < b for a, b in taken):
            name, name_end, inner = _law_name(text, folded, m.start())
            names.append((m, name, name_end))
            if inner >= 2:  # "Luật sửa đổi ... của Luật A số …, Luật B số … và Luật C số …"
                taken.append((m.start(), name_end))
    for m, name, name_end in names:
        if (m.start(), name_end) in taken:
            found.append(_complete(text, folded, m.start(), name_end, end, None, _law_kind(m.group(1)), name))
    for mention in mentions:
        if mention.start < begin or mention.end > end or _is_own(mention.number, own_key):
            continue
        if any(a <= mention.start < b for a, b in taken):
            continue
        name_start = _name_before(text, folded, mention.start, begin)
        title_start = name_start if name_start is not None else mention.start
        found.append(_complete(text, folded, title_start, mention.end, end, mention.number, mention.number.kind or
                               (_law_kind(_LAW_START.match(folded, title_start).group(1)) if name_start is not None else "")))
        taken.append((title_start, mention.end))
    for m, name, name_end in names:
        if any(a <= m.start() < b or a < name_end <= b for a, b in taken) or len(name.split()) < 2:
            continue
        found.append(_complete(text, folded, m.start(), name_end, end, None, _law_kind(m.group(1)), name))
    # a law named inside another's name ("Luật sửa đổi ... của Luật Bảo hiểm y tế") is part of it
    found = [c for c in found if not any(o.start < c.start < o.end for o in found)]
    return sorted(found, key=lambda c: c.start)


def _is_own(number: DocNumber, own: tuple[str, str]) -> bool:
    """The document's own number (a kind that disagrees with its type: another document
    with the same number, as when a collection's metadata holds a wrong number)."""
    key, kind = own
    return number.key == key and (not number.kind or not kind or _same_kind(number.kind, kind))


def _law_kind(folded_word: str) -> str:
    return {"bo luat": "bộ luật", "luat": "luật", "phap lenh": "pháp lệnh", "hien phap": "hiến pháp"}[folded_word]


def _name_before(text: str, folded: str, number_start: int, begin: int) -> int | None:
    """Start of "Luật Xyz số" right before a number ("Luật Công chứng số 46/2024/QH15"), or of
    "Luật sửa đổi, bổ sung một số điều của Luật Xyz số" (its number is the amending law's)."""
    lo = max(begin, number_start - 250)
    window = folded[lo:number_start]
    if not re.search(r"\sso\s*:?\s*$", window):
        return None
    starts = [m for m in _LAW_START.finditer(window) if text[lo + m.start()].isupper()]
    if not starts:
        return None
    last = starts[-1]
    between = window[last.end() : ]
    if re.search(r"[;.]|\s(?:ngay|cua|duoc|da)\s", between) or len(between) > 150:
        return None
    if any(not _continues_name(window, v.end()) for v in re.finditer(r"\sva(?=\s)", between and window[last.end():])):
        return None
    amending = re.search(r"(?:bo\s+)?luat\s+sua\s+doi\s*,?\s*bo\s+sung\s+mot\s+so\s+dieu\s+cua\s+(?:cac\s+)?$", window[: last.start()])
    return lo + (amending.start() if amending else last.start())


def _complete(text: str, folded: str, start: int, name_end: int, limit: int, number: DocNumber | None,
              kind: str, title: str = "") -> Citation:
    """A citation with its date ("ngày 19/6/2015") and issuer ("của Chính phủ") read after it."""
    pos = name_end
    issuer = ""
    m = _ISSUER.match(folded, pos, limit)
    if m:
        issuer, pos = " ".join(text[m.start(1) : m.end(1)].split()), m.end()
    date_text, date, year, date_end = _date_at(folded, pos, min(40, max(0, limit - pos)))
    if date_text:
        date_text = " ".join(text[date_end - len(date_text) : date_end].split())
        pos = date_end
        if not issuer and (m := _ISSUER.match(folded, pos, limit)):  # "ngày ... của Chính phủ"
            issuer, pos = " ".join(text[m.start(1) : m.end(1)].split()), m.end()
    if number and number.year and not year:
        year = number.year
    if not title:
        title = " ".join(text[start:name_end].split())
    return Citation(start, name_end, pos, number, kind, title, date_text, date, year, issuer)


# --------------------------------------------------------------------- extraction


class TextDocument(Protocol):
    id: str
    text: str
    number: str
    type: str


def extract_relations(doc: TextDocument) -> list[Relation]:
    """The relations a document states, in text order, one per (kind, cited document)."""
    if doc.type == "văn bản hợp nhất":
        return []  # a consolidation restates its original and the amending documents' words, it does not act
    text = doc.text
    folded = _folded(text)
    own = document_number(doc.number, doc.type) if doc.number else None
    own_key = (own.key, doc.type) if own else ("", "")
    mentions = find_numbers(text)
    quotes = _quoted_spans(text)
    quote_starts = [a for a, _ in quotes]
    preamble = _preamble_end(folded)
    relations = _bases(text, folded, mentions, preamble, own_key)
    for m in _TRIGGER.finditer(folded):
        if _inside(quotes, quote_starts, m.start()):
            continue
        kind = m.lastgroup
        if kind == "expires":
            relations += _expired(text, folded, mentions, m, own_key)
        elif not _in_basis(folded, m.start(), preamble):
            relations += _forward(kind, text, folded, mentions, m, preamble, own_key)
    return _deduplicated(relations)


def _preamble_end(folded: str) -> int:
    """Where the legal bases stop: the first article or the enacting formula."""
    first = _CAN_CU.search(folded)
    if not first:
        return 0
    m = _PREAMBLE_END.search(folded, first.end())
    return m.start() if m else min(len(folded), first.start() + 8000)


def _in_basis(folded: str, pos: int, preamble: int) -> bool:
    """Among the legal bases (what a basis does is not what this document does)."""
    first = _CAN_CU.search(folded, 0, preamble)
    return bool(first) and first.start() <= pos < preamble


def _clause_end(text: str, folded: str, start: int, hard_limit: int = 3000) -> int:
    """Where the clause from ``start`` ends. A full stop or blank line ends it only before
    a capital (a page break inside a sentence is followed by its next, lower-case word)."""
    limit = min(len(folded), start + hard_limit)
    for m in _CLAUSE_END.finditer(folded, start, limit):
        if (m.group("stop") or m.group("blank")) and not _starts_upper(text, m.end()):
            continue
        return m.start()
    return limit


def _starts_upper(text: str, pos: int) -> bool:
    rest = text[pos : pos + 4].lstrip(" *_“\"(")
    return not rest or not rest[0].islower()


def _bases(text: str, folded: str, mentions: Sequence[NumberMention], preamble: int, own_key: tuple[str, str]) -> list[Relation]:
    """The documents of the "Căn cứ ..." paragraphs."""
    out: list[Relation] = []
    for m in _CAN_CU.finditer(folded, 0, preamble):
        end = _basis_end(text, folded, m.end(), preamble)
        for segment_start, segment_end in _segments(folded, m.end(), end):
            cites = _citations(text, folded, mentions, segment_start, segment_end, own_key)
            for citation in _targets(folded, cites, basis=True):
                out.append(_relation("based_on", citation, text, m.end(), end))
    return out


def _basis_end(text: str, folded: str, start: int, preamble: int) -> int:
    """A "Căn cứ" paragraph ends at the next "Căn cứ", a blank line, a full stop or the preamble's end."""
    nxt = _CAN_CU.search(folded, start, preamble)
    stop = nxt.start() if nxt else preamble
    for m in re.compile(r"\n[ \t*_]*\n|\.\s*\*?\s*\n|;[ \t*_]*\n[ \t*_]*").finditer(folded, start, stop):
        if m.group(0).startswith(";") and (_KIND_START.match(folded, m.end()) or not _starts_upper(text, m.end())):
            continue  # "...;\nLuật sửa đổi, ... ngày ...;" or a wrapped title: the same paragraph goes on
        return m.start()
    return stop


def _segments(folded: str, start: int, end: int) -> list[tuple[int, int]]:
    """A basis paragraph split at semicolons: "Luật A ngày ...; Luật B ngày ..." are two bases."""
    cuts = [start] + [start + m.end() for m in re.finditer(";", folded[start:end])]
    return [(a, b) for a, b in zip(cuts, cuts[1:] + [end]) if b > a]


def _targets(folded: str, cites: list[Citation], basis: bool) -> list[Citation]:
    """The cited documents a clause is about, not those describing them.

    The first citation is; a later one is too when a list break (";", "a)") or a
    conjunction ("và", ",") joins it to a target, or ("được sửa đổi, bổ sung bởi ...")
    in a legal basis. One following "của", "về ... của" describes the one before it.
    A law named without number and date only counts first in its clause."""
    targets: list[Citation] = []
    previous_target = False
    for i, citation in enumerate(cites):
        if i == 0:
            is_target = True
        else:
            gap = folded[cites[i - 1].head_end : citation.start]
            if _LIST_BREAK.search(gap) or _PART_CONJUNCT.search(gap):
                is_target = True
            elif basis and _AMENDED_BY.search(gap):
                is_target = True
            elif _CONJUNCTION_END.search(gap):
                is_target = previous_target
            else:
                is_target = False
            if citation.number is None and not (citation.date or citation.year):
                is_target = False
        previous_target = is_target
        if is_target:
            targets.append(citation)
    return targets


def _relation(kind: str, citation: Citation, text: str, clause_start: int, clause_end: int, partial: bool = False) -> Relation:
    passage = " ".join(text[clause_start:clause_end].split())[:MAX_PASSAGE]
    return Relation(kind, citation.number, citation.kind, citation.title, citation.date_text, citation.date,
                    citation.year, citation.issuer, citation.start, citation.end, passage, partial)


def _sentence_before(folded: str, pos: int) -> str:
    """The words before ``pos`` since the last sentence, clause or line start."""
    window = folded[max(0, pos - 300) : pos]
    cut = max((m.end() for m in _SENTENCE_START.finditer(window)), default=0)
    return window[cut:]


def _forward(kind: str, text: str, folded: str, mentions: Sequence[NumberMention], m: re.Match,
             preamble: int, own_key: tuple[str, str]) -> list[Relation]:
    """Documents a trigger ("sửa đổi, bổ sung", "bãi bỏ", ...) acts on, in the clause after it."""
    before = _sentence_before(folded, m.start())
    if _PASSIVE.search(before[-12:]) or _NOUN_USE.search(before) or re.match(r"(?:[\s,]+\w+){0,3}?[\s,]+boi\b", folded[m.end() : m.end() + 40]):
        return []  # "được sửa đổi, bổ sung bởi ...", "văn bản sửa đổi, thay thế": what another document did
    in_title = _in_title(folded, m.start(), preamble)
    if kind == "guides" and not (in_title or _SELF.search(before)):
        return []  # "hướng dẫn" is also an ordinary verb; only "Nghị định này hướng dẫn ..." counts
    if _citations(text, folded, mentions, m.start() - len(before), m.start(), own_key):
        return []  # "Nghị định số 74/2025/NĐ-CP ... sửa đổi ...": describes the document cited before
    if re.match(r"\s*\)", folded[m.end():]):
        return []  # "Luật Viên chức (sửa đổi)": a name, not an act
    if re.search(r"(?:khoan|dieu|diem|muc)\s+\d", before) and "nay" not in before:
        return []  # "Khoản 4 Điều 16 sửa đổi ...": what a provision of another document does
    end = _object_end(text, folded, m.end())
    cites = _citations(text, folded, mentions, m.end(), end, own_key)
    if kind != "guides" and cites and re.search(r"\btheo\s+(?:quy\s+dinh|yeu\s+cau|de\s+nghi)", folded[m.end() : cites[0].start]):
        # "sửa đổi thông tin theo yêu cầu ... quy định tại Luật X": X is the rule followed, not the
        # object (but "hướng dẫn ... theo quy định tại Nghị định số ..." does guide that decree)
        return []
    listed = _list_colon(folded, m.end(), cites[0].start) if cites else -1
    if cites and listed < 0 and cites[0].start - m.end() > MAX_OBJECT_DISTANCE.get(kind, 120):
        return []  # the document named far after the verb is not its object ("bãi bỏ quyết định giao đất ...")
    heading = folded[m.end() : listed] if listed >= 0 else ""
    out = []
    for citation in _targets(folded, cites, basis=False):
        partial = kind in ("amends", "guides") or bool(_PARTS.search(heading) or _PARTS.search(_item_lead(folded, m.end(), citation.start)))
        out.append(_relation(kind, citation, text, m.start(), end, partial))
    return out


def _list_colon(folded: str, start: int, first: int) -> int:
    """Position of the colon introducing a list ("Bãi bỏ các văn bản sau đây: a) ...") between a
    verb and its first document, or -1."""
    colon = folded.find(":", start, min(first, start + 200))
    if colon < 0 or not re.match(r"[ \t*_]*\n[ \t*_]*(?:[a-zđ]\)|-|\+|\d+\.)", folded[colon + 1 :]):
        return -1
    return colon


def _item_lead(folded: str, start: int, pos: int) -> str:
    """The words of a list item (or the clause) before ``pos``: "Khoản 5 Điều 4 của "."""
    lead = folded[start:pos]
    breaks = list(_LIST_BREAK.finditer(lead))
    return lead[breaks[-1].end() :] if breaks else lead


def _in_title(folded: str, pos: int, preamble: int) -> bool:
    """Before the legal bases: the document's own title."""
    first = _CAN_CU.search(folded)
    return bool(first) and pos < first.start() and pos < preamble


def _object_end(text: str, folded: str, start: int) -> int:
    """Where a trigger's object ends: the clause's end, "như sau", or a quotation; a colon
    introduces a list ("Bãi bỏ các quy định sau: a) ...; b) ...") that runs to the next khoản."""
    end = _clause_end(text, folded, start)
    colon = folded.find(":", start, end)
    listed = colon >= 0 and re.match(r"[ \t*_]*(?:\n[ \t*_]*(?:[a-zđ]\)|-|\+)|[ \t]*\S)", folded[colon + 1 :])
    if listed and not re.search(r"nhu\s+sau\s*:?$", folded[start : colon + 1]):
        m = re.compile(r"\n[ \t*_]*(?:\d+\.\s|" + _ARTICLE + r"|chuong\s)").search(folded, colon, colon + 4000)
        end = m.start() if m else min(len(folded), colon + 4000)
    for stop in (re.compile(r"nhu\s+sau|[“\"]"),):
        s = stop.search(folded, start, end)
        if s:
            end = s.start()
    return end


def _expired(text: str, folded: str, mentions: Sequence[NumberMention], m: re.Match, own_key: tuple[str, str]) -> list[Relation]:
    """"X ... hết hiệu lực kể từ ngày Thông tư này có hiệu lực": this document replaces X.
    The documents are before the phrase (its subject) or, after "... sau hết hiệu lực ...:", listed after it."""
    start = _subject_start(text, folded, m.start())
    cites = _citations(text, folded, mentions, start, m.start(), own_key)
    if not cites:
        end = _object_end(text, folded, m.end())
        if ":" not in folded[m.end() : end] or not re.search(r"\bsau\b", folded[start : end]):
            return []  # only "Các văn bản sau (đây) hết hiệu lực ...: a) ..." lists what ends after the phrase
        cites = _citations(text, folded, mentions, folded.find(":", m.end(), end) + 1, end, own_key)
        start, clause_end = m.start(), end
    else:
        clause_end = m.end()
    lead = folded[start : cites[0].start] if cites else ""
    if re.search(r"(?:khi|neu|truong\s+hop|den\s+ngay|den\s+khi|theo)\s", lead) or len(lead) > MAX_SUBJECT_LEAD:
        return []  # "trường hợp ... hết hiệu lực", "theo quy định tại ...": not what this document ends
    out = []
    some = bool(re.match(r"\s+mot\s+phan", folded[m.end() :]))  # "hết hiệu lực một phần"
    for citation in _targets(folded, cites, basis=False):
        partial = some or bool(_PARTS.search(_item_lead(folded, start, citation.start)))
        out.append(_relation("replaces", citation, text, start, clause_end, partial))
    return out


def _subject_start(text: str, folded: str, pos: int) -> int:
    """Start of the sentence or numbered item that ends at ``pos``."""
    window_start = max(0, pos - 3000)
    window = folded[window_start:pos]
    cut = 0
    for m in re.finditer(r"(?P<stop>\.\s+|\n[ \t*_|]*\n\s*)(?=\S)|:\s|\n[ \t*_]*(?:\d+\.\s|[a-zđ]\)\s|" + _ARTICLE + ")", window):
        if m.group("stop") and not _starts_upper(text, window_start + m.end()):
            continue
        cut = m.end()
    return window_start + cut


def _deduplicated(relations: list[Relation]) -> list[Relation]:
    """One relation per (kind, cited document), the first in the text; a law cited by
    name and, elsewhere in the document, by name and number is one document."""
    numbered_titles = {(r.kind, _law_title(r)): r for r in relations if r.cited_number and _law_title(r)}
    seen: set[tuple[str, str]] = set()
    out = []
    for r in sorted(relations, key=lambda r: r.start):
        if r.cited_number is None and (r.kind, fold(r.cited_title)) in numbered_titles and not r.cited_date:
            continue
        key = (r.kind, r.cited_key)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _law_title(r: Relation) -> str:
    """ "luat cong chung" of "Luật Công chứng số 46/2024/QH15" ("" if not a law's name)."""
    m = re.match(r"((?:bo\s+)?luat\s.+?)\s+so\b", fold(r.cited_title))
    return m.group(1) if m else ""


# --------------------------------------------------------------------- linking


def link(relations: dict[str, list[Relation]], documents: Iterable[DocumentLike]) -> list[Link]:
    """Each relation resolved to the indexed document it cites, where there is one."""
    docs = [d for d in documents if d.type != "văn bản hợp nhất"]  # a consolidation is not the document
    by_serial: dict[str, list[tuple[DocumentLike, DocNumber]]] = {}
    by_title: dict[str, list[DocumentLike]] = {}
    for d in docs:
        number = document_number(d.number, d.type) if d.number else None
        if number:
            by_serial.setdefault(number.number, []).append((d, number))
        if fold(d.type) in {fold(k) for k in _LAW_KINDS}:
            by_title.setdefault(_title_key(d.title), []).append(d)
    dates = {d.id: d.date for d in docs}
    links = []
    for source, rels in relations.items():
        for r in rels:
            target, method = _resolve(r, source, by_serial, by_title)
            if target and target != source and _not_later(dates.get(target, ""), dates.get(source, "")):
                links.append(Link(source, target, r, method))
    return links


def _title_key(title: str) -> str:
    words = re.findall(r"\w+", fold(title))
    return " ".join(words)


def _not_later(target_date: str, source_date: str) -> bool:
    """A document can only rest on, or change, documents issued before it (when both dates are known)."""
    return not (target_date and source_date and target_date > source_date)


def _resolve(r: Relation, source: str, by_serial: dict, by_title: dict) -> tuple[str, str]:
    if r.cited_number:
        candidates = [(d, n) for d, n in by_serial.get(r.cited_number.number, [])
                      if d.id != source and _number_fits(r, n, d)]
        return _best(r, candidates)
    key = _title_key(r.cited_title)
    candidates = [d for d in by_title.get(key, []) if d.id != source]
    if r.cited_date:
        dated = [d for d in candidates if d.date == r.cited_date]
        if dated:
            return sorted(dated, key=lambda d: d.id)[0].id, "title+date"
    if r.cited_year:
        dated = [d for d in candidates if d.date[:4] == str(r.cited_year)]
        if len({d.date for d in dated}) == 1:
            return sorted(dated, key=lambda d: d.id)[0].id, "title+year"
    return "", ""


def _number_fits(r: Relation, number: DocNumber, d: DocumentLike) -> bool:
    cited = r.cited_number
    doc_year = int(d.date[:4]) if d.date[:4].isdigit() else None
    if not matches(cited, number, doc_year):
        return False
    if cited.issuer and not number.issuer:
        return False
    if r.cited_kind and d.type and not _same_kind(r.cited_kind, d.type):
        return False
    return True


def _same_kind(cited: str, doc_type: str) -> bool:
    families = {"bộ luật": "luật", "thông tư liên tịch": "thông tư"}
    return families.get(cited, cited) == families.get(doc_type, doc_type) or cited == "văn bản"


def _best(r: Relation, candidates: list[tuple[DocumentLike, DocNumber]]) -> tuple[str, str]:
    """The candidate whose date (or issuer) agrees; with a complete number, the unique one."""
    if not candidates:
        return "", ""
    if r.cited_date:
        dated = [d for d, _ in candidates if d.date == r.cited_date]
        if dated:
            return sorted(dated, key=lambda d: d.id)[0].id, "number+date"
    complete = r.cited_number.year is not None and r.cited_number.complete
    if complete:
        return sorted((d for d, _ in candidates), key=lambda d: d.id)[0].id, "number"
    if r.cited_issuer:
        words = set(re.findall(r"\w+", fold(r.cited_issuer))) - {"cua", "nhan", "dan", "ban", "hoi", "dong", "uy"}
        fitting = [d for d, _ in candidates if words and words <= set(re.findall(r"\w+", fold(d.issuer)))]
        if len(fitting) == 1:
            return fitting[0].id, "number+issuer"
    if r.cited_year:
        same_year = [d for d, _ in candidates if d.date[:4] == str(r.cited_year)]
        if len(same_year) == 1:
            return same_year[0].id, "number+year"
    return "", ""


def graph(documents: Sequence[TextDocument]) -> Graph:
    """Relations of every document and their links among them."""
    relations = {d.id: extract_relations(d) for d in documents}
    return Graph(relations, link(relations, documents))


# --------------------------------------------------------------------- validity


def own_clauses(doc: TextDocument) -> list[Evidence]:
    """The document's statements about its own force: when it takes effect, when it ends."""
    text = doc.text
    folded = _folded(text)
    out = []
    quotes = _quoted_spans(text)
    starts = [a for a, _ in quotes]
    for m in _OWN_EFFECT.finditer(folded):
        if not _inside(quotes, starts, m.start()) and _is_self(folded, m.start()):
            out.append(Evidence("effective", " ".join(text[m.start() : m.end()].split()), m.start(), m.end(), doc.id))
            break
    for m in _OWN_END.finditer(folded):
        if not _inside(quotes, starts, m.start()) and _is_self(folded, m.start()):
            out.append(Evidence("expires", " ".join(text[m.start() : m.end()].split()), m.start(), m.end(), doc.id))
            break
    return out


def _is_self(folded: str, pos: int) -> bool:
    """ "Nghị quyết này có hiệu lực ...", "Quyết định có hiệu lực ...": about this document."""
    before = _sentence_before(folded, pos).strip()
    kinds = "|".join(fold(k) for k in _KIND_NAMES)
    return bool(re.search(rf"(?:^|\s)(?:{kinds})(?:\s+nay)?$", before)) or before.endswith("nay")


def _clause_date(passage: str, doc_date: str) -> str:
    """The ISO date a clause names: "từ ngày 01 tháng 7 năm 2025", or the document's own
    date for "kể từ ngày ký / ban hành / thông qua"."""
    folded = fold(passage)
    if re.search(r"ngay\s+ky|ngay\s+ban\s+hanh|thong\s+qua", folded):
        return doc_date
    _, iso, _, _ = _date_at(folded, folded.find("ngay"), 60)
    return iso


def validity(doc: TextDocument, relations: Sequence[Relation], incoming: Sequence[Link],
             documents: dict[str, DocumentLike] | None = None, today: str | None = None) -> Validity:
    """In force, partly amended, replaced, expired or unknown, with the evidence.

    ``incoming``: links whose target is ``doc`` (``Graph.incoming``); ``documents``:
    id -> document, to read the changing documents' dates (when the change took effect).
    ``relations``: the document's own (outgoing) relations, part of the interface for
    callers that hold them; what it replaces does not change its own status.
    ``today``: ISO date to judge against (default: today).
    """
    today = today or dt.date.today().isoformat()
    evidence = list(own_clauses(doc))
    effective = next((_clause_date(e.passage, doc.date) for e in evidence if e.kind == "effective"), "")
    ends = next((_clause_date(e.passage, doc.date) for e in evidence if e.kind == "expires"), "")
    changes = sorted((l for l in incoming if l.relation.kind in CHANGING), key=lambda l: _date_of(l.source, documents))
    ending = [l for l in changes if l.relation.kind in ("replaces", "repeals") and not l.relation.partial]
    amended = [l for l in changes if l not in ending and l.relation.kind != "corrects"]
    evidence += [_link_evidence(l) for l in ending + amended]
    if ending:
        first = ending[0]
        status = "replaced" if first.relation.kind == "replaces" else "expired"
        return Validity(status, effective, _date_of(first.source, documents), tuple(evidence))
    if ends and ends <= today:
        return Validity("expired", effective, ends, tuple(evidence))
    if amended:
        return Validity("partly_amended", effective, ends, tuple(evidence))
    if effective:
        status = "in_force" if effective <= today else "not_yet_in_force"
        return Validity(status, effective, ends, tuple(evidence))
    return Validity("unknown", "", ends, tuple(evidence))


def _date_of(doc_id: str, documents: dict[str, DocumentLike] | None) -> str:
    d = documents.get(doc_id) if documents else None
    return d.date if d else ""


def _link_evidence(l: Link) -> Evidence:
    r = l.relation
    return Evidence(r.kind, r.passage, r.start, r.end, l.source, other=l.source)


# --------------------------------------------------------------------- persisting

SCHEMA = """
CREATE TABLE IF NOT EXISTS relations (
    doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL, kind TEXT NOT NULL,
    cited_number TEXT, cited_key TEXT, cited_kind TEXT, cited_title TEXT, cited_date_text TEXT,
    cited_date TEXT, cited_year INTEGER, cited_issuer TEXT, start INTEGER, "end" INTEGER,
    passage TEXT, partial INTEGER,
    PRIMARY KEY (doc_id, ordinal)
);
CREATE INDEX IF NOT EXISTS relations_key ON relations(cited_key);
"""


def ensure_schema(con: sqlite3.Connection) -> None:
    """Create the tables if missing, one statement at a time (``executescript`` would commit
    the caller's open transaction, and the store builds inside one)."""
    for statement in filter(str.strip, SCHEMA.split(";")):
        con.execute(statement)


def write_relations(con: sqlite3.Connection, doc_id: str, relations: Sequence[Relation]) -> None:
    """Store one document's relations (replacing what was stored for it)."""
    delete_relations(con, doc_id)
    con.executemany(
        'INSERT INTO relations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [(doc_id, i, r.kind, json.dumps(asdict(r.cited_number), ensure_ascii=False) if r.cited_number else None,
          r.cited_key, r.cited_kind, r.cited_title, r.cited_date_text, r.cited_date, r.cited_year, r.cited_issuer,
          r.start, r.end, r.passage, int(r.partial)) for i, r in enumerate(relations)])


def delete_relations(con: sqlite3.Connection, doc_id: str) -> None:
    ensure_schema(con)
    con.execute("DELETE FROM relations WHERE doc_id = ?", (doc_id,))


def read_relations(con: sqlite3.Connection) -> dict[str, list[Relation]]:
    ensure_schema(con)
    out: dict[str, list[Relation]] = {}
    rows = con.execute(
        'SELECT doc_id, kind, cited_number, cited_kind, cited_title, cited_date_text, cited_date, cited_year, '
        'cited_issuer, start, "end", passage, partial FROM relations ORDER BY doc_id, ordinal').fetchall()
    for row in rows:
        doc_id, kind, number, *rest = tuple(row)
        cited = DocNumber(**json.loads(number)) if number else None
        ck, title, date_text, date, year, issuer, start, end, passage, partial = rest
        out.setdefault(doc_id, []).append(
            Relation(kind, cited, ck, title, date_text, date, year, issuer, start, end, passage, bool(partial)))
    return out


def load_graph(con: sqlite3.Connection, documents: Iterable[DocumentLike] | None = None) -> Graph:
    """The stored relations linked among the documents (by default the store's ``documents`` table).

    Links are computed when loading, not stored: adding or removing one document
    changes which citations of the others resolve."""
    relations = read_relations(con)
    if documents is None:
        fields = ("id", "title", "type", "number", "issuer", "date")  # DocumentLike
        rows = con.execute(f"SELECT {', '.join(fields)} FROM documents").fetchall()
        documents = [SimpleNamespace(**dict(zip(fields, tuple(r)))) for r in rows]
    return Graph(relations, link(relations, documents))
