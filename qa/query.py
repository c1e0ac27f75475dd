"""Query understanding: how Vietnamese people type into a search box.

``understand(query, lexicon)`` turns the raw query into a ``Query``:

* abbreviations expanded both ways (``BHYT`` <-> ``bảo hiểm y tế``), from a
  curated table plus expansions mined from the corpus at build time;
* everyday wording given the documents' official terms from the thesaurus
  (``qa/thesaurus.py``: ``tiền đền bù`` -> ``bồi thường, hỗ trợ, tái định cư``);
* a query typed without diacritics gets them back from the corpus vocabulary
  (most frequent accented form of each folded word), for the dense model;
* years, ranges and periods (``năm 2021``, ``2020-2025``, ``6 tháng đầu năm
  2024``) and district names are recognised, to prefer matching documents.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from qa import thesaurus
from qa.docnumbers import NumberIndex, chosen, matches, query_numbers, ranked
from qa.periods import Period, find_periods, most_specific
from qa.text import fold, has_diacritics, normalize

MAX_QUERY_CHARS = 1000

# Curated: common in HĐND/UBND documents. Keys are as written; the mined
# table (``mine_abbreviations``) adds what a corpus defines on its own.
ABBREVIATIONS: dict[str, str] = {
    "BHYT": "bảo hiểm y tế",
    "BHXH": "bảo hiểm xã hội",
    "BHTN": "bảo hiểm thất nghiệp",
    "UBND": "ủy ban nhân dân",
    "HĐND": "hội đồng nhân dân",
    "MTTQ": "mặt trận tổ quốc",
    "GPMB": "giải phóng mặt bằng",
    "CCHC": "cải cách hành chính",
    "TDTT": "thể dục thể thao",
    "KHHGĐ": "kế hoạch hóa gia đình",
    "ATTP": "an toàn thực phẩm",
    "GPXD": "giấy phép xây dựng",
    "GCN": "giấy chứng nhận",
    "QSDĐ": "quyền sử dụng đất",
    "GCN QSDĐ": "giấy chứng nhận quyền sử dụng đất",
    "KT-XH": "kinh tế - xã hội",
    "KTXH": "kinh tế xã hội",
    "ANTT": "an ninh trật tự",
    "TTATGT": "trật tự an toàn giao thông",
    "ATGT": "an toàn giao thông",
    "PCCC": "phòng cháy chữa cháy",
    "TTXD": "trật tự xây dựng",
    "XDCB": "xây dựng cơ bản",
    "NSNN": "ngân sách nhà nước",
    "DN": "doanh nghiệp",
    "TDP": "tổ dân phố",
    "THCS": "trung học cơ sở",
    "THPT": "trung học phổ thông",
    "MN": "mầm non",
    "CNTT": "công nghệ thông tin",
    "CĐS": "chuyển đổi số",
    "TNMT": "tài nguyên môi trường",
    "VSMT": "vệ sinh môi trường",
    "VSATTP": "vệ sinh an toàn thực phẩm",
    "HTX": "hợp tác xã",
    "TXCT": "tiếp xúc cử tri",
    "NQ": "nghị quyết",
    "QĐ": "quyết định",
    "KH": "kế hoạch",
    "TW": "trung ương",
    "TP": "thành phố",
    "HN": "hà nội",
    "CBCCVC": "cán bộ công chức viên chức",
    "PTQĐ": "phát triển quỹ đất",
    "QLĐT": "quản lý đô thị",
    "KT": "kinh tế",
    "XH": "xã hội",
    "BCH": "ban chấp hành",
    "BTV": "ban thường vụ",
    "ĐBQH": "đại biểu quốc hội",
    "CMT8": "cách mạng tháng tám",
    "TTHC": "thủ tục hành chính",
    "DVC": "dịch vụ công",
    "VH": "văn hóa",
    "GD": "giáo dục",
    "GDĐT": "giáo dục đào tạo",
    "LĐTBXH": "lao động thương binh và xã hội",
}

# Hà Nội's districts: a query naming one that no indexed document is about
# cannot be answered from this corpus (see qa.search.confident).
PLACES = (
    "Ba Đình", "Hoàn Kiếm", "Tây Hồ", "Long Biên", "Cầu Giấy", "Đống Đa", "Hai Bà Trưng", "Hoàng Mai",
    "Thanh Xuân", "Nam Từ Liêm", "Bắc Từ Liêm", "Hà Đông", "Sơn Tây", "Ba Vì", "Chương Mỹ", "Đan Phượng",
    "Đông Anh", "Gia Lâm", "Hoài Đức", "Mê Linh", "Mỹ Đức", "Phú Xuyên", "Phúc Thọ", "Quốc Oai", "Sóc Sơn",
    "Thạch Thất", "Thanh Oai", "Thanh Trì", "Thường Tín", "Ứng Hòa",
)

# Chat spellings of common question words ("GPXD cap dc bn"), replaced before anything
# else reads the query. Only lower-case whole words: "DC" or "BN" in capitals may be an
# abbreviation of the documents. (Not "k", "r", "bh": too often something else.)
CHAT_WORDS: dict[str, str] = {
    "bn": "bao nhiêu", "bnh": "bao nhiêu", "bnhieu": "bao nhiêu", "bao nhiu": "bao nhiêu",
    "dc": "được", "đc": "được", "dk": "được", "ko": "không", "kh": "không", "hok": "không", "kg": "không",
    "j": "gì", "ntn": "như thế nào", "vs": "với", "trc": "trước", "nx": "nữa", "mn": "mọi người",
    "sdt": "số điện thoại", "sđt": "số điện thoại", "lm": "làm", "ng": "người", "nhiu": "nhiêu",
}
# Question words the official texts rarely use, so that restoring diacritics from the
# corpus's most frequent forms would get them wrong ("bao nhieu" -> "báo nhiều").
QUESTION_FORMS = {fold(w).replace(" ", "_"): w for w in (
    "bao nhiêu", "được", "không", "như thế nào", "số điện thoại", "mọi người", "bao giờ", "ở đâu", "là gì")}
_CHAT = re.compile(r"(?<!\w)(" + "|".join(sorted(map(re.escape, CHAT_WORDS), key=len, reverse=True)) + r")(?!\w)")

_ABBR_TOKEN = re.compile(r"\b[A-ZĐ]{3,7}\b")  # two letters are too ambiguous to mine
_SYLLABLE = re.compile(r"\w+", re.UNICODE)


def initials(words: Iterable[str]) -> str:
    return "".join(fold(w)[0] for w in words if w)


@dataclass
class Lexicon:
    """What query understanding knows about an index's corpus."""

    forms: dict[str, str] = field(default_factory=dict)            # folded word -> most frequent accented form
    abbreviations: dict[str, str] = field(default_factory=dict)    # folded abbreviation -> expansion
    expansions: dict[str, str] = field(default_factory=dict)       # folded expansion -> abbreviation
    districts: dict[str, str] = field(default_factory=dict)        # folded district name -> name
    numbers: NumberIndex = field(default_factory=lambda: NumberIndex({}))  # the indexed documents by number
    # "năm nay" of a question: the year of the newest indexed document, unless that is in the
    # future (a plan for next year adopted in December); None: today's year
    present_year: int | None = None

    @classmethod
    def build(cls, words: Iterable[tuple[str, int]], mined: dict[str, str], districts: Iterable[str],
              documents: Iterable = ()) -> Lexicon:
        """``words``: (word form, count) from the index; ``mined``: abbreviation -> expansion
        (``choose_expansions``); ``districts``: the districts of the indexed documents;
        ``documents``: the indexed documents (``qa.docnumbers.NumberedDocument``), for their numbers."""
        best: dict[str, tuple[tuple[int, bool], str]] = {}
        for form, count in words:
            key = fold(form)
            rank = (count, form != key)  # more frequent first; on a tie, the accented form
            if key not in best or rank > best[key][0]:
                best[key] = (rank, form)
        forms = {k: v for k, (_, v) in best.items()}
        # a mined "abbreviation" that is itself a word (a heading in capitals: "BAN") is not one
        mined = {a: e for a, e in mined.items() if fold(a) not in forms}
        table = {**mined, **ABBREVIATIONS}  # curated wins
        abbreviations = {fold(a).replace(" ", ""): normalize(e).lower() for a, e in table.items()}
        expansions = {fold(e): a for a, e in abbreviations.items()}
        names = {fold(d): d for d in districts if d}
        # "BTL", "HBT": initials of district names of three syllables or more
        short = {initials(d.split()): d for d in names.values() if len(d.split()) >= 3}
        short = {k: d for k, d in short.items() if k not in forms and k not in abbreviations}
        abbreviations.update({k: d.lower() for k, d in short.items()})
        documents = list(documents)
        return cls(forms, abbreviations, expansions, {**names, **short}, NumberIndex.build(documents),
                   present_year(documents))


def present_year(documents: Iterable, today: dt.date | None = None) -> int | None:
    """The archive's present: the year its newest document was issued (its date's, else
    the first year it is about: a report on 6 tháng đầu năm 2024 is of 2024), or today's
    year when that is later than today; None for an empty archive."""
    def issued(d) -> int | None:
        return int(d.date[:4]) if d.date[:4].isdigit() else min(d.years, default=None)

    years = [y for y in map(issued, documents) if y is not None]
    return min(max(years), (today or dt.date.today()).year) if years else None


def abbreviation_runs(text: str) -> Counter:
    """``(abbreviation, expansion)`` pairs of one text, counted.

    For each upper-case abbreviation the text uses, every run of syllables in
    the text whose initials spell it (``Đ`` also counts as ``D``), e.g.
    ``GPXD`` -> ``giấy phép xây dựng``. ``choose_expansions`` keeps the most
    frequent run across the corpus.
    """
    wanted = {fold(tok): tok for tok in _ABBR_TOKEN.findall(text) if len(set(tok)) > 1}
    lengths = {len(key) for key in wanted}
    runs: Counter = Counter()
    if not wanted:
        return runs
    for sentence in re.split(r"[.;:\n()\t,]", text):
        syllables = [s for s in _SYLLABLE.findall(sentence) if not s.isdigit()]
        for n in lengths:
            for i in range(len(syllables) - n + 1):
                run = syllables[i : i + n]
                key = initials(run)
                if key in wanted and not any(s.isupper() for s in run):
                    runs[(wanted[key], " ".join(run).lower())] += 1
    return runs


def choose_expansions(counts: Iterable[tuple[str, str, int]], min_count: int = 2) -> dict[str, str]:
    """The most frequent expansion of each abbreviation, seen ``min_count`` times."""
    best: dict[str, tuple[int, str]] = {}
    for abbr, expansion, count in counts:
        if count >= min_count and count > best.get(abbr, (0, ""))[0]:
            best[abbr] = (count, expansion)
    return {abbr: expansion for abbr, (_, expansion) in best.items()}


@dataclass
class Query:
    raw: str
    text: str                      # normalised as typed
    folded: str
    accented: bool                 # the user typed diacritics
    restored: str                  # diacritics restored (== text when typed with them)
    # (form in the query, folded; its other form): ("bhyt", "bảo hiểm y tế"), ("giay phep xay dung", "GPXD")
    aliases: list[tuple[str, str]]
    years: set[int] = field(default_factory=set)
    period: str = ""               # "6 tháng đầu năm 2024"
    districts: list[str] = field(default_factory=list)   # named, and in the index
    places: list[str] = field(default_factory=list)      # named districts no document is about
    periods: list[Period] = field(default_factory=list)  # every period named (qa.periods), offsets in ``folded``
    # indexed documents named by number ("nghị quyết 21"): those the query's other words cannot
    # tell apart (ranked first, see qa.ranking), and every document of that number, best first
    documents: list[str] = field(default_factory=list)
    reference_words: set[str] = field(default_factory=set)  # the folded words that named them
    number_matches: list[str] = field(default_factory=list)

    @property
    def expanded(self) -> list[str]:
        """Abbreviation expansions and abbreviations of the query's words, both ways."""
        return list(dict.fromkeys(other for _, other in self.aliases))

    @property
    def dense_text(self) -> str:
        """What the embedding model reads."""
        extra = [e for e in self.expanded if fold(e) not in fold(self.restored)]
        return self.restored + (" (" + "; ".join(extra) + ")" if extra else "")


class QueryError(ValueError):
    """A query we cannot run; the message says why in plain words, ``code`` says it for
    programs (the API returns it; the page words it in Vietnamese)."""

    def __init__(self, message: str, code: str = "bad_query"):
        super().__init__(message)
        self.code = code


def validate(raw: str) -> str:
    if raw is None or not raw.strip():
        raise QueryError("The query is empty: type a few words, e.g. “chỉ tiêu BHYT năm 2021”.", code="empty_query")
    if len(raw) > MAX_QUERY_CHARS:
        raise QueryError(f"The query is {len(raw)} characters long; the limit is {MAX_QUERY_CHARS}. Shorten it.",
                         code="query_too_long")
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", raw):
        raise QueryError("The query contains control characters; remove them and try again.",
                         code="control_characters")
    return raw


# What a query needs to be searched at all: a word of the alphabet the documents are
# written in (Vietnamese: Latin letters, with or without diacritics) or a number. Headings'
# markers carry nothing either: Roman numerals in capitals ("III.") and lone letters ("a)").
# Everything else (punctuation, "*", emoji, Chinese, Cyrillic) would only bring back
# unrelated passages, so such a query gets no results and NO_CONTENT_MESSAGE instead.
_CONTENT_WORD = re.compile(r"[0-9a-z]+")
_ROMAN_NUMERAL = re.compile(r"(?=[IVX])X{0,2}(IX|IV|V?I{0,3})")  # I to XXIX: a heading's number
NO_CONTENT = "no content"  # SearchResponse.declined of such a query
NO_CONTENT_MESSAGE = ("The query has no words or numbers to search for (only punctuation, symbols or another "
                      "script): type a few Vietnamese words, e.g. “chỉ tiêu BHYT năm 2021”.")


def searchable_words(text: str) -> list[str]:
    """The words of ``text`` (as typed) that a search can use: runs of Latin letters
    (diacritics folded away) and digits, without Roman numerals in capitals and lone letters."""
    found = []
    for word in re.findall(r"\w+", normalize(text)):
        # NFKC: full-width digits and letters ("２０２１") are the ordinary ones
        folded = "".join(_CONTENT_WORD.findall(fold(unicodedata.normalize("NFKC", word))))
        if not folded or (len(folded) == 1 and folded.isalpha()):
            continue
        if word.isupper() and _ROMAN_NUMERAL.fullmatch(word):
            continue
        found.append(word)
    return found


def has_content(text: str) -> bool:
    """Whether ``text`` holds anything to search for (see ``searchable_words``)."""
    return bool(searchable_words(text))


def restore_diacritics(folded_words: list[str], forms: dict[str, str], max_n: int = 4) -> list[str]:
    """Greedy longest match of folded syllables against the corpus's words."""
    out, i = [], 0
    while i < len(folded_words):
        for n in range(min(max_n, len(folded_words) - i), 0, -1):
            key = "_".join(folded_words[i : i + n])
            if key in forms:
                out.append(forms[key].replace("_", " "))
                i += n
                break
        else:
            out.append(folded_words[i])
            i += 1
    return out


def understand(raw: str, lexicon: Lexicon) -> Query:
    text = normalize(validate(raw)).strip()
    text = re.sub(r"\s+", " ", text)
    accented = has_diacritics(text)
    # typed without diacritics: the chat words' replacements too, so the query is restored as a whole
    text = _CHAT.sub(lambda m: CHAT_WORDS[m.group(1)] if accented else fold(CHAT_WORDS[m.group(1)]), text)
    folded = fold(text)
    folded_words = _SYLLABLE.findall(folded)
    restored = text if accented else " ".join(restore_diacritics(folded_words, {**lexicon.forms, **QUESTION_FORMS}))

    aliases: list[tuple[str, str]] = []
    for word in _SYLLABLE.findall(text):
        expansion = lexicon.abbreviations.get(fold(word))
        if expansion and (word.isupper() or fold(word) not in lexicon.forms or len(word) >= 4):
            aliases.append((fold(word), expansion))
    padded = f" {' '.join(folded_words)} "
    for phrase, abbr in lexicon.expansions.items():
        if f" {phrase} " in padded:
            aliases.append((phrase, abbr.upper()))
    # everyday wording -> the documents' official terms ("thẻ khám bệnh" -> "thẻ bảo hiểm y tế")
    aliases += thesaurus.expansions(folded, typed=restored)
    documents, matched, reference_words, spans = named_documents(folded, lexicon.numbers)
    # years, ranges, parts of years, relative years ("năm nay": this year), on folded text;
    # not the year of a document's number ("nghị quyết 21/2020")
    unnamed = folded
    for a, b in spans:
        unnamed = unnamed[:a] + " " * (b - a) + unnamed[b:]
    # "6 tháng cuối năm" without a year asks about that part of any year: no year is assumed
    periods = find_periods(unnamed, reference_year=lexicon.present_year or dt.date.today().year,
                           parts_take_reference=False)
    years = {year for p in periods for year in p.years}
    # bare years, months and dates are not a period asked for; a part of a year without its
    # year ("6 tháng cuối năm") is, of any year (``qa.periods.same_period``)
    asked = most_specific(periods) or next(
        (p for p in periods if p.kind in ("half", "quarter", "months") and p.last_year is None), None)
    period = asked.label if asked else ""
    districts = [name for key, name in lexicon.districts.items() if f" {key} " in padded]
    # "Nam Từ Liêm" contains "Từ Liêm" but not "Bắc Từ Liêm": compare whole names
    places = [p for p in PLACES if f" {fold(p)} " in padded and p not in districts
              and not any(fold(p) in fold(d) for d in districts)]
    return Query(raw, text, folded, accented, restored, aliases, years, period, districts, places, periods=periods,
                 documents=documents, reference_words=reference_words, number_matches=matched)


def named_documents(folded: str, numbers: NumberIndex) -> tuple[list[str], list[str], set[str], list[tuple[int, int]]]:
    """The indexed documents a query names by number (``qa.docnumbers``: "nq 21",
    "21/NQ-HDND", "Nghị quyết số 21", "15/2020/nd-cp"): those its other words cannot tell
    apart, all of that number (best first), the folded words of the numbers that named
    them, and where all numbers are (so that the year of "nghị quyết 21/2020" is not a
    period asked about)."""
    mentions = query_numbers(folded)
    ranking = ranked(folded, numbers) if mentions else []
    words: set[str] = set()
    if ranking:
        for m in mentions:
            if any(matches(m.number, n, int(d.date[:4]) if d.date[:4].isdigit() else None)
                   for d, n in numbers.by_serial.get(m.number.number, [])):
                words.update(_SYLLABLE.findall(folded[m.start : m.end]))
    return chosen(ranking), [doc_id for doc_id, _ in ranking], words, [(m.start, m.end) for m in mentions]
