"""Vietnamese time expressions: the periods a document is about, a passage mentions
or a question asks for.

One parser for both sides of the search: ``qa.documents`` reads a document's period
from its title (``document_period``), ``qa.query`` reads the periods of a question
(``find_periods``). Matching is done on diacritic-folded text (``qa.text.fold``), so
``6 thang dau nam 2024`` is ``6 tháng đầu năm 2024``; offsets refer to the text given.

>>> [p.label for p in find_periods("Kết quả 6 tháng đầu năm 2024 so với cùng kỳ năm trước")]
['6 tháng đầu năm 2024', '6 tháng đầu năm 2023']
>>> [p.label for p in find_periods("quy 2/2021, giai doan 2021 - 2025, tam nhin den nam 2030")]
['quý II năm 2021', '2021-2025', 'đến năm 2030']
>>> p = find_periods("Nhiệm vụ 3 tháng cuối năm 2020")[0]
>>> (p.kind, p.part, p.label, p.start, p.end)
('quarter', 4, '3 tháng cuối năm 2020', 9, 30)
>>> p.same(Period.from_label("quý IV năm 2020")), Period.from_label("2020").contains(p)
(True, True)
>>> [p.label for p in find_periods("năm nay và năm tới", reference_year=2025)]
['2025', '2026']
>>> find_periods("Nghị quyết số 01/2020/NQ-HĐND ngày 18/6/2020")[0].label   # only the date
'ngày 18/6/2020'

Kinds of ``Period``:

========  =================================================  ==========================
kind      written                                            label
========  =================================================  ==========================
year      ``năm 2021``, ``2021``, ``năm nay`` (reference)    ``2021``
half      ``6 tháng đầu năm 2024``, ``sáu tháng cuối năm``,  ``6 tháng đầu năm 2024``
          ``nửa đầu năm 2024``
quarter   ``quý I năm 2021``, ``quý 1/2021``, ``quý IV``     ``quý I năm 2021``
quarter   ``3 tháng cuối năm 2020`` (kept as written),       ``3 tháng cuối năm 2020``
          ``quý cuối năm 2020``
months    ``9 tháng đầu năm 2024``, ``5 tháng đầu năm``      ``9 tháng đầu năm 2024``
range     ``2020-2025``, ``giai đoạn 2021 – 2025``,          ``2021-2025``
          ``từ năm 2021 đến năm 2025``
until     ``đến năm 2030``, ``đến hết năm 2025``             ``đến năm 2030``
annual    ``hằng năm``, ``hàng năm``, ``mỗi năm``            ``hằng năm``
month     ``tháng 6/2024``, ``tháng 6 năm 2024``, ``6/2024`` ``tháng 6 năm 2024``
date      ``ngày 13/11/2020``, ``18 tháng 6 năm 2020``       ``ngày 13/11/2020``
========  =================================================  ==========================

Decisions worth knowing:

* **Dates are periods of their own kind** (``date``, one day). They count for the
  year they name (``years``) and a highlighter sees the whole date, but a caller can
  tell them from a year: a date in a title is almost always the date of *another*
  document (``sửa đổi Nghị quyết ... ngày 16 tháng 12 năm 2019``), so
  ``document_period`` skips dates, and ``most_specific`` (what a question is about)
  skips dates and months.
* Document numbers are not periods: ``01/2020/NQ-HĐND``, ``59/2020/QH14``, and
  ``84/2020`` (no month 84) name no year. ``01/2020`` alone reads as a month.
* A bare number is a year when it is 1950–2099 and is not a quantity: not part of
  ``2.020`` or ``2,5``, not followed by a unit (``2025 người``, ``2020 tỷ``).
* A part of a year written without its year (``6 tháng đầu năm; ... 6 tháng cuối năm
  2024``) takes the year of the next explicit year in the same sentence, else
  ``reference_year``; without either it is kept with no year (label ``6 tháng đầu
  năm``, no ``years``), as document labels have always been.
* Relative years (``năm nay`` = reference, ``năm trước``/``năm ngoái``/``năm qua`` =
  reference − 1, ``năm tới``/``năm sau`` = reference + 1) are dropped when there is
  no ``reference_year``; ``năm qua`` ("the past year") is taken as the previous one.
  ``cùng kỳ [năm trước]`` is the period last named before it on the same line, a
  year earlier (``cùng kỳ năm 2023``: in 2023); with none, ``cùng kỳ năm trước`` is
  the year before the reference and a bare ``cùng kỳ`` is nothing.
  ``những năm qua``, ``5 năm qua`` (a count of years) and ``Việt Nam qua`` are not
  relative years; in accented text ``Nam nay`` is not ``năm nay`` either.
* ``đến năm 2025`` has an open start: ``first_year`` is ``None``, ``years`` is
  ``{2025}`` (what indexes have always stored), and it contains any earlier period.
* Ranges run forwards over at most 50 years; ``2025-2020`` is two years.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache

from qa.text import fold

__all__ = ["KINDS", "Period", "document_period", "find_periods", "mentioned_periods", "most_specific", "years_of"]

FIRST_YEAR, LAST_YEAR = 1950, 2099
MAX_RANGE_YEARS = 50

KINDS = ("year", "half", "quarter", "months", "range", "until", "annual", "month", "date")
# What a question can be "about" for ranking (``most_specific``): parts of years and
# spans of years. Bare years are the ``years`` signal; months and dates are points a
# question names in passing ("đến hết tháng 6/2024"), never a document's period.
QUESTION_KINDS = ("half", "quarter", "months", "range", "until")

_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
_FROM_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_OPEN = (0, 0, 0)  # the start of "đến năm 2025"


@dataclass(frozen=True)
class Period:
    """A span of time named in a text.

    ``part``: 1/2 for a half, 1–4 for a quarter, the number of months for ``months``,
    the month for ``month``, the day for ``date`` (0 otherwise). ``first_month`` and
    ``last_month`` are the months of ``first_year`` and ``last_year`` it starts and
    ends in. ``start``/``end``: where it is written in the text parsed (not compared:
    the same period named twice is ``==``). ``first_year``/``last_year`` are ``None``
    for ``annual`` and for a part of a year whose year is unknown; ``first_year`` is
    ``None`` for ``until``.
    """

    kind: str
    first_year: int | None
    last_year: int | None
    part: int = 0
    label: str = ""
    first_month: int = 1
    last_month: int = 12
    start: int = field(default=0, compare=False)
    end: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown period kind {self.kind!r}")

    def __str__(self) -> str:
        return self.label

    @property
    def years(self) -> frozenset[int]:
        """The years it covers (``until``: its last year; none when unknown)."""
        if self.last_year is None:
            return frozenset()
        if self.first_year is None:
            return frozenset({self.last_year})
        return frozenset(range(self.first_year, self.last_year + 1))

    @property
    def located(self) -> bool:
        """Has a place in time (``annual`` and year-less parts have none)."""
        return self.last_year is not None

    def _bounds(self) -> tuple[tuple[int, int, int], tuple[int, int, int]] | None:
        if self.last_year is None:
            return None
        if self.kind == "date":
            day = (self.last_year, self.last_month, self.part)
            return day, day
        first = _OPEN if self.first_year is None else (self.first_year, self.first_month, 1)
        return first, (self.last_year, self.last_month, 31)

    def contains(self, other: Period) -> bool:
        """Every day of ``other`` is in this period (both located)."""
        a, b = self._bounds(), other._bounds()
        return a is not None and b is not None and a[0] <= b[0] and b[1] <= a[1]

    def overlaps(self, other: Period) -> bool:
        """Some day is in both (both located)."""
        a, b = self._bounds(), other._bounds()
        return a is not None and b is not None and a[0] <= b[1] and b[0] <= a[1]

    def same(self, other: Period) -> bool:
        """The same span of time, however written: ``quý IV năm 2020`` is ``3 tháng
        cuối năm 2020``; two ``hằng năm`` or two year-less ``6 tháng đầu năm`` are too."""
        a, b = self._bounds(), other._bounds()
        if a is not None or b is not None:
            return a == b
        return (self.kind, self.part, self.first_month, self.last_month) == (
            other.kind, other.part, other.first_month, other.last_month)

    def shifted(self, years: int) -> Period | None:
        """The same part of another year: ``6 tháng đầu năm 2024`` shifted by -1 is
        ``6 tháng đầu năm 2023`` (``None`` if that falls outside 1950–2099)."""
        if self.last_year is None or not years:
            return self
        first = None if self.first_year is None else self.first_year + years
        last = self.last_year + years
        if not (FIRST_YEAR <= last <= LAST_YEAR) or (first is not None and first < FIRST_YEAR):
            return None
        return _make(self.kind, first, last, self.part, self.first_month, self.last_month,
                     self.start, self.end, as_months=self.label.startswith("3 tháng"))

    @classmethod
    def from_label(cls, label: str) -> Period:
        """Parse a label back (one stored in an index): ``Period.from_label(p.label) == p``.

        Older spellings are accepted too (``quý 2 năm 2023`` -> ``quý II năm 2023``).
        Raises ``ValueError`` if the label is not one period.
        """
        text = label.strip()
        found = find_periods(text)
        if len(found) != 1 or (found[0].start, found[0].end) != (0, len(text)):
            raise ValueError(f"not a period label: {label!r}")
        return replace(found[0], start=0, end=len(label))


def find_periods(text: str, reference_year: int | None = None, parts_take_reference: bool = True) -> list[Period]:
    """Every period written in ``text`` (accented or not), in order of appearance.

    ``reference_year`` resolves relative words (``năm nay``, ``năm trước``, ``cùng
    kỳ``) and, when ``parts_take_reference``, parts of a year written without one; it
    is the archive's present for a question, the document's year for a document. A
    question's "6 tháng cuối năm" names no year (any year's second half will do), so
    ``qa.query`` passes ``parts_take_reference=False``.

    >>> [(p.kind, p.label) for p in find_periods("quý IV; 6 thang dau nam; hang nam", 2024)]
    [('quarter', 'quý IV năm 2024'), ('half', '6 tháng đầu năm 2024'), ('annual', 'hằng năm')]
    """
    if not text:
        return []
    folded, origin = _aligned_fold(text)
    accented = fold(text) != text.lower()
    drafts = _scan(folded, text, origin, accented)
    return list(_resolve(drafts, folded, reference_year, origin, len(text), parts_take_reference))


def mentioned_periods(text: str, reference_year: int | None = None) -> list[Period]:
    """What a passage mentions: each distinct period once, in order of first mention
    (offsets of that first mention)."""
    return list(dict.fromkeys(find_periods(text, reference_year)))


def document_period(title: str, text: str = "", reference_year: int | None = None) -> Period | None:
    """What a document is about: the first period its title names, dates excepted
    (a date in a title is another document's).

    ``reference_year`` (the year of the document's date) resolves ``năm nay``,
    ``quý IV`` and the like; when not given, the year of the first date in the head
    of ``text`` (the document's own date line comes before its body).

    >>> document_period("Báo cáo 6 tháng đầu năm; phương hướng 6 tháng cuối năm 2024").label
    '6 tháng đầu năm 2024'
    >>> document_period("Sửa đổi Nghị quyết số 27/2019/NQ-HĐND ngày 16 tháng 12 năm 2019") is None
    True
    """
    if reference_year is None and text:
        reference_year = next((p.last_year for p in find_periods(text[:_HEAD_CHARS]) if p.kind == "date"), None)
    return next((p for p in find_periods(title, reference_year) if p.kind != "date"), None)


def most_specific(periods: Iterable[Period], kinds: Iterable[str] = QUESTION_KINDS) -> Period | None:
    """The shortest located period of the given kinds (the first on a tie), e.g. what a
    question asks about: ``2020-2025`` < ``6 tháng cuối năm 2020``."""
    wanted = set(kinds)
    best: Period | None = None
    for p in periods:
        if p.kind in wanted and p.located and (best is None or _length(p) < _length(best)):
            best = p
    return best


@lru_cache(maxsize=4096)
def _parsed(label: str) -> Period | None:
    try:
        return Period.from_label(label)
    except ValueError:
        return None


def same_period(asked: str, label: str) -> bool:
    """Whether a document's period (``label``) is the period a question asks for
    (``asked``, a label): the same span however written, and when the question names
    no year ("6 tháng cuối năm"), that part of any year.

    >>> same_period("6 tháng cuối năm", "6 tháng cuối năm 2020"), same_period("quý IV năm 2020", "3 tháng cuối năm 2020")
    (True, True)
    >>> same_period("6 tháng cuối năm 2021", "6 tháng cuối năm 2020")
    False
    """
    if not asked or not label:
        return False
    if asked == label:
        return True
    a, b = _parsed(asked), _parsed(label)
    if a is None or b is None:
        return False
    if a.last_year is None and a.kind != "annual":
        return (a.kind, a.part, a.first_month, a.last_month) == (b.kind, b.part, b.first_month, b.last_month)
    return a.same(b)


def years_of(label: str) -> list[int]:
    """The years a period label covers (``"2020-2025"`` -> 2020…2025), sorted; for a
    free-form label (a sidecar's), the years of every period it names."""
    try:
        return sorted(Period.from_label(label).years)
    except ValueError:
        return sorted({y for p in find_periods(label) for y in p.years})


# --------------------------------------------------------------------------- labels


def _make(kind: str, first: int | None, last: int | None, part: int = 0, first_month: int = 1,
          last_month: int = 12, start: int = 0, end: int = 0, as_months: bool = False) -> Period:
    return Period(kind, first, last, part, _label(kind, first, last, part, first_month, last_month, as_months),
                  first_month, last_month, start, end)


def _label(kind: str, first: int | None, last: int | None, part: int, first_month: int, last_month: int,
           as_months: bool) -> str:
    year = "" if last is None else f" {last}"
    if kind == "year":
        return str(last)
    if kind == "range":
        return f"{first}-{last}"
    if kind == "until":
        return f"đến năm {last}"
    if kind == "annual":
        return "hằng năm"
    if kind == "month":
        return f"tháng {part} năm {last}"
    if kind == "date":
        return f"ngày {part}/{last_month}/{last}"
    if kind == "quarter" and not as_months:
        return f"quý {_ROMAN[part]}" + (f" năm {last}" if last is not None else "")
    count = last_month - first_month + 1
    side = "đầu" if first_month == 1 else "cuối"
    return f"{count} tháng {side} năm{year}"


def _part_of_year(count: int, side: str, year: int | None, start: int, end: int) -> Period:
    """ "N tháng đầu/cuối năm": a half, a quarter (3 months, first or last) or N months."""
    first_month, last_month = (1, count) if side == "dau" else (13 - count, 12)
    if count == 6:
        return _make("half", year, year, 1 if side == "dau" else 2, first_month, last_month, start, end)
    if count == 3:
        return _make("quarter", year, year, 1 if side == "dau" else 4, first_month, last_month, start, end,
                     as_months=True)
    return _make("months", year, year, count, first_month, last_month, start, end)


def _quarter(q: int, year: int | None, start: int = 0, end: int = 0) -> Period:
    return _make("quarter", year, year, q, 3 * q - 2, 3 * q, start, end)


def _length(p: Period) -> tuple[int, int]:
    (y0, m0, d0), (y1, m1, d1) = p._bounds()  # type: ignore[misc]
    if y0 == 0:
        return (1, 0)  # open start: longer than any closed span
    return (0, (y1 * 12 + m1) * 31 + d1 - ((y0 * 12 + m0) * 31 + d0))


# --------------------------------------------------------------------------- matching

_HEAD_CHARS = 3000
_Y = r"(?:19[5-9][0-9]|20[0-9][0-9])"
_L = r"(?<![\w/])(?<![0-9][.,])"            # a number starts here: not inside 2.020 or 12/2020
_R = r"(?!\w|[.,][0-9]|\s*/\s*\w)"           # a year ends here: not 2020.5, not 2020/NQ-...
_DASH = r"[-‐‑‒–—−]"
_COUNT = r"(?:[0-9]{1,2}|muoi\s+mot|muoi\s+hai|muoi|mot|hai|ba|bon|tu|nam|sau|bay|tam|chin)"
_REL = r"(?:nay|truoc|ngoai|qua|toi|sau)"
_NUMBER_WORDS = {"mot": 1, "hai": 2, "ba": 3, "bon": 4, "tu": 4, "nam": 5, "sau": 6, "bay": 7, "tam": 8,
                 "chin": 9, "muoi": 10, "muoi mot": 11, "muoi hai": 12}
_RELATIVE = {"nay": 0, "truoc": -1, "ngoai": -1, "qua": -1, "toi": 1, "sau": 1}
# the accented spelling a folded word must have when it is written with diacritics
_SPELLING = {"quy": {"quý"}, "nua": {"nửa"}, "ky": {"kỳ", "kì"}, "cung": {"cùng"}, "nam": {"năm"}, "nay": {"nay"},
             "truoc": {"trước"}, "ngoai": {"ngoái"}, "qua": {"qua"}, "toi": {"tới"}, "sau": {"sau"},
             "hang": {"hằng", "hàng"}, "moi": {"mỗi"}, "tu": {"từ"}}
# before "năm qua/trước/...": a count of years ("những năm qua", "5 năm qua") or a place ("Việt Nam qua")
_NOT_RELATIVE_AFTER = {"nhung", "cac", "nhieu", "may", "vai", "hai", "ba", "bon", "nam", "sau", "bay", "tam",
                       "chin", "muoi", "viet", "ha", "quang", "mien", "phuong", "tay", "dong", "bac", "an", "dai"}
_UNIT = re.compile(r"\s*(?:%|nguoi|ty|trieu|nghin|ngan|luot|hoc\s+sinh|doanh\s+nghiep|m2|km|kg|tan)(?!\w)")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
_WORD = re.compile(r"\w+")
_SPACES = re.compile(r"\s*")
_LAST_WORD = re.compile(r"(\w+)[ \t]+$")
# a match rejected for its spelling ("quỹ 2 năm 2021") leaves its words to the others
_RESCAN = {"quarter", "part", "same", "relative", "annual"}

_PATTERN = re.compile(rf"""
  (?P<number>{_L}[0-9]{{1,4}}\s*/\s*{_Y}\s*/\s*[a-z0-9][\w-]*)                  # 01/2020/NQ-HĐND
 |(?P<date>(?:(?<!\w)ngay\s+)?{_L}(?P<d1>[0-9]{{1,2}})\s*(?P<sep>[/.-])\s*(?P<m1>[0-9]{{1,2}})\s*(?P=sep)\s*
      (?P<y1>{_Y}){_R}                                                           # 13/11/2020
   |(?:(?<!\w)ngay\s+)?{_L}(?P<d2>[0-9]{{1,2}})\s+thang\s+(?P<m2>[0-9]{{1,2}})\s*,?\s*nam\s+(?P<y2>{_Y}){_R}
   |{_L}(?P<y3>{_Y})-(?P<m3>[0-9]{{2}})-(?P<d3>[0-9]{{2}})(?!\w))                # 2020-12-18
 |(?P<month>(?:(?<!\w)thang\s+)?{_L}(?P<mm1>[0-9]{{1,3}})\s*/\s*(?P<my1>{_Y}){_R}    # tháng 6/2024, 6/2024
   |(?<!\w)thang\s+(?P<mm2>[0-9]{{1,2}})(?:\s*-\s*|\s+nam\s+)(?P<my2>{_Y}){_R})   # tháng 6 năm 2024
 |(?P<range>(?:(?<!\w)(?:giai\s+doan|nhiem\s+ky|thoi\s+ky)\s+)?(?:(?<!\w)(?P<rtu>tu)\s+)?
      (?:(?<!\w)nam(?:\s+hoc)?\s+)?{_L}(?P<r1>{_Y})(?:\s*{_DASH}\s*|\s*/\s*|\s+(?:den|toi)\s+(?:het\s+)?)(?:nam\s+)?(?P<r2>{_Y}){_R})
 |(?P<part>(?<![\w/])(?:(?P<count>{_COUNT})\s+thang|(?P<half>nua)|(?P<qpart>quy))\s+(?P<side>dau|cuoi)(?!\w)
      (?:\s+(?:cua\s+)?nam(?:\s+(?P<py1>{_Y}){_R}|\s+(?P<prel>{_REL})(?!\w))?(?!\w)|\s+(?P<py2>{_Y}){_R}))
 |(?P<quarter>(?<!\w)(?P<qkw>quy)\s+(?P<q>iv|iii|ii|i|[1-4])(?!\w)
      (?:(?:\s*[/-]\s*|\s+(?:nam\s+)?)(?P<qy>{_Y}){_R}|\s+nam\s+(?P<qrel>{_REL})(?!\w))?)
 |(?P<until>(?<!\w)(?:den|toi)\s+(?:het\s+)?nam\s+(?P<uy>{_Y}){_R})
 |(?P<same>(?<!\w)(?P<scung>cung)\s+(?P<sky>ky)(?!\w)
      (?:\s+nam\s+(?:(?P<sy>{_Y}){_R}|(?P<srel>truoc|ngoai|qua)(?!\w)))?)
 |(?P<relative>(?<!\w)(?P<rnam>nam)\s+(?P<rword>{_REL})(?!\w))
 |(?P<annual>(?<!\w)(?P<akw>hang|moi)\s+nam(?!\w))
 |(?P<year>(?:(?<!\w)(?P<ynam>nam)\s+)?{_L}(?P<y>{_Y}){_R})
""", re.VERBOSE)


# where a match can start (every alternative starts a word): matching the pattern
# only there is what makes scanning long texts cheap
_TRIGGER = re.compile(r"(?<!\w)(?:[0-9]|(?:nam|nua|thang|quy|ngay|giai|nhiem|thoi|tu|den|toi|cung|hang|moi"
                      r"|mot|hai|ba|bon|sau|bay|tam|chin|muoi)(?!\w))")


def _scan(folded: str, text: str, origin: list[int] | None, accented: bool) -> list[_Draft]:
    """The drafts of ``_PATTERN.finditer(folded)``, trying only where a match can start."""
    drafts: list[_Draft] = []
    end = 0
    for trigger in _TRIGGER.finditer(folded):
        if trigger.start() < end or not (m := _PATTERN.match(folded, trigger.start())):
            continue
        found = _drafts(m, folded, text, origin, accented)
        if found or m.lastgroup not in _RESCAN:
            end = m.end()
        drafts += found
    return drafts


@dataclass
class _Draft:
    """A match before years are resolved: ``period`` (year-less for a part written
    without its year), ``shift`` for a relative year, ``same`` for "cùng kỳ"."""

    start: int
    end: int
    period: Period | None = None
    shift: int | None = None
    same: bool = False
    same_year: int | None = None     # "cùng kỳ năm 2023"
    same_previous: bool = False      # "cùng kỳ năm trước"
    explicit: bool = True   # its year is written, so a year-less part before it can take it


def _aligned_fold(text: str) -> tuple[str, list[int] | None]:
    """``fold(text)`` and, unless it is character for character, the index in ``text``
    of each folded character (combining marks of decomposed text are dropped)."""
    folded = fold(text)
    if len(folded) == len(text) and not re.search(r"[\u0300-\u036f]", folded):
        return folded, None
    out: list[str] = []
    origin: list[int] = []
    for i, c in enumerate(text):
        if unicodedata.combining(c):
            continue
        for f in fold(c):
            out.append(f)
            origin.append(i)
    return "".join(out), origin


def _span(start: int, end: int, origin: list[int] | None, length: int) -> tuple[int, int]:
    if origin is None:
        return start, end
    if start >= len(origin):
        return length, length
    first = origin[start]
    last = origin[end] if end < len(origin) else length
    return first, max(last, origin[end - 1] + 1)


def _written_as(m: re.Match, group: str, text: str, origin: list[int] | None, strict: bool = False) -> bool:
    """The word of ``group`` is spelt as the word it folds from (``quý``, not ``quỹ``).
    Unaccented spellings pass unless ``strict`` (then only the accented one does)."""
    start, end = _span(m.start(group), m.end(group), origin, len(text))
    word = unicodedata.normalize("NFC", text[start:end]).lower()
    accepted = _SPELLING[m[group]]
    return word in accepted or (not strict and fold(word) == word)


def _word_before(folded: str, start: int) -> str:
    """The word just before ``start`` (spaces between, no punctuation), or ""."""
    match = _LAST_WORD.search(folded, max(0, start - 24), start)
    return match[1] if match else ""


def _year(value: str | None) -> int | None:
    return int(value) if value else None


def _drafts(m: re.Match, folded: str, text: str, origin: list[int] | None, accented: bool) -> list[_Draft]:
    if m.lastgroup == "range":
        first, last = int(m["r1"]), int(m["r2"])
        if not first <= last <= first + MAX_RANGE_YEARS:  # "2025-2020": two years
            return [_Draft(m.start(), m.end("r1"), _make("year", first, first)),
                    _Draft(m.start("r2"), m.end(), _make("year", last, last))]
    draft = _draft(m, folded, text, origin, accented)
    return [draft] if draft else []


def _draft(m: re.Match, folded: str, text: str, origin: list[int] | None, accented: bool) -> _Draft | None:
    kind = m.lastgroup
    s, e = m.span()
    if kind == "number":
        return None
    if kind == "date":
        day, month, year = (m["d1"] or m["d2"] or m["d3"]), (m["m1"] or m["m2"] or m["m3"]), (m["y1"] or m["y2"] or m["y3"])
        if not _valid_date(int(year), int(month), int(day)):
            return None
        return _Draft(s, e, _make("date", int(year), int(year), int(day), int(month), int(month)))
    if kind == "month":
        month, year = int(m["mm1"] or m["mm2"]), int(m["my1"] or m["my2"])
        if not 1 <= month <= 12 or (m["mm1"] and not folded.startswith("thang", s)
                                    and _word_before(folded, s) == "so"):
            return None  # "84/2020", "số 06/2018": a document number cut short
        return _Draft(s, e, _make("month", year, year, month, month, month))
    if kind == "range":
        if m["rtu"] and not _written_as(m, "rtu", text, origin):
            s = _SPACES.match(folded, m.end("rtu")).end()  # "đầu tư năm 2021-2025": "tư" is not "từ"
        return _Draft(s, e, _make("range", int(m["r1"]), int(m["r2"])))
    if kind == "part":
        if accented and ((m["half"] and not _written_as(m, "half", text, origin))
                         or (m["qpart"] and not _written_as(m, "qpart", text, origin))):
            return None  # "nữa" (more), "quỹ" (a fund)
        word = " ".join((m["count"] or "").split())
        count = 6 if m["half"] else 3 if m["qpart"] else int(word) if word.isdigit() else _NUMBER_WORDS[word]
        if not 1 <= count <= 12:
            return None
        draft = _Draft(s, e, _part_of_year(count, m["side"], _year(m["py1"] or m["py2"]), 0, 0))
        return _with_relative(draft, m["prel"])
    if kind == "quarter":
        if accented and not _written_as(m, "qkw", text, origin):
            return None  # "quỹ 2": a fund
        draft = _Draft(s, e, _quarter(_FROM_ROMAN[m["q"]], _year(m["qy"])))
        return _with_relative(draft, m["qrel"])
    if kind == "until":
        return _Draft(s, e, _make("until", None, int(m["uy"])))
    if kind == "same":
        if not (_written_as(m, "sky", text, origin) and _written_as(m, "scung", text, origin)):
            return None  # "cùng ký": signed together
        return _Draft(s, e, same=True, same_year=_year(m["sy"]), same_previous=bool(m["srel"]), explicit=False)
    if kind == "relative":
        before = _word_before(folded, s)
        if before in _NOT_RELATIVE_AFTER or before.isdigit():
            return None
        if not _written_as(m, "rnam", text, origin, strict=accented) or not _written_as(m, "rword", text, origin):
            return None  # "Việt Nam qua", "năm sáu"
        return _Draft(s, e, shift=_RELATIVE[m["rword"]], explicit=False)
    if kind == "annual":
        if not _written_as(m, "akw", text, origin):
            return None
        return _Draft(s, e, _make("annual", None, None), explicit=False)
    # a year
    if not m["ynam"] and (_UNIT.match(folded, e) or _word_before(folded, s) == "thang"):
        return None  # "2025 người": a count; "ngày 6 tháng 11 tháng 2025": a mistyped date
    year = int(m["y"])
    return _Draft(s, e, _make("year", year, year))


def _with_relative(draft: _Draft, word: str | None) -> _Draft:
    if word:
        draft.shift, draft.explicit = _RELATIVE[word], False
    elif draft.period is not None and draft.period.last_year is None:
        draft.explicit = False
    return draft


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def _in_range(year: int | None) -> bool:
    return year is not None and FIRST_YEAR <= year <= LAST_YEAR


def _resolve(drafts: list[_Draft], folded: str, reference: int | None, origin: list[int] | None,
             length: int, parts_take_reference: bool = True) -> Iterator[Period]:
    """Give every draft its year(s) and its place in the text given."""
    context: Period | None = None  # the last single-year period named on this line, for "cùng kỳ"
    context_end = 0
    for i, d in enumerate(drafts):
        p = d.period
        if d.same:
            if context is not None and folded.find("\n", context_end, d.start) != -1:
                context = None
            if context is not None:
                p = context.shifted((d.same_year - context.last_year) if d.same_year else -1)
            elif d.same_year:
                p = _make("year", d.same_year, d.same_year)
            elif d.same_previous and reference is not None and _in_range(reference - 1):
                p = _make("year", reference - 1, reference - 1)
            else:
                p = None
        elif d.shift is not None:
            year = None if reference is None else reference + d.shift
            if not _in_range(year):
                continue
            p = _make("year", year, year) if p is None else _with_year(p, year)
        elif p is not None and p.kind != "annual" and p.last_year is None:
            year = _year_further_on(drafts, i, folded)
            if year is None and parts_take_reference and _in_range(reference):
                year = reference
            if year is not None:
                p = _with_year(p, year)
        if p is None:
            continue
        start, end = _span(d.start, d.end, origin, length)
        p = replace(p, start=start, end=end)
        if p.kind in ("year", "half", "quarter", "months", "month") and p.last_year is not None:
            context, context_end = p, d.end
        yield p


def _with_year(p: Period, year: int) -> Period:
    return _make(p.kind, year, year, p.part, p.first_month, p.last_month, as_months=p.label.startswith("3 tháng"))


def _year_further_on(drafts: list[_Draft], i: int, folded: str) -> int | None:
    """The year of the next period in the same sentence that writes its year."""
    stop = _SENTENCE_END.search(folded, drafts[i].end)
    limit = stop.start() if stop else len(folded)
    for d in drafts[i + 1:]:
        if d.start >= limit:
            break
        p = d.period
        if d.explicit and p is not None and p.kind in ("year", "half", "quarter", "months", "month"):
            return p.last_year
    return None
