"""Query understanding: how Vietnamese people type into a search box.

``understand(query, lexicon)`` turns the raw query into a ``Query``:

* abbreviations expanded both ways (``BHYT`` <-> ``bảo hiểm y tế``), from a
  curated table plus expansions mined from the corpus at build time;
* a query typed without diacritics gets them back from the corpus vocabulary
  (most frequent accented form of each folded word), for the dense model;
* years, ranges and periods (``năm 2021``, ``2020-2025``, ``6 tháng đầu năm
  2024``) and district names are recognised, to prefer matching documents.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

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

    @classmethod
    def build(cls, words: Iterable[tuple[str, int]], mined: dict[str, str], districts: Iterable[str]) -> Lexicon:
        """``words``: (word form, count) from the index; ``mined``: abbreviation -> expansion
        (``choose_expansions``); ``districts``: the districts of the indexed documents."""
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
        return cls(forms, abbreviations, expansions, {fold(d): d for d in districts if d})


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
    """A query we cannot run; the message says why in plain words."""


def validate(raw: str) -> str:
    if raw is None or not raw.strip():
        raise QueryError("The query is empty: type a few words, e.g. “chỉ tiêu BHYT năm 2021”.")
    if len(raw) > MAX_QUERY_CHARS:
        raise QueryError(f"The query is {len(raw)} characters long; the limit is {MAX_QUERY_CHARS}. Shorten it.")
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", raw):
        raise QueryError("The query contains control characters; remove them and try again.")
    return raw


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
    folded = fold(text)
    accented = has_diacritics(text)
    folded_words = _SYLLABLE.findall(folded)
    restored = text if accented else " ".join(restore_diacritics(folded_words, lexicon.forms))

    aliases: list[tuple[str, str]] = []
    for word in _SYLLABLE.findall(text):
        expansion = lexicon.abbreviations.get(fold(word))
        if expansion and (word.isupper() or fold(word) not in lexicon.forms or len(word) >= 4):
            aliases.append((fold(word), expansion))
    padded = f" {' '.join(folded_words)} "
    for phrase, abbr in lexicon.expansions.items():
        if f" {phrase} " in padded:
            aliases.append((phrase, abbr.upper()))
    # years, ranges, parts of years, relative years ("năm nay": this year), on folded text
    periods = find_periods(folded, reference_year=dt.date.today().year)
    years = {year for p in periods for year in p.years}
    asked = most_specific(periods)  # bare years, months and dates are not a period asked for
    period = asked.label if asked else ""
    districts = [name for key, name in lexicon.districts.items() if f" {key} " in padded]
    # "Nam Từ Liêm" contains "Từ Liêm" but not "Bắc Từ Liêm": compare whole names
    places = [p for p in PLACES if f" {fold(p)} " in padded and p not in districts
              and not any(fold(p) in fold(d) for d in districts)]
    return Query(raw, text, folded, accented, restored, aliases, years, period, districts, places, periods=periods)
