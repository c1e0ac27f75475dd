"""Document numbers (số hiệu văn bản): parsed and normalised in documents and queries.

A Vietnamese document number has up to three parts: a serial number, the year
(for legal normative documents since 2009), and a code made of the document type
and the issuing body: ``21/NQ-HĐND``, ``15/2020/NĐ-CP``, ``47/2019/QH14`` (a law:
no type code, the 14th National Assembly), ``1955/QĐ-TTg``, Party documents
``18-NQ/TW``. People write them in many ways: ``21/NQ-HDND``, ``nq 21``,
``Nghị quyết số 21``, ``NĐ 15/2020``, ``QĐ số 1955``, ``15/2020/nd-cp``, with stray
spaces (``01 /NQ-HĐND``), split over lines (``21/2021/TT-\\nBLĐTBXH``) and without
diacritics. All of them become one ``DocNumber``; ``matches`` says whether a
(possibly partial) number names a document's number.

* ``parse_number(text)``: a number as written in metadata ("21/NQ-HĐND").
* ``find_numbers(text)``: full numbers mentioned in a document, with offsets.
* ``query_numbers(text)``: also the partial forms people type ("nq 21", "NĐ 15/2020").
* ``matches(query_number, doc_number, doc_year)``: partial forms match any year/issuer.
* ``lookup(query, documents)``: documents a query names by number, best first (its
  other words, district, year and issuer, decide between documents sharing a short number).

``qa.query`` once keyed numbers by (type code, serial) only, which conflated
``15/2020/NĐ-CP`` with ``15/2021/NĐ-CP`` and had no code for laws; this module's
``DocNumber.key`` and ``matches`` are its finer replacement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from qa.periods import find_periods
from qa.text import fold

# Type codes of numbers (folded, upper case) -> kind of document.
TYPE_CODES: dict[str, str] = {
    "NQ": "nghị quyết", "ND": "nghị định", "QD": "quyết định", "TT": "thông tư",
    "TTLT": "thông tư liên tịch", "NQLT": "nghị quyết liên tịch", "CT": "chỉ thị", "KH": "kế hoạch", "BC": "báo cáo",
    "TB": "thông báo", "CD": "công điện", "TTR": "tờ trình", "CTR": "chương trình",
    "HD": "hướng dẫn", "KL": "kết luận", "VBHN": "văn bản hợp nhất", "QC": "quy chế",
    "QY": "quy định", "PL": "pháp lệnh", "L": "luật", "CV": "công văn",
}
# Kind words as written before a number (folded) -> (kind, type code of its number).
# Laws, codes and ordinances have no type code: "Luật số 47/2019/QH14".
KIND_WORDS: dict[str, tuple[str, str]] = {
    "nghi quyet": ("nghị quyết", "NQ"), "nghi dinh": ("nghị định", "ND"),
    "quyet dinh": ("quyết định", "QD"), "thong tu lien tich": ("thông tư liên tịch", "TTLT"),
    "thong tu": ("thông tư", "TT"), "chi thi": ("chỉ thị", "CT"), "ke hoach": ("kế hoạch", "KH"),
    "bao cao": ("báo cáo", "BC"), "thong bao": ("thông báo", "TB"), "cong dien": ("công điện", "CD"),
    "to trinh": ("tờ trình", "TTR"), "chuong trinh": ("chương trình", "CTR"),
    "huong dan": ("hướng dẫn", "HD"), "ket luan": ("kết luận", "KL"),
    "van ban hop nhat": ("văn bản hợp nhất", "VBHN"), "bo luat": ("bộ luật", ""), "luat": ("luật", ""),
    "phap lenh": ("pháp lệnh", ""), "hien phap": ("hiến pháp", ""), "cong van": ("công văn", ""),
    "van ban": ("văn bản", ""),
}
# Abbreviations of kinds typed in queries (folded): "nq 21", "NĐ 15/2020", "QĐ số 1955".
KIND_ABBREVIATIONS: dict[str, str] = {
    code.lower(): code for code in ("NQ", "ND", "QD", "TT", "TTLT", "CT", "KH", "BC", "TB", "CD",
                                    "TTR", "CTR", "HD", "KL", "VBHN", "CV")
}
# Issuer codes typed as separate words after a number ("21 nq hdnd"); folded.
ISSUER_WORDS = (
    "hdnd", "ubnd", "cp", "ttg", "tw", "vpcp", "vpqh", "nhnn", "btc", "bldtbxh", "bkhdt", "bnv", "byt",
    "bca", "bqp", "bgddt", "bgtvt", "bxd", "bct", "btnmt", "bnnptnt", "bnnmt", "bkhcn", "btp", "btttt",
    "bvhttdl", "bng", "ubtvqh", "tandtc", "vksndtc",
)
# Letters: their numbers carry no type code ("123/UBND-KT", "5485/CT-CS").
_LETTER_KINDS = {"cong van", "van ban"}
# Kinds that are the same family for matching ("luật" and "bộ luật" share a number series).
_KIND_FAMILY = {"bộ luật": "luật", "thông tư liên tịch": "thông tư"}

_LETTER = r"[^\W\d_]"
_SEGMENT = rf"{_LETTER}[\w&]*"                # "NQ", "HĐND", "QH14", "TTg", "BLĐTBXH"
_SERIAL = r"\d{1,5}(?:\.\d{1,3})?"             # "21", "01", "66.16"
_YEAR = r"(?:19|20)\d\d"
# "21/NQ-HĐND", "15/2020/NĐ-CP", "47/2019/QH14", "01 /NQ-HĐND", "21/2021/TT-\nBLĐTBXH"
_STATE = re.compile(
    rf"(?<![\w/.])(?P<serial>{_SERIAL})\s*/\s*(?:(?P<year>{_YEAR})\s*/\s*)?"
    rf"(?P<code>{_SEGMENT}(?:[ \t]*\n?[ \t]*[-–][ \t]*\n?[ \t]*{_SEGMENT}|/{_SEGMENT})*)(?![\w/])"
)
# Party documents: "18-NQ/TW", "126-KL/TW"
_PARTY = re.compile(rf"(?<![\w/.-])(?P<serial>\d{{1,4}})-(?P<type>{_LETTER}{{1,4}})/(?P<issuer>{_SEGMENT})(?![\w/])")

_KIND_PATTERN = "|".join(w.replace(" ", r"\s+") for w in sorted(KIND_WORDS, key=len, reverse=True))
_ABBR_PATTERN = "|".join(sorted(map(re.escape, KIND_ABBREVIATIONS), key=len, reverse=True))
_ISSUER_PATTERN = "|".join(sorted(map(re.escape, ISSUER_WORDS), key=len, reverse=True)) + r"|qh\d{1,2}"
# A kind word right before a number ("Nghị định số 15/...", "Luật số: 47/..."), on folded text.
_KIND_BEFORE = re.compile(rf"(?<!\w)({_KIND_PATTERN}|{_ABBR_PATTERN})\s*(?:so(?:\s+hieu)?\s*:?\s*)?$")
# Partial forms of queries (folded): "nq 21", "nghi quyet so 21/2020", "nd 15/2020", "21 nq hdnd"
_PARTIAL = re.compile(
    rf"(?<![\w/])(?P<kind>{_KIND_PATTERN}|{_ABBR_PATTERN})\s*(?:so\s*:?\s*)?(?P<serial>\d{{1,5}}(?:\.\d{{1,3}})?)"
    rf"(?:\s*/\s*(?P<year>{_YEAR}))?"
    rf"(?:\s+(?P<code>(?:{_ABBR_PATTERN})(?:\s+(?:{_ISSUER_PATTERN}))?))?(?![\w/])"
)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class DocNumber:
    """One document number, complete or partial."""

    number: str                 # serial, leading zeros dropped: "21", "66.16"
    year: int | None = None     # 2020 in "15/2020/NĐ-CP"; None if not written
    code: str = ""              # type and issuer as written, no spaces: "NQ-HĐND", "QH14"; "" if not written
    kind: str = ""              # "nghị quyết", "luật", ... ("" unknown)
    issuer: str = ""            # the issuer part of the code: "HĐND", "CP", "QH14", "TW"

    @property
    def type_code(self) -> str:
        """Folded type code ("NQ", "ND"), from the code or else the kind."""
        if fold(self.kind) in _LETTER_KINDS:
            return "CV"  # a letter's code is its issuer's ("5485/CT-CS")
        first = fold(self.code).upper().split("-")[0].split("/")[0] if self.code else ""
        if first in TYPE_CODES:
            return first
        return _code_of_kind(self.kind)

    @property
    def key(self) -> str:
        """Canonical form: folded, upper case, year only if written: "21/NQ-HDND", "15/2020/ND-CP"."""
        code = fold(self.code).upper() or self.type_code
        return "/".join(p for p in (self.number, str(self.year) if self.year else "", code) if p)

    @property
    def complete(self) -> bool:
        """Has a code with an issuer part (a number a document itself carries)."""
        return bool(self.issuer)

    def __str__(self) -> str:
        return "/".join(p for p in (self.number, str(self.year) if self.year else "", self.code) if p)


@dataclass(frozen=True)
class NumberMention:
    """A number found in a text: ``text[start:end]`` is what was written."""

    number: DocNumber
    start: int
    end: int
    text: str


def _code_of_kind(kind: str) -> str:
    entry = KIND_WORDS.get(fold(kind))
    return entry[1] if entry else ""


def _serial(raw: str) -> str:
    whole, _, fraction = raw.partition(".")
    return (whole.lstrip("0") or "0") + (f".{fraction}" if fraction else "")


def _split_code(code: str) -> tuple[str, str]:
    """(type code, issuer part) of a code as written: "NQ-HĐND" -> ("NQ", "HĐND"); "QH14" -> ("", "QH14")."""
    parts = [p for p in re.split(r"[-–/]", code) if p]
    if parts and fold(parts[0]).upper() in TYPE_CODES:
        return parts[0], "-".join(parts[1:])
    return "", "-".join(parts)


def _clean_code(raw: str) -> str:
    return _SPACES.sub("", raw).replace("–", "-").strip("-")


def make_number(serial: str, year: str | int | None, code: str, kind: str = "") -> DocNumber:
    """A ``DocNumber`` from its parts as written; the kind from the code when it has a type code."""
    code = _clean_code(code)
    type_part, issuer = _split_code(code)
    if fold(kind) in _LETTER_KINDS and type_part and fold(type_part).upper() != "CV":
        # a letter's number starts with its issuer: "5485/CT-CS" is Cục Thuế's, not a chỉ thị
        type_part, issuer = "", code
    code_kind = TYPE_CODES.get(fold(type_part).upper(), "") if type_part else ""
    if not type_part and not kind and re.fullmatch(r"QH\d+", fold(issuer).upper()):
        kind = ""  # the National Assembly numbers laws and resolutions in one series
    return DocNumber(_serial(serial), int(year) if year else None, code, code_kind or kind, issuer)


def parse_number(text: str, kind: str = "") -> DocNumber | None:
    """The number of a metadata field ("21/NQ-HĐND", "Số: 15/2020/NĐ-CP"); ``kind``: the document's type."""
    if not text:
        return None
    for pattern in (_STATE, _PARTY):
        if m := pattern.search(text):
            return _from_match(m, kind)
    return None


def _from_match(m: re.Match, kind: str = "") -> DocNumber:
    if "type" in m.re.groupindex:  # Party form: "18-NQ/TW"
        return make_number(m["serial"], None, f"{m['type']}-{m['issuer']}", kind)
    return make_number(m["serial"], m["year"], m["code"], kind)


def _kind_before(text: str, start: int, capital: bool = False) -> tuple[str, int]:
    """(kind, start of the kind word) when a kind word stands right before ``start``;
    ``capital``: only a capitalised one (in a document "pháp luật số 64/..." is not "Luật số")."""
    window_start = max(0, start - 40)
    window = fold(text[window_start:start])
    m = _KIND_BEFORE.search(window) if len(window) == start - window_start else None
    if not m or (capital and not text[window_start + m.start(1)].isupper()):
        return "", start
    word = " ".join(m.group(1).split())
    kind = KIND_WORDS[word][0] if word in KIND_WORDS else TYPE_CODES.get(KIND_ABBREVIATIONS[word], "")
    return kind, window_start + m.start(1)


def find_numbers(text: str) -> list[NumberMention]:
    """Complete document numbers in a document's text, in order, with the kind word before them.

    Codes must start with a capital letter (a document writes "NQ-HĐND"), so that
    ordinary text ("1/2 số hộ") never reads as a number.
    """
    mentions = []
    for pattern in (_STATE, _PARTY):
        for m in pattern.finditer(text):
            code = m["code"] if "code" in m.re.groupindex else m["type"]
            if not code[:1].isupper():
                continue
            kind, start = _kind_before(text, m.start(), capital=True)
            number = _from_match(m, kind)
            if not number.type_code and not number.issuer:
                continue
            mentions.append(NumberMention(number, start, m.end(), text[start : m.end()]))
    return _without_overlaps(mentions)


def query_numbers(text: str) -> list[NumberMention]:
    """Numbers in a query: complete ones in any case ("15/2020/nd-cp") and partial
    ones ("nq 21", "Nghị quyết số 21", "NĐ 15/2020", "21 nq hdnd"). Offsets in ``text``."""
    folded = fold(text)
    if len(folded) != len(text):  # folding changed the length (rare characters): offsets by position
        folded = "".join(fold(c)[:1] or " " for c in text)
    mentions = []
    for pattern in (_STATE, _PARTY):
        for m in pattern.finditer(text):
            kind, start = _kind_before(text, m.start())
            number = _from_match(m, kind)
            if number.type_code or number.issuer:
                mentions.append(NumberMention(number, start, m.end(), text[start : m.end()]))
    for m in _PARTIAL.finditer(folded):
        number = _partial(m)
        if number:
            mentions.append(NumberMention(number, m.start(), m.end(), text[m.start() : m.end()]))
    return _without_overlaps(mentions)


def _partial(m: re.Match) -> DocNumber | None:
    word = " ".join(m["kind"].split())
    kind, code = KIND_WORDS[word] if word in KIND_WORDS else (TYPE_CODES[KIND_ABBREVIATIONS[word]], KIND_ABBREVIATIONS[word])
    serial, year = m["serial"], m["year"]
    # "kế hoạch 2021", "nq 2020": a year, not a serial, unless "số" says so
    if not year and re.fullmatch(_YEAR, serial) and " so" not in f" {m.group(0)}":
        return None
    if m["code"]:  # "21 nq hdnd": the typed code wins over the kind word's
        code = "-".join(m["code"].split()).upper()
    return make_number(serial, year, code, kind)


def _without_overlaps(mentions: list[NumberMention]) -> list[NumberMention]:
    """Longest first, then in text order; a mention inside a kept one is dropped."""
    kept: list[NumberMention] = []
    # in text order, longer first at one start; a mention overlapping the last kept one
    # keeps the longer of the two (mentions are short, so only neighbours overlap)
    for mention in sorted(mentions, key=lambda x: (x.start, -(x.end - x.start))):
        if kept and mention.start < kept[-1].end:
            if mention.end - mention.start > kept[-1].end - kept[-1].start:
                kept[-1] = mention
            continue
        kept.append(mention)
    return kept


def _family(kind: str) -> str:
    return _KIND_FAMILY.get(kind, kind)


def matches(query: DocNumber, doc: DocNumber, doc_year: int | None = None) -> bool:
    """Whether ``query`` (possibly partial) names ``doc``.

    Serial numbers must be equal; year, type and issuer are compared only when both
    sides have them (``doc_year``: the document's date year, for numbers written
    without one, such as "21/NQ-HĐND"). "nq 21" matches 21/NQ-HĐND of any year.
    """
    if query.number != doc.number:
        return False
    year = doc.year or doc_year
    if query.year and year and query.year != year:
        return False
    if query.type_code and doc.type_code and query.type_code != doc.type_code:
        return False
    if query.kind and doc.kind and _family(query.kind) != _family(doc.kind):
        return False
    if (query.type_code or query.kind) and not (doc.type_code or doc.kind):
        # "nq 21" does not name a document whose kind is unknown; a National Assembly
        # number ("47/2019/QH14") is a law's or a resolution's
        if not (re.fullmatch(r"QH\d+", fold(doc.issuer).upper()) and _family(query.kind) in {"luật", "nghị quyết"}):
            return False
    if query.issuer and doc.issuer and fold(query.issuer).upper() != fold(doc.issuer).upper():
        return False
    return True


def document_number(number: str, kind: str = "") -> DocNumber | None:
    """A document's own number from its metadata, its kind from the code or its type."""
    parsed = parse_number(number, kind)
    if parsed and not parsed.kind and kind:
        parsed = DocNumber(parsed.number, parsed.year, parsed.code, kind, parsed.issuer)
    return parsed


# --------------------------------------------------------------------- lookup


class NumberedDocument(Protocol):
    """What ``lookup`` reads of a document (``qa.documents.Document`` or the store's record)."""

    id: str
    number: str
    type: str
    title: str
    issuer: str
    district: str
    date: str
    years: list[int]


@dataclass
class NumberIndex:
    """Documents by serial number ("21" of 21/NQ-HĐND), built once for many lookups."""

    by_serial: dict[str, list[tuple[NumberedDocument, DocNumber]]]

    @classmethod
    def build(cls, documents: Iterable[NumberedDocument]) -> NumberIndex:
        by_serial: dict[str, list[tuple[NumberedDocument, DocNumber]]] = {}
        for d in documents:
            number = document_number(d.number, d.type) if d.number else None
            if number:
                by_serial.setdefault(number.number, []).append((d, number))
        return cls(by_serial)


# query words that say nothing about which document ("số", "nghị quyết", "quận")
_QUERY_STOPWORDS = {"so", "cua", "ve", "nam", "quan", "huyen", "tinh", "thanh", "pho", "van", "ban", "nghi", "quyet",
                    "dinh", "thong", "tu", "luat", "the", "nao", "tim", "xem", "noi", "dung"}
_PLACE_OF_ISSUER = re.compile(r"(?:quan|huyen|thi\s+xa|tinh|thanh\s+pho)\s+(.+)$")


def lookup(query: str, documents: Iterable[NumberedDocument] | NumberIndex) -> list[str]:
    """Ids of the documents whose number the query names, best first.

    The number decides which documents are candidates (``matches``); among documents
    sharing a short number ("nq 21") the query's other words decide, most telling
    first: the document's district or province named, its year (of issue or of the
    period it covers), the issuer code typed, an original over a consolidated text,
    words shared with its issuer and title, then the newest."""
    return [doc_id for doc_id, _ in ranked(query, documents)]


def ranked(query: str, documents: Iterable[NumberedDocument] | NumberIndex) -> list[tuple[str, tuple]]:
    """``lookup`` with each document's agreement with the query (a tuple, higher is
    better, its last element the date: see ``_score``)."""
    index = documents if isinstance(documents, NumberIndex) else NumberIndex.build(documents)
    mentions = query_numbers(query)
    if not mentions:
        return []
    folded = fold(query)
    rest = folded
    for m in mentions:
        rest = rest[: m.start] + " " * (m.end - m.start) + rest[m.end :]
    words = set(re.findall(r"\w+", rest)) - _QUERY_STOPWORDS
    years = {y for p in find_periods(rest) for y in p.years}
    scored: dict[str, tuple] = {}
    for mention in mentions:
        for d, number in index.by_serial.get(mention.number.number, []):
            doc_year = int(d.date[:4]) if d.date[:4].isdigit() else None
            if matches(mention.number, number, doc_year):
                score = _score(mention.number, number, d, f" {' '.join(rest.split())} ", words, years)
                scored[d.id] = max(scored.get(d.id, ()), score)
    by_id = sorted(scored.items())
    return sorted(by_id, key=lambda item: item[1], reverse=True)


# The parts of ``_score`` that name a document outright: its place, its year, the issuer
# code typed, an original over a consolidated text. Words shared with titles do not: in
# "nghị quyết 21 chỉ tiêu hộ nghèo" the folded "ho" of "hộ" is also the "hỗ" of "hỗ trợ".
_DECISIVE = 4


def chosen(ranking: list[tuple[str, tuple]]) -> list[str]:
    """The documents of ``ranked`` that the query's place, year and issuer code cannot
    tell apart from the best one: the number names these, and a search's ranking of their
    passages decides between them; the others share only the number."""
    if not ranking:
        return []
    best = ranking[0][1][:_DECISIVE]
    return [doc_id for doc_id, score in ranking if score[:_DECISIVE] == best]


def _score(query: DocNumber, number: DocNumber, d: NumberedDocument, padded: str, words: set[str],
           years: set[int]) -> tuple:
    """Agreement of a candidate with the query, most telling first (``padded``: the query's
    words besides the number, folded, one space apart and around)."""
    doc_year = number.year or (int(d.date[:4]) if d.date[:4].isdigit() else None)
    issuer = fold(d.issuer)
    place = _PLACE_OF_ISSUER.search(issuer)
    places = {fold(d.district)} | ({place.group(1).strip()} if place else set())
    named_place = any(p and f" {p} " in padded for p in places)
    same_code = bool(query.issuer) and fold(query.issuer).upper() == fold(number.issuer).upper()
    same_year = bool(years & ({doc_year} | set(d.years or ()))) or bool(query.year and query.year == doc_year)
    shared = len(words & set(re.findall(r"\w+", " ".join((issuer, fold(d.district), fold(d.title))))))
    return (int(named_place), int(same_year), int(same_code), int(d.type != "văn bản hợp nhất"), shared, d.date)


def documents_named(query: str, index: NumberIndex) -> tuple[list[str], list[tuple[int, int]]]:
    """For query understanding: the documents a query names by number (best first, see
    ``lookup``) and where in the query the numbers are (so that the year of "nghị quyết
    21/2020" is not read as the period asked about)."""
    spans = [(m.start, m.end) for m in query_numbers(query)]
    return (lookup(query, index) if spans else []), spans
