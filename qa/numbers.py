"""Vietnamese figures: numbers, comparators, ranges and units as official texts write them.

Vietnamese writes ``.`` between thousands and ``,`` before decimals (``3.178,4`` is
3178.4, ``259.195`` is 259195, ``12,56%``), though English-style decimals slip in
(``94.27%``, ``tăng 2.2%``). A target is a number with a comparator and a unit:
``trên 75%``, ``75% trở lên``, ``không quá 5%``, ``≥ 95``, ``>50``, ranges
``7,5 - 8%`` and ``từ 7,5% đến 8%``, ``44/50 trường``.

* ``parse_number("3.178,4")`` -> 3178.4 (one number as written, or ``None``);
* ``parse_quantity(cell)``: a whole table cell (``>50``, ``-1,95``, ``≥ 95``);
* ``find_quantities(text)``: every figure in running text, with its comparator, unit
  and offsets. Years, dates and document numbers (``2021``, ``15/5/2024``,
  ``21/NQ-HĐND``, ``Chương trình 02``) are not figures and are left out.

>>> q = find_quantities("Tỷ lệ tham gia Bảo hiểm y tế toàn dân đạt 95%.")[0]
>>> (q.written, q.value, q.comparator, q.unit)
('95', 95.0, '=', '%')
>>> q = find_quantities("kết nạp 90 đảng viên mới trở lên")[0]
>>> (q.value, q.comparator, q.unit)
(90.0, '>=', 'đảng viên')
>>> q = find_quantities("tăng trưởng từ 7,5% đến 8%")[0]
>>> (q.written, q.value, q.high, q.comparator)
('7,5 - 8', 7.5, 8.0, 'range')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.periods import find_periods
from qa.text import fold

__all__ = ["COMPARATORS", "Quantity", "find_quantities", "parse_number", "parse_quantity"]

# What a comparator means, in one spelling; ``Quantity.comparator_written`` keeps the words.
COMPARATORS = ("=", ">", ">=", "<", "<=", "range")

# Units (the longest that fits is taken: "tỷ đồng" before "tỷ"). Matched on folded text after
# the number, so ``tỷ đồng`` = ``ty dong``; the unit is returned as the text writes it.
UNITS: tuple[str, ...] = (
    "%o", "‰", "%/năm", "%", "đ",
    "nghìn tỷ đồng", "ngàn tỷ đồng", "tỷ đồng", "triệu đồng", "nghìn đồng", "ngàn đồng", "đồng",
    "tỷ USD", "triệu USD", "USD", "tỷ", "triệu", "nghìn",
    "lượt người", "lượt", "người", "đảng viên", "lao động", "học sinh", "sinh viên", "giáo viên", "trẻ em", "trẻ",
    "hộ gia đình", "hộ dân", "hộ", "doanh nghiệp", "hợp tác xã", "dự án", "công trình", "trường", "lớp", "phường",
    "xã", "tổ dân phố", "cơ sở", "cơ quan", "đơn vị", "đơn", "vụ", "đối tượng", "trường hợp", "hồ sơ", "thủ tục",
    "giấy phép", "thẻ", "suất", "bóng", "đèn", "cây", "km", "m²", "m2", "m3", "m", "ha", "tuổi", "tấn", "kg",
    "điểm", "bậc", "giường bệnh", "bác sĩ", "sản phẩm", "mô hình", "đề án", "ngày", "giờ", "phút", "lần", "cuộc", "lớp học",
)
_UNITS_LONGEST_FIRST = tuple(sorted(UNITS, key=len, reverse=True))
# Units that only follow a number closely ("95%" or "95 %"); a bare word unit needs a space.
_SYMBOLS = {"%o", "‰", "%/năm", "%", "đ", "m²", "m2", "m3"}

# Comparator words before a number (folded) and what they mean.
_BEFORE: tuple[tuple[str, str], ...] = (
    ("khong qua", "<="), ("khong vuot qua", "<="), ("toi da", "<="), ("khong cao hon", "<="),
    ("toi thieu", ">="), ("it nhat", ">="), ("khong duoi", ">="), ("khong thap hon", ">="),
    ("tren", ">"), ("hon", ">"), ("vuot", ">"), ("duoi", "<"), ("thap hon", "<"),
    ("≥", ">="), (">=", ">="), ("≤", "<="), ("<=", "<="), (">", ">"), ("<", "<"),
)
# ... and after the number and its unit ("75% trở lên", "90 đảng viên mới trở lên").
_AFTER: tuple[tuple[str, str], ...] = (("tro len", ">="), ("tro xuong", "<="), ("tro lai", "<="))
_AFTER_REACH = 24          # characters between the unit and "trở lên" ("đảng viên mới trở lên")

_DIGITS = r"\d+(?:[.,]\d+)*"
# a figure may touch "đ" ("500.000đ"), not other letters ("F0", "H2-1")
_NUMBER = re.compile(rf"(?<![\w.,/])(?P<sign>[-−])?(?P<num>{_DIGITS})(?!(?!đ(?!\w))\w|[.,]\d)")
_SCALES = {200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0}
_RANGE_DASH = re.compile(r"\s*[-–—]\s*")
_SPACES = re.compile(r"[ \t]*")
# "21/NQ-HĐND", "08-CT/TU", "46/NĐ-CP": a document number, not a figure
_DOC_NUMBER = re.compile(r"[/-]\s*\d{0,4}\s*[/-]?\s*[A-ZĐ]{2,}")
# words after which a number names a thing, not an amount ("Chương trình 02", "lần thứ 17")
_STRUCTURE_BEFORE = re.compile(
    r"(?<!\w)(?:dieu|khoan|chuong|phan|quy|ngay|thang|(?<!tong )so|(?:lan|ky hop|khoa) thu|khoa|phu luc|chuong trinh"
    r"|ke hoach|de an|nghi quyet|nghi dinh|quyet dinh|chi thi|thong tu|van ban|dai hoi|lan|tieu chuan|iso|tcvn"
    r"|muc do(?:\s*\d\s*,)?|vanh dai|duong|ngo|toa|covid|sea games|para games|dot|ban chi dao)\s*-?\s*$")


@dataclass(frozen=True)
class Quantity:
    """A figure as written in a text.

    ``written``: the number(s) as written, a range as ``"7,5 - 8"``; ``value`` the
    number (a range's low end), ``high`` a range's high end; ``denominator`` the
    ``50`` of ``44/50 trường``. ``comparator`` is one of ``COMPARATORS``;
    ``comparator_written`` the words that said so (``trên``, ``trở lên``, ``≥``).
    ``start``/``end`` cover the whole figure (comparator words and unit included),
    ``value_start``/``value_end`` the digits, both offsets into the text given.
    """

    written: str
    value: float
    comparator: str = "="
    comparator_written: str = ""
    unit: str = ""
    high: float | None = None
    denominator: float | None = None
    start: int = 0
    end: int = 0
    value_start: int = 0
    value_end: int = 0


def parse_number(written: str) -> float | None:
    """One number as written: ``3.178,4`` -> 3178.4, ``259.195`` -> 259195.0,
    ``12,56`` -> 12.56, ``94.27`` -> 94.27 (English decimal), ``-1,95`` -> -1.95."""
    s = written.strip().replace(" ", "")
    sign = -1.0 if s[:1] in "-−" else 1.0
    s = s.lstrip("-−+")
    if not s or not re.fullmatch(_DIGITS, s):
        return None
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?", s):        # 3.178,4 — 259.195
        return sign * float(s.replace(".", "").replace(",", "."))
    if re.fullmatch(r"\d{1,3}(?:,\d{3}){2,}(?:\.\d+)?", s):     # 1,234,567 (English thousands)
        return sign * float(s.replace(",", ""))
    if re.fullmatch(r"\d+,\d+", s):                             # 12,56 — 21,162 (decimal comma)
        return sign * float(s.replace(",", "."))
    if re.fullmatch(r"\d+\.\d+", s):                            # 94.27 — 2.2 (decimal point)
        return sign * float(s)
    if re.fullmatch(r"\d+", s):
        return sign * float(s)
    return None


def parse_quantity(cell: str) -> Quantity | None:
    """A table cell that is one figure: ``91,5``, ``>50``, ``≥ 95``, ``-1,95``,
    ``7,5 - 8``, ``trên 75%``. ``None`` when the cell is not a figure."""
    text = cell.strip()
    if not text:
        return None
    offset = cell.index(text[0])
    signed = re.fullmatch(r"([-−])\s*(" + _DIGITS + r")\s*(%)?", text)
    if signed and (value := parse_number(signed[1] + signed[2])) is not None:
        return Quantity(written=text.rstrip("% "), value=value, unit=signed[3] or "", start=offset,
                        end=offset + len(text), value_start=offset, value_end=offset + signed.end(2))
    found = find_quantities(text)
    if len(found) != 1:
        return None
    q = found[0]
    rest = (text[:q.start] + text[q.end:]).strip(" .;:")
    if rest:
        return None   # more words than a figure ("Phường 1", "khoảng 3 đợt")
    return _moved(q, offset)


def find_quantities(text: str, periods: list[tuple[int, int]] | None = None) -> list[Quantity]:
    """Every figure in ``text``, in order. Never raises; offsets are within ``text``.

    ``periods``: where years, dates and months are written in ``text``, when the caller
    has already read them (``qa.periods.find_periods``); read here otherwise."""
    if not text or not any(c.isdigit() for c in text):
        return []
    folded = fold(text)
    if len(folded) != len(text):   # a character that folds to several: offsets would drift
        folded = "".join(fold(c)[:1] or " " for c in text)
    excluded = _period_spans(text) if periods is None else periods
    out: list[Quantity] = []
    pos = 0
    for m in _NUMBER.finditer(text):
        if m.start() < pos or _inside(m.start("num"), m.end("num"), excluded):
            continue
        q = _quantity_at(text, folded, m)
        if q is None:
            continue
        out.append(q)
        pos = q.end
    return out


# --------------------------------------------------------------------------- helpers


def _moved(q: Quantity, offset: int) -> Quantity:
    if not offset:
        return q
    return Quantity(q.written, q.value, q.comparator, q.comparator_written, q.unit, q.high, q.denominator,
                    q.start + offset, q.end + offset, q.value_start + offset, q.value_end + offset)


def _period_spans(text: str) -> list[tuple[int, int]]:
    """Where years, dates and months are written: their digits are not figures."""
    try:
        return [(p.start, p.end) for p in find_periods(text) if p.kind != "annual"]
    except Exception:  # noqa: BLE001 -- a figure finder must not fail on odd text
        return []


def _inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= start and end <= b for a, b in spans)


def _quantity_at(text: str, folded: str, m: re.Match) -> Quantity | None:
    num_start, num_end = m.start("num"), m.end("num")
    if _is_reference(text, folded, m.start(), num_end):
        return None
    sign = m["sign"] if m["sign"] and _sign_allowed(text, m.start()) else ""
    value = parse_number(sign + m["num"])
    if value is None:
        return None
    start = m.start() if sign else num_start
    written = sign + m["num"]
    end = num_end
    high = denominator = None
    comparator, comparator_written = "=", ""

    unit, unit_end = _unit(text, folded, end)
    if (fraction := re.match(r"/(\d+(?:[.,]\d+)*)(?![\w/])", text[end:])) and not unit:
        denominator = parse_number(fraction[1])
        if value == 1 and denominator in _SCALES:
            return None    # "tỷ lệ 1/500": a map's scale
        written += "/" + fraction[1]
        end += fraction.end()
        unit, unit_end = _unit(text, folded, end)
    elif (rng := _range_after(text, folded, unit_end if unit else end)) is not None:
        high_written, high, end = rng
        written = f"{written} - {high_written}"
        comparator = "range"
        unit2, unit_end2 = _unit(text, folded, end)
        unit, unit_end = (unit2, unit_end2) if unit2 else (unit, end)
    if unit:
        end = unit_end

    before = _comparator_before(text, folded, start)
    if before is not None and comparator != "range":
        comparator, comparator_written, start = before
    elif comparator == "range":
        if (tu := re.search(r"(?<!\w)tu\s+$", folded[max(0, start - 6):start])) is not None:
            start = start - (len(folded[max(0, start - 6):start]) - tu.start())
            comparator_written = "từ … đến"
        else:
            comparator_written = "-"
    after = _comparator_after(folded, end)
    if after is not None and comparator in ("=",):
        comparator, comparator_written, end = after[0], text[after[2]:after[1]], after[1]
    return Quantity(written=written, value=value, comparator=comparator, comparator_written=comparator_written,
                    unit=unit, high=high, denominator=denominator, start=start, end=end,
                    value_start=m.start() if sign else num_start, value_end=num_end)


def _sign_allowed(text: str, at: int) -> bool:
    """A minus sign, not a bullet or a dash between words: "(-1,95)", "giảm: -2"."""
    before = text[max(0, at - 2):at]
    return bool(re.search(r"[(:=]\s?$", before))


def _is_reference(text: str, folded: str, start: int, end: int) -> bool:
    """A number that names something: a document number, an item number, a code."""
    if _DOC_NUMBER.match(text, end):
        return True
    line_start = text.rfind("\n", 0, start) + 1
    head = text[line_start:start]
    if re.fullmatch(r"\s*[(\[]?", head) and re.match(r"\s*[).:]|\.\s", text[end:end + 2]):
        return True    # "19.", "(1).", "2)" numbering a list item
    if _STRUCTURE_BEFORE.search(folded[max(0, start - 20):start]):
        return True
    return False


def _unit(text: str, folded: str, at: int) -> tuple[str, int]:
    """The unit written right after ``at``: (as written, its end) or ("", at). A symbol
    may follow the number at once or after one space ("95%", "95 %"), "đ" only at once
    ("500.000đ"); a word unit after a space ("2.979 tỷ đồng")."""
    m = _SYMBOL_UNIT.match(text, at)
    if m:
        return m.group(1) or m.group(2), m.end()
    gap = _SPACES.match(text, at).end()
    if gap > at and (m := _WORD_UNIT.match(folded, gap)):
        return text[gap:m.end()], m.end()
    return "", at


_SYMBOL_UNIT = re.compile(r"(?:(đ)(?!\w)|[ ]?(%/năm|%o|‰|%(?!o)|m²|m2|m3)(?!\w))")
_WORD_UNIT = re.compile("(?:" + "|".join(
    re.escape(fold(u).lower()) for u in sorted(set(UNITS) - _SYMBOLS, key=len, reverse=True)) + ")(?![\\w])")


def _range_after(text: str, folded: str, at: int) -> tuple[str, float, int] | None:
    """``- 8`` or `` đến 8`` after a number: (written, value, end of the high number)."""
    dash = _RANGE_DASH.match(text, at)
    word = re.compile(r"\s+(?:den|toi)\s+").match(folded, at)
    for joint in (dash, word):
        if joint is None or joint.end() == at:
            continue
        m = re.compile(rf"({_DIGITS})(?![\w]|[.,]\d)").match(text, joint.end())
        if m is None:
            continue
        if joint is dash and not (text[at - 1:at].isdigit() or text[at - 1:at] == "%") :
            continue
        if joint is dash and re.match(r"\s", text[at:at + 1]) and not re.match(r"\s", text[joint.end() - 1]):
            continue   # "2 -3 …": a bullet-like dash
        high = parse_number(m[1])
        if high is None or _DOC_NUMBER.match(text, m.end()) or _is_year(m[1]):
            continue
        return m[1], high, m.end()
    return None


def _is_year(written: str) -> bool:
    return bool(re.fullmatch(r"(?:19[5-9]\d|20\d\d)", written))


def _comparator_before(text: str, folded: str, start: int) -> tuple[str, str, int] | None:
    head = folded[max(0, start - 20):start]
    m = _BEFORE_PATTERN.search(head)
    if m is None:
        return None
    begin = start - (len(head) - m.start())
    return _BEFORE_MEANING[m.group(1)], text[begin:start].strip(), begin


_BEFORE_MEANING = dict(_BEFORE)
# one pattern for all: the leftmost match is the longest phrase ("không dưới" before "dưới")
_BEFORE_PATTERN = re.compile("(" + "|".join(
    (r"(?<!\w)" if w[0].isalpha() else "") + re.escape(w)
    for w, _ in sorted(_BEFORE, key=lambda b: len(b[0]), reverse=True)) + r")\s*$")


def _comparator_after(folded: str, end: int) -> tuple[str, int, int] | None:
    """"trở lên" shortly after the figure: (meaning, end of the words, their start)."""
    m = _AFTER_PATTERN.match(folded, end, end + _AFTER_REACH + 8)
    if m is None:
        return None
    return _AFTER_MEANING[m.group(1)], m.end(), m.start(1)


_AFTER_MEANING = dict(_AFTER)
_AFTER_PATTERN = re.compile(rf"[^\d.;,\n%]{{0,{_AFTER_REACH}}}?(?<!\w)({'|'.join(w for w, _ in _AFTER)})(?!\w)")
