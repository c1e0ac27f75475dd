"""Targets and reported figures, read out of documents at index time.

A People's Council resolution sets targets (``Tỷ lệ bao phủ bảo hiểm y tế — KH năm
2021: 91,5 %``); a People's Committee report states what was achieved (``thu ngân
sách ước đạt 2.979 tỷ đồng, đạt 56% dự toán giao``); a programme lists its chỉ tiêu
(``Tỷ lệ tham gia Bảo hiểm y tế toàn dân đạt 95%``). ``extract_targets(doc,
passages)`` turns each such figure into a ``TargetRecord``: the indicator as written
and as a key (folded, abbreviations expanded: ``BHYT`` = ``bảo hiểm y tế``), the
value (``qa.numbers``), comparator, unit, the period it applies to (``qa.periods``),
the district, the kind (``plan``, ``estimate``, ``result``, ``comparison``) and where
it is written (document, section, passage, offsets into ``Document.text``).

Two sources:

* **table rows** (``Passage.row``): the label is the indicator (a sub-row keeps its
  parent), the ``Đơn vị`` column the unit, and each figure column one record whose
  header says its kind and period (``KH năm 2021`` -> plan 2021, ``Ước TH 2020`` ->
  estimate 2020, ``So sánh (%)`` -> comparison);
* **sentences** of text passages: each figure with a unit or comparator, its
  indicator the words before it in its clause (or after it: ``100% hồ sơ …``), its
  kind from the words around it (``ước``, ``so với cùng kỳ``, ``dự toán``,
  ``phấn đấu``) and the section it is in (``Kết quả …`` vs ``Nhiệm vụ …``).

``group_indicators(records)`` puts the records of one indicator together across
documents; a ``TargetBook`` holds the records of a set of documents and answers
``search``, ``indicator`` and ``timeline``; ``write_targets``/``delete_targets``/
``load_records`` keep them in a ``targets`` table of the index's SQLite database.
"""

from __future__ import annotations

import re
import sqlite3
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from qa.chunking import Passage
from qa.documents import Document
from qa.numbers import Quantity, find_quantities, parse_quantity
from qa.periods import Period, find_periods
from qa.query import ABBREVIATIONS
from qa.rows import SECTION_SEP
from qa.text import fold

__all__ = ["KINDS", "Indicator", "TargetBook", "TargetRecord", "Timeline", "TimelineEntry", "delete_targets",
           "extract_targets", "group_indicators", "indicator_key", "indicator_matcher", "load_records",
           "write_targets"]

KINDS = ("plan", "estimate", "result", "comparison")

# ------------------------------------------------------------------ knobs (one place)

# Abbreviations of table labels beyond the query module's curated table.
EXTRA_ABBREVIATIONS: dict[str, str] = {"BH": "bảo hiểm", "NN": "nhà nước", "TT": "thông tin", "SX": "sản xuất",
                                       "LĐ": "lao động", "GTSX": "giá trị sản xuất", "DS": "dân số"}
# Wordings of one indicator (folded phrases, longest first): the key uses the right side.
INDICATOR_SYNONYMS: tuple[tuple[str, str], ...] = (
    ("tham gia bao hiem y te toan dan", "bao phu bao hiem y te"),
    ("bao hiem y te toan dan", "bao phu bao hiem y te"),
    ("so nguoi dong", "so nguoi tham gia"),
    ("luyen tap the duc the thao", "luyen tap the thao"),
)
# Words that carry no meaning of their own in an indicator (dropped from keys).
KEY_STOPWORDS = frozenset({"giu", "vung", "tren", "duoi", "la", "cua", "cac", "nhung", "va", "voi"})
# (Folding merges words: "đạt"/"đất", "đầu"/"dầu", "quận"/"quản", "tại"/"tài", "trồng"/"trong"
# all fold alike, so only words with no such twin in indicators are listed.)
# Leading words of a clause that introduce a target rather than name it (lower case,
# with diacritics: folded, "đạt" and "đất" are one word).
LEAD_FILLERS = ("phấn đấu", "tiếp tục", "duy trì", "giữ vững", "đảm bảo", "bảo đảm", "hoàn thành tốt", "trong đó",
                "đồng thời", "ngoài ra", "riêng", "toàn quận", "toàn huyện", "toàn tỉnh", "toàn thành phố", "đến nay",
                "tính đến", "đến hết", "đến", "đã", "được", "và", "theo kế hoạch", "hoàn thành chỉ tiêu", "có thêm",
                "nâng cao")
# Trailing words between an indicator and its figure.
TRAIL_VERBS = ("ước đạt được", "ước đạt", "ước đạt tỷ lệ", "đạt tỷ lệ", "đạt mức", "đạt được", "đạt", "là", "bằng",
               "ước", "được", "còn", "có", "với", "khoảng", "chiếm", "lên", "xuống", "dự kiến", "đạt trên", "gồm",
               "cho", "tổng số", "đến hết", "đến", "tính đến", "hết", "gần", "trong", "đạt khoảng", "và")
# A count without a unit of money or %, kept only after one of these verbs (it is then
# an achievement or a target, not an inventory: "Toàn Quận có 66 trường" is not).
COUNT_VERBS = ("đạt", "kết nạp", "phấn đấu", "cấp", "giải quyết", "hỗ trợ", "khởi công", "tăng", "giảm", "thu",
               "chi", "giải ngân", "tuyển", "tạo việc làm", "xử lý", "kiểm tra", "phát hiện", "có thêm", "hoàn thành",
               "tiếp nhận", "xử phạt", "tổ chức cho", "tiếp", "giới thiệu", "đào tạo", "xây dựng", "công nhận",
               "thành lập", "ban hành", "phê duyệt", "điều tra", "khám phá", "bắt", "thu hồi", "triển khai", "là",
               "tổng số", "thực hiện", "gọi", "đình chỉ", "xảy ra", "vận động", "tặng", "trích", "có")
# Units of shares, of money and of measure; any other unit is a noun ("90 đảng viên"),
# which the indicator's name takes ("kết nạp đảng viên mới").
SHARE_UNITS = ("%", "%o", "‰", "%/năm")
MONEY_UNITS = ("tỷ đồng", "triệu đồng", "nghìn đồng", "ngàn đồng", "nghìn tỷ đồng", "đồng", "đ", "tỷ", "triệu",
               "tỷ USD", "triệu USD", "USD")
MEASURE_UNITS = ("nghìn", "km", "m", "m2", "m²", "m3", "ha", "tấn", "kg", "điểm", "bậc", "ngày", "giờ", "phút")
# Units that name what a figure is about rather than measure it ("trẻ em dưới 5 tuổi").
NOT_FIGURE_UNITS = ("tuổi",)
# Words after a percentage that make it a comparison, and what it is compared with.
COMPARED_WITH: tuple[tuple[str, str], ...] = (
    ("so voi cung ky", "cùng kỳ"), ("cung ky", "cùng kỳ"), ("so voi nam truoc", "năm trước"),
    ("so voi ke hoach", "kế hoạch"), ("so voi du toan", "dự toán"), ("so voi", "so với"), ("du toan", "dự toán"),
    ("ke hoach", "kế hoạch"), ("kh ", "kế hoạch"), ("chi tieu", "chỉ tiêu"),
)
# Section words that say what a section's figures are.
PLAN_SECTIONS = ("chi tieu", "muc tieu", "nhiem vu", "phuong huong", "ke hoach", "giai phap", "phan dau",
                 "chuong trinh")
RESULT_SECTIONS = ("ket qua", "danh gia", "tinh hinh", "thuc hien", "da dat")
PLAN_DOCUMENT_TYPES = ("nghị quyết", "kế hoạch", "chương trình", "quyết định", "chỉ thị")
# Header words of a table's figure columns, checked in this order.
HEADER_KINDS: tuple[tuple[str, str], ...] = (
    ("so sanh", "comparison"), ("so voi", "comparison"), ("ty le %", "comparison"), ("% so", "comparison"),
    ("uoc", "estimate"), ("du kien", "estimate"), ("ke hoach", "plan"), ("kh", "plan"), ("chi tieu", "plan"),
    ("muc tieu", "plan"), ("du toan", "plan"), ("thuc hien", "result"), ("th", "result"), ("ket qua", "result"),
)
UNIT_HEADERS = ("don vi tinh", "don vi", "dvt", "dv")
SKIP_HEADERS = ("tt", "stt", "chi tieu", "noi dung", "ghi chu", "ten chi tieu", "danh muc")
# A sub-row label starting so is an indicator of its own (its key leaves the parent out).
SELF_STANDING_STARTS = ("ty le ", "so ", "giam ", "tang ", "toc do ", "tong ")
# Words too general to tell indicators apart when grouping across documents.
GENERIC_WORDS = frozenset({"ty", "le", "so", "tong", "duoc", "dia", "ban", "uoc", "toan", "cac", "da", "co", "ve",
                           "duy", "tri", "dat", "trong", "nam", "hang", "binh", "quan", "tai", "o"})
MIN_CONTAINED = 0.8        # share of the smaller indicator's words the larger must hold to merge …
MIN_JACCARD = 0.4          # … with at least this overlap of the two
MAX_INDICATOR_WORDS = 30
MIN_SEARCH_SCORE = 0.5     # share of the query's content words an indicator must hold


# ------------------------------------------------------------------ records


@dataclass(frozen=True)
class TargetRecord:
    """One target or reported figure and where it is written.

    ``value`` is the number (a range's low end; ``high`` its high end); ``comparator``
    one of ``qa.numbers.COMPARATORS``. ``period`` is structured when the text names
    one (``period_written`` the words); ``compares_to`` says what a ``comparison``
    is relative to (``dự toán``, ``kế hoạch``, ``cùng kỳ``). ``start``/``end``:
    offsets of the figure in ``Document.text``; ``quote`` the clause it is in.
    """

    doc_id: str
    indicator: str
    key: str
    value_written: str
    value: float
    kind: str
    unit: str = ""
    comparator: str = "="
    comparator_written: str = ""
    high: float | None = None
    denominator: float | None = None
    period: Period | None = None
    period_written: str = ""
    district: str = ""
    compares_to: str = ""
    section: str = ""
    passage: int = 0
    start: int = 0
    end: int = 0
    quote: str = ""

    @property
    def key_id(self) -> str:
        """The slug of its own key; the id of its indicator is ``TargetBook.indicator_of``'s
        (indicators of several wordings take the id of one of them)."""
        return slug(self.key)

    @property
    def period_label(self) -> str:
        return self.period.label if self.period is not None else ""

    def to_json(self) -> dict[str, Any]:
        """For the API: the period as its label, the source as one object."""
        return {"indicator": self.indicator, "key": self.key, "value": self.value, "value_written": self.value_written,
                "high": self.high, "denominator": self.denominator, "comparator": self.comparator,
                "comparator_written": self.comparator_written, "unit": self.unit, "kind": self.kind,
                "period": self.period_label, "period_kind": self.period.kind if self.period else "",
                "period_written": self.period_written, "district": self.district, "compares_to": self.compares_to,
                "source": {"doc_id": self.doc_id, "section": self.section, "passage": self.passage,
                           "start": self.start, "end": self.end, "quote": self.quote}}


def slug(key: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", key))


def extract_targets(doc: Document, passages: Sequence[Passage]) -> list[TargetRecord]:
    """Every target and reported figure of ``doc``, in text order (one per place)."""
    context = _DocContext.of(doc)
    found: dict[tuple[int, int, str], TargetRecord] = {}
    for p in passages:
        rows = _row_records(doc, p, context) if p.row is not None else _text_records(doc, p, context)
        for r in rows:
            found.setdefault((r.start, r.end, r.kind), r)
    return sorted(found.values(), key=lambda r: (r.start, r.end))


@dataclass(frozen=True)
class _DocContext:
    doc_id: str
    district: str
    period: Period | None
    reference_year: int | None
    plans: bool          # a document that sets targets (resolution, plan, programme)

    @classmethod
    def of(cls, doc: Document) -> _DocContext:
        period = _document_period(doc)
        year = int(doc.date[:4]) if doc.date[:4].isdigit() else (max(doc.years) if doc.years else None)
        title = fold(doc.title)
        plans = doc.type in PLAN_DOCUMENT_TYPES or any(w in title for w in ("chuong trinh", "nhiem vu", "ke hoach"))
        if "ket qua" in title and "nhiem vu" not in title and doc.type not in ("nghị quyết",):
            plans = False
        ref = period.last_year if period is not None and period.last_year else year
        return cls(doc.id, doc.district, period, ref, plans)


def _document_period(doc: Document) -> Period | None:
    if not doc.period:
        return None
    try:
        return Period.from_label(doc.period)
    except ValueError:
        return None


# ------------------------------------------------------------------ table rows

_NUMBERING = re.compile(r"^\s*(?:[IVXLC]+|\d+(?:\.\d+)*|[a-zđ])\s*[.)/-]\s*|^\s*[-+•*]\s*|^\s*\(\d+\)\.?\s*")


def clean_label(label: str) -> str:
    """A row label without its numbering or bullet: ``19. Tỷ lệ …`` -> ``Tỷ lệ …``."""
    text = label.strip()
    while (m := _NUMBERING.match(text)) and m.end() < len(text):
        text = text[m.end():].strip()
    return text.strip(" :;")


def _row_records(doc: Document, p: Passage, ctx: _DocContext) -> list[TargetRecord]:
    row = p.row
    assert row is not None
    labels = [clean_label(label) for label in row.labels if clean_label(label)]
    if not labels:
        return []
    indicator = SECTION_SEP.join(labels)
    unit = next((v.strip() for h, v in row.columns if _is_unit_header(h)), "")
    cells = _cell_spans(doc.text, p.start, p.end)
    caption_period = _first_period(row.caption, ctx) or _first_period(p.section, ctx)
    records = []
    used = -1
    for header, value in row.columns:
        at = next((i for i, (s, e) in enumerate(cells) if i > used and doc.text[s:e].strip() == value.strip()), None)
        if at is not None:
            used = at
        if _is_unit_header(header) or _skip_header(header):
            continue
        q = parse_quantity(value)
        if q is None:
            continue
        kind, period = _column_meaning(header, caption_period, ctx)
        column_unit = "%" if kind == "comparison" and "%" in header else (unit or q.unit)
        start, end = cells[at] if at is not None else (p.start, p.end)
        if at is not None:
            lead = len(doc.text[start:end]) - len(doc.text[start:end].lstrip())
            start, end = start + lead, start + lead + len(value.strip())
        records.append(TargetRecord(
            doc_id=doc.id, indicator=indicator, key=indicator_key(indicator), value_written=q.written, value=q.value,
            kind=kind, unit=column_unit, comparator=q.comparator, comparator_written=q.comparator_written,
            high=q.high, denominator=q.denominator, period=period, period_written=header if period else "",
            district=ctx.district, compares_to=_header_basis(header) if kind == "comparison" else "",
            section=p.section, passage=p.ordinal, start=start, end=end, quote=row.text()))
    return records


def _cell_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, at = [], start
    for cell in text[start:end].split("\t"):
        spans.append((at, at + len(cell)))
        at += len(cell) + 1
    return spans


def _is_unit_header(header: str) -> bool:
    h = fold(header).strip(" .:")
    return h in UNIT_HEADERS


def _skip_header(header: str) -> bool:
    return fold(header).strip(" .:") in SKIP_HEADERS


def _column_meaning(header: str, fallback: Period | None, ctx: _DocContext) -> tuple[str, Period | None]:
    h = f" {fold(header)} "
    kind = next((k for words, k in HEADER_KINDS if re.search(rf"(?<!\w){re.escape(words)}(?!\w)", h)), "")
    if not kind:
        kind = "plan" if ctx.plans else "result"
    if kind == "comparison" and (year := _HEADER_YEAR.search(header)):
        # "So sánh KH 2021/ƯTH 2020 (%)": the figure is the first year's, against the second
        return kind, Period.from_label(year.group(0))
    period = _first_period(header, ctx) or fallback or ctx.period
    return kind, period


_HEADER_YEAR = re.compile(r"(?<!\d)(?:19[5-9]\d|20\d\d)(?!\d)")
# what a comparison column is against, from the words after "/" or "so với" in its header
_BASES: tuple[tuple[str, str], ...] = (("uth", "ước thực hiện"), ("uoc", "ước thực hiện"), ("cung ky", "cùng kỳ"),
                                       ("kh", "kế hoạch"), ("ke hoach", "kế hoạch"), ("du toan", "dự toán"),
                                       ("th", "thực hiện"), ("thuc hien", "thực hiện"), ("nam truoc", "năm trước"))


def _header_basis(header: str) -> str:
    h = fold(header)
    against = re.split(r"/|so voi", h, maxsplit=1)
    if len(against) == 2:
        found = next((basis for words, basis in _BASES if re.search(rf"(?<!\w){words}(?!\w)", against[1])), "")
        if found:
            return found
    return next((basis for words, basis in COMPARED_WITH if words.strip() in h), "")


def _first_period(text: str, ctx: _DocContext) -> Period | None:
    p = _first_undated_period(text, ctx.reference_year)
    return _in_term(p, ctx) if p is not None else None


@lru_cache(maxsize=4096)
def _first_undated_period(text: str, reference_year: int | None) -> Period | None:
    """The first period of a heading or header that is not a date (headings repeat: cached)."""
    return next((p for p in find_periods(text, reference_year) if p.kind != "date"), None)


def _in_term(p: Period, ctx: _DocContext) -> Period:
    """``đến hết năm 2025`` in a 2020-2025 programme is its term."""
    d = ctx.period
    if p.kind == "until" and d is not None and d.kind == "range" and d.last_year == p.last_year:
        return d
    return p


# ------------------------------------------------------------------ sentences

_SENTENCE = re.compile(r"[^\n]+?(?:[.!?](?=\s|$)|;|\n|$)")
_BOUNDARY = re.compile(r"(?<!\d),|,(?!\s?\d)|[;:()\[\]]|(?<!\w)(?:trong đó|bao gồm|gồm)(?!\w)", re.IGNORECASE)
_WORD = re.compile(r"\w+")


@dataclass
class _Clause:
    """A figure in its sentence: the words before it back to a boundary (``lead``), the
    words after it up to one (``tail``), and the sentence."""

    q: Quantity
    lead: str
    tail: str
    before: str          # the sentence up to the figure
    sentence: str
    offset: int          # of the sentence in Document.text
    folded: str = ""     # the sentence folded (as long as the sentence)
    follows_figure: bool = False   # another figure stands between the clause's start and this one
    context: str = ""    # the passage's text before the figure (a list goes on across ";")
    # the periods named before the figure in its list item (``before_item``): (period, start,
    # end in before_item); read on the whole passage, so "cùng kỳ năm 2023" knows the
    # "6 tháng đầu năm" named sentences before it
    periods: tuple[tuple[Period, int, int], ...] = ()
    estimated: bool = False            # the sentence goes on from one that gives an estimate ("; trong đó, …")
    before_item: str = ""              # the line (or sentence) up to the figure: items joined by ";"


def _text_records(doc: Document, p: Passage, ctx: _DocContext) -> list[TargetRecord]:
    # a line that goes on in lower case continues the sentence (a page break); same length
    span = re.sub(r"\n(?=[ \t\n]*[a-zđà-ỹ])", " ", doc.text[p.start:p.end])
    # periods read on the whole passage: "cùng kỳ năm 2023" takes its part of the year
    # from the "6 tháng đầu năm" named sentences before it
    periods = find_periods(span, ctx.reference_year)
    starts = [x.start for x in periods]
    out: list[TargetRecord] = []
    estimated = False
    depth = 0          # brackets open before the sentence
    for m in _SENTENCE.finditer(span):
        sentence = m.group(0)
        # "(trong đó, thu thuế …: 2.053 tỷ đồng …; thu tiền sử dụng đất: 926 tỷ đồng …)": the
        # parts of an estimate are estimates too
        goes_on = depth > 0 or bool(_GOES_ON.match(fold(sentence[:16])))
        depth += sentence.count("(") - sentence.count(")")
        estimated = estimated and goes_on
        if not _HAS_DIGIT.search(sentence):
            continue
        previous: TargetRecord | None = None
        # the sentence, and before it the list items of its line joined by ";"
        since = _item_start(span, m.start())
        first = bisect_left(starts, since)
        if first > 0 and periods[first - 1].end > since:
            first -= 1     # begun on the line before ("Phấn đấu năm\n2025 đạt 60%")
        item_periods = periods[first:bisect_left(starts, m.end())]
        # the periods written in the sentence, clipped to it ("năm\n2025": its "2025" is a year)
        in_sentence = [(max(0, x.start - m.start()), x.end - m.start()) for x in item_periods
                       if x.end > m.start() and x.kind != "annual"]
        for clause in _clauses(sentence, p.start + m.start(), in_sentence):
            at = m.start() + clause.q.start
            clause.context = span[max(0, at - _CONTEXT_CHARS):at]
            clause.before_item = span[since:at]
            clause.periods = tuple((x, max(0, x.start - since), x.end - since) for x in item_periods if x.end <= at)
            clause.estimated = estimated
            record = _sentence_record(doc, p, ctx, clause, previous)
            if record is not None:
                out.append(record)
                previous = record if record.kind != "comparison" else previous or record
                estimated = estimated or record.kind == "estimate"
    return out


_CONTEXT_CHARS = 60
_GOES_ON = re.compile(r"\s*(?:trong do|bao gom|gom)(?!\w)")
_HAS_DIGIT = re.compile(r"\d")
_ITEM_START = re.compile(r"\n|[.!?](?=\s)")


def _item_start(span: str, sentence_start: int) -> int:
    """Where the sentence's line or full sentence starts: items joined by ";" share periods
    ("Tổng số doanh nghiệp đến ngày 24/4/2024 là …; có 521 doanh nghiệp mới thành lập")."""
    line = span.rfind("\n", 0, sentence_start) + 1
    last = line
    for m in _ITEM_START.finditer(span, line, sentence_start):
        last = m.end()
    return last


def _clauses(sentence: str, offset: int, periods: list[tuple[int, int]]) -> list[_Clause]:
    quantities = [q for q in find_quantities(sentence, periods) if q.unit not in NOT_FIGURE_UNITS]
    folded = fold(sentence)
    if len(folded) != len(sentence):
        folded = "".join(fold(ch)[:1] or " " for ch in sentence)
    out = []
    last_end = 0
    for i, q in enumerate(quantities):
        boundary = _last_boundary(sentence, q.start)
        lead_from = max(last_end, boundary)
        nxt = quantities[i + 1].start if i + 1 < len(quantities) else len(sentence)
        tail_to = min(nxt, _next_boundary(sentence, q.end))
        out.append(_Clause(q, sentence[lead_from:q.start], sentence[q.end:tail_to], sentence[:q.start], sentence,
                           offset, folded, follows_figure=last_end > boundary))
        last_end = q.end
    return out


def _last_boundary(text: str, before: int) -> int:
    last = 0
    for m in _BOUNDARY.finditer(text, 0, before):
        last = m.end()
    return last


def _next_boundary(text: str, after: int) -> int:
    m = _BOUNDARY.search(text, after)
    return m.start() if m else len(text)


def _sentence_record(doc: Document, p: Passage, ctx: _DocContext, c: _Clause,
                     previous: TargetRecord | None) -> TargetRecord | None:
    q = c.q
    basis = _compared_with(c, q)
    indicator = _indicator_words(c, ctx)
    inherited = False
    if not indicator or (basis and len(_content(indicator)) <= 1):
        if previous is None:
            if not indicator:
                return None
        else:
            indicator, inherited = previous.indicator, True
    if not _is_figure(q, c.context.lower(), inherited or bool(basis)):
        return None
    kind = _sentence_kind(q, c, basis, p, ctx)
    period, written = _sentence_period(c, ctx, p)
    if inherited and previous is not None and written == "":
        period, written = previous.period, previous.period_written
    start = c.offset + q.start
    return TargetRecord(
        doc_id=doc.id, indicator=indicator, key=indicator_key(indicator), value_written=q.written, value=q.value,
        kind=kind, unit=q.unit, comparator=q.comparator, comparator_written=q.comparator_written, high=q.high,
        denominator=q.denominator, period=period, period_written=written, district=ctx.district,
        compares_to=basis if kind == "comparison" else "", section=p.section, passage=p.ordinal,
        start=start, end=c.offset + q.end, quote=_quote(c))


def _quote(c: _Clause) -> str:
    return c.sentence.strip()[:300]


def _is_figure(q: Quantity, before: str, related: bool) -> bool:
    """A figure worth a record: a share, an amount of money, a count after a verb of
    achievement, or any figure with a comparator."""
    if q.unit in SHARE_UNITS or q.comparator != "=" or related:
        return True
    if not q.unit:
        return False
    if fold(q.unit) in _MONEY:
        return True
    return bool(_COUNT_VERB.search(before[-_CONTEXT_CHARS:]))


def _compared_with(c: _Clause, q: Quantity) -> str:
    """What a figure is compared with, from the words after it ("dự toán giao", "so
    với cùng kỳ năm 2023"); only a share is a comparison. After "tăng", "giảm" or
    "bằng" the "so với …" may come later in the sentence ("tăng 2.2% (… ) so với …")."""
    if not q.unit.startswith("%"):
        return ""
    t = " " + fold(c.tail).strip() + " "
    for words, basis in COMPARED_WITH:
        if re.match(rf"\s*(?:\S+\s+){{0,3}}?{re.escape(words.strip())}(?!\w)", t):
            return basis
    if re.search(r"(?<!\w)(?:tang|giam|bang)\s*$", fold(c.lead)):
        rest = c.folded[q.end:q.end + _SO_VOI_REACH]
        if (m := re.search(r"so voi\s+(cung ky|nam truoc|ke hoach|du toan)?", rest)) is not None:
            return {"cung ky": "cùng kỳ", "nam truoc": "năm trước", "ke hoach": "kế hoạch",
                    "du toan": "dự toán"}.get(m.group(1) or "", "so với")
    return ""


_SO_VOI_REACH = 80


def _indicator_words(c: _Clause, ctx: _DocContext) -> str:
    lead = _strip_lead(c.lead)
    tail = _strip_tail(c.tail)
    noun_unit = c.q.unit if c.q.unit and fold(c.q.unit) not in _MEASURE_UNITS else ""
    if _is_basis(c.lead):
        return ""       # "… và 23% dự toán Quận giao": the previous figure's indicator
    if not (set(_content(lead)) - _BARE_VERBS) and c.follows_figure:
        return ""       # "2.053 tỷ đồng đạt 73% …": the same indicator as the figure before
    if not (set(_content(lead)) - _BARE_VERBS) and c.before.strip():
        previous = _previous_clause(c.before)
        if find_quantities(previous):
            if not _content(lead):
                return ""   # "2.979 tỷ đồng, đạt 56% …": the same indicator as the figure before
        else:
            # "Nâng cao chỉ số cải cách hành chính của quận, tăng ít nhất 02 bậc"
            lead = f"{_strip_lead(previous)} {lead}".strip()
    completes = bool(re.search(r"(?<!\w)hoan thanh$", fold(c.lead).strip()))
    if c.q.unit.startswith("%") and tail and len(_content(lead)) <= _SHORT_LEAD and (completes or not _is_basis(tail)):
        text = f"{lead} {_longer_tail(c, tail)}".strip()
    elif noun_unit and len(_content(lead)) <= _SHORT_LEAD:
        text = f"{lead} {noun_unit} {_between_unit_and_comparator(c)} {tail}".strip()
    else:
        text = lead
    text = _drop_periods(text, ctx)
    words = text.split()
    if len(words) > MAX_INDICATOR_WORDS:
        text = " ".join(words[-MAX_INDICATOR_WORDS:])
    return text.strip(" ,;:-–")


_SHORT_LEAD = 4          # content words of a lead short enough to take the words after the figure too
_BARE_VERBS = {"tang", "giam", "dat", "len", "xuong"}


def _longer_tail(c: _Clause, tail: str) -> str:
    """"100% cán bộ, chiến sĩ LLVT quận huấn luyện": a tail of one or two words cut at a
    comma goes on to the end of the clause list (";" or the sentence's end)."""
    if len(tail.split()) > 2:
        return tail
    rest = c.sentence[c.q.end:]
    stop = re.search(r"[;.]\s|[;.]$|\(|$", rest)
    longer = rest[: stop.start()].strip(" ,;:.") if stop else rest
    return " ".join(longer.split()[:MAX_INDICATOR_WORDS])


_MONEY = {fold(u) for u in MONEY_UNITS}
_MEASURE_UNITS = {fold(u) for u in SHARE_UNITS + MONEY_UNITS + MEASURE_UNITS}


def _between_unit_and_comparator(c: _Clause) -> str:
    """"mới" in "90 đảng viên mới trở lên": the words the figure's span holds after its unit."""
    span = c.sentence[c.q.start:c.q.end]
    at = span.find(c.q.unit) + len(c.q.unit) if c.q.unit else len(span)
    rest = span[at:]
    if c.q.comparator_written and rest.endswith(c.q.comparator_written):
        rest = rest[: -len(c.q.comparator_written)]
    return rest.strip()


def _is_basis(tail: str) -> bool:
    t = fold(tail).strip(" ,;:")
    return any(t.startswith(words.strip()) for words, _ in COMPARED_WITH)


def _previous_clause(before: str) -> str:
    """The clause before the last boundary: "tỷ lệ tổ chức cơ sở Đảng …" in
    "Hằng năm, tỷ lệ tổ chức cơ sở Đảng “Hoàn thành nhiệm vụ”, đạt 75% trở lên"."""
    text = before.rstrip()
    introduced = text.endswith(":")   # "thu thuế, phí, lệ phí: 2.053 tỷ đồng": the list is the name
    cut = _last_boundary(text, len(text))
    text = text[:cut].rstrip(" ,;:“”\"")
    stops = ";:(" if introduced else ",;:("
    keep_from = 0
    for m in _BOUNDARY.finditer(text):
        if m.group(0) in stops or (introduced and m.group(0).strip().lower() in ("trong đó", "bao gồm", "gồm")):
            keep_from = m.end()
    return text[keep_from:].strip(" ,")


def _strip_lead(lead: str) -> str:
    """The indicator's words of a clause: no numbering, no leading "phấn đấu", no
    trailing "ước đạt" (compared in lower case with diacritics)."""
    text = _NUMBERING.sub("", lead.strip()).strip(" ,;:-–+•*")
    while text and (m := _LEAD_FILLER.match(text.lower())) and m.end() < len(text):
        text = text[m.end():].strip(" ,;:")
    while text and (m := _TRAIL_VERB.search(text.lower())) and m.start() > 0:
        text = text[:m.start()].rstrip(" ,;:")
    return text


def _alternation(phrases: Iterable[str]) -> str:
    return "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))


_COUNT_VERB = re.compile(rf"(?<!\w)(?:{_alternation(COUNT_VERBS)})(?!\w)")
_LEAD_FILLER = re.compile(rf"(?:{_alternation(LEAD_FILLERS)})(?!\w)")
_TRAIL_VERB = re.compile(rf"(?<!\w)(?:{_alternation(TRAIL_VERBS)})$")


def _strip_tail(tail: str) -> str:
    text = tail.strip(" ,;:.")
    words = text.split()
    return " ".join(words[:MAX_INDICATOR_WORDS])


# every period of qa.periods has a digit or one of these words
_PERIOD_HINT = re.compile(r"\d|(?<!\w)(?:nam|thang|quy|ky)(?!\w)")


def _drop_periods(text: str, ctx: _DocContext) -> str:
    """A period is the record's, not part of the indicator's name ("Hằng năm, …")."""
    if not _PERIOD_HINT.search(fold(text)):
        return _strip_lead(text)
    found = find_periods(text, ctx.reference_year)
    for p in reversed(found):
        text = text[:p.start] + text[p.end:]
    text = re.sub(r"\s{2,}", " ", text)
    return _strip_lead(text)


def _content(text: str) -> list[str]:
    return [w for w in _WORD.findall(fold(text)) if w not in KEY_STOPWORDS and not w.isdigit()]


_ESTIMATE = re.compile(r"(?<!\w)uoc(?!\w)")                        # "ước" anywhere before, folded
_ESTIMATE_LEAD = re.compile(r"(?<!\w)(?:uoc|du kien|du bao)(?!\w)")   # right before the figure


def _sentence_kind(q: Quantity, c: _Clause, basis: str, p: Passage, ctx: _DocContext) -> str:
    before = c.folded[:c.q.start]
    lead = fold(c.lead)
    context = _context_kind(p, ctx)
    if basis:
        # "Hoàn thành 100% chỉ tiêu …", "đạt 100% kế hoạch" in a list of targets: a target
        if context == "plan" and basis in ("kế hoạch", "chỉ tiêu") and not _ESTIMATE.search(before):
            return "plan"
        return "comparison"
    if _ESTIMATE_LEAD.search(lead) or _ESTIMATE.search(before) or c.estimated:
        return "estimate"
    if re.search(r"(?<!\w)(?:phan dau|chi tieu|muc tieu)(?!\w)", before):
        return "plan"
    if context:
        return context
    if re.search(r"(?<!\w)(?:đã|đạt được)(?!\w)", c.lead.lower()) and not ctx.plans:
        return "result"
    return "plan" if ctx.plans else "result"


def _context_kind(p: Passage, ctx: _DocContext) -> str:
    """"plan" or "result" from the closest section heading that says ("Kết quả …",
    "Nhiệm vụ …", "Chỉ tiêu"), else ""."""
    for part in reversed(p.section.split(SECTION_SEP)):
        f = fold(part)
        if any(w in f for w in RESULT_SECTIONS) and not any(w in f for w in ("nhiem vu", "phuong huong")):
            return "result"
        if any(w in f for w in PLAN_SECTIONS):
            return "plan"
    return ""


_AFTER_SO_VOI = re.compile(r"so voi(?:\s+\w+){0,3}\s*$")


def _sentence_period(c: _Clause, ctx: _DocContext, p: Passage) -> tuple[Period | None, str]:
    """The period a figure is for: the last one named before it in its sentence or the
    ";"-joined items before (not a "so với …" basis), else one its section heading
    names, else the document's."""
    chosen: Period | None = None
    chosen_text = ""
    sentence_at = len(c.before_item) - len(c.before)
    opens_item = len(c.before.split()) <= 1   # "…; 532 doanh nghiệp nghỉ hoạt động", "…; có 521 …"
    for found, start, end in c.periods:
        if start < sentence_at and not opens_item:
            continue     # a period of an earlier item, for a figure that is not a list entry
        if _AFTER_SO_VOI.search(fold(c.before_item[max(0, start - 30):start])):
            continue     # "tăng 148% so với cùng kỳ năm 2023": the basis, not the figure's period
        chosen, chosen_text = found, c.before_item[start:end]
    if chosen is not None:
        return _in_term(chosen, ctx), chosen_text
    for part in reversed(p.section.split(SECTION_SEP)):
        heading = _first_period(part, ctx)
        if heading is not None:
            return heading, ""
    return ctx.period, ""


# ------------------------------------------------------------------ keys


def _abbreviations() -> dict[str, str]:
    table = {**{fold(k).replace(" ", ""): fold(v) for k, v in ABBREVIATIONS.items()},
             **{fold(k): fold(v) for k, v in EXTRA_ABBREVIATIONS.items()}}
    return table


_ABBR = _abbreviations()


def indicator_key(indicator: str) -> str:
    """The indicator as a key: folded, numbering dropped, abbreviations expanded
    (``BHXH`` -> ``bao hiem xa hoi``), one wording for synonyms, filler words out.

    >>> indicator_key("21. Tỷ lệ lao động tham gia BHXH bắt buộc")
    'ty le lao dong tham gia bao hiem xa hoi bat buoc'
    """
    parts = [clean_label(part) for part in indicator.split(SECTION_SEP)]
    if len(parts) > 1 and _stands_alone(parts[-1]):
        parts = parts[-1:]   # "… › Số người đóng bảo hiểm xã hội" names its indicator by itself
    words: list[str] = []
    for part in parts:
        for w in _WORD.findall(part):
            expanded = _ABBR.get(fold(w)) if w.isupper() and len(w) >= 2 else None
            words += (expanded or fold(w)).split()
    text = " " + " ".join(words) + " "
    for phrase, canonical in INDICATOR_SYNONYMS:
        text = text.replace(f" {phrase} ", f" {canonical} ")
    kept = [w for w in text.split() if w not in KEY_STOPWORDS]
    return " ".join(kept)


def _stands_alone(label: str) -> bool:
    """A sub-row label that is a whole indicator ("Tỷ lệ trẻ em … suy dinh dưỡng"), not a
    part of its parent's ("Dịch vụ - thương mại", "Trong đó thu tiền sử dụng đất")."""
    f = fold(label)
    return len(f.split()) >= 3 and f.startswith(SELF_STANDING_STARTS)


# ------------------------------------------------------------------ indicators and timelines


@dataclass
class Indicator:
    id: str
    name: str                # the most common wording
    key: str
    records: list[TargetRecord] = field(default_factory=list)

    @property
    def districts(self) -> list[str]:
        return sorted({r.district for r in self.records if r.district})

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "key": self.key, "districts": self.districts,
                "records": [r.to_json() for r in self.records]}


def group_indicators(records: Iterable[TargetRecord]) -> list[Indicator]:
    """Records of one indicator together, across documents.

    Records with one key are one indicator. Two keys of different documents are merged
    when the smaller's words (generic ones aside) are nearly all in the larger's and
    the two overlap enough (``thu ngân sách`` = ``Thu ngân sách nhà nước trên địa
    bàn``), and both are shares or both are not; two keys found in one document are
    two indicators. The id is the slug of the key with the most records."""
    by_key: dict[str, list[TargetRecord]] = {}
    for r in records:
        by_key.setdefault(r.key, []).append(r)
    keys = sorted(by_key)
    parent = {k: k for k in keys}

    def root(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    docs = {k: {r.doc_id for r in by_key[k]} for k in keys}
    for a, b in _merge_candidates(keys, by_key):
        ra, rb = root(a), root(b)
        if ra == rb:
            continue
        members_a = [k for k in keys if root(k) == ra]
        members_b = [k for k in keys if root(k) == rb]
        if _core(a) != _core(b) and \
                set().union(*(docs[k] for k in members_a)) & set().union(*(docs[k] for k in members_b)):
            continue   # one document names both, in other words: two indicators
        parent[rb] = ra
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(root(k), []).append(k)
    out = []
    for members in groups.values():
        rs = [r for k in members for r in by_key[k]]
        key = max(members, key=lambda k: (len(by_key[k]), -len(k)))
        names: dict[str, int] = {}
        for r in rs:
            names[r.indicator] = names.get(r.indicator, 0) + 1
        name = max(names, key=lambda n: (names[n], -len(n)))
        out.append(Indicator(slug(key), name, key, sorted(rs, key=lambda r: (r.doc_id, r.start))))
    return sorted(out, key=lambda i: i.id)


def _core(key: str) -> frozenset[str]:
    return frozenset(w for w in key.split() if w not in GENERIC_WORDS)


def _is_share(records: list[TargetRecord]) -> bool:
    own = [r for r in records if r.kind != "comparison"] or records
    return sum(r.unit.startswith("%") for r in own) * 2 >= len(own)


def _merge_candidates(keys: list[str], by_key: dict[str, list[TargetRecord]]) -> list[tuple[str, str]]:
    """Pairs of keys similar enough to be one indicator, most similar first."""
    cores = {k: _core(k) for k in keys}
    shares = {k: _is_share(by_key[k]) for k in keys}
    by_word: dict[str, set[str]] = {}
    for k in keys:
        for w in cores[k]:
            by_word.setdefault(w, set()).add(k)
    pairs = []
    for a in keys:
        near = set().union(*(by_word[w] for w in cores[a])) if cores[a] else set()
        for b in near:
            if b <= a or shares[a] != shares[b]:
                continue
            small, large = sorted((cores[a], cores[b]), key=len)
            if len(small) < 2:
                continue
            inter = len(small & large)
            jaccard = inter / len(small | large)
            if inter / len(small) >= MIN_CONTAINED and jaccard >= MIN_JACCARD:
                pairs.append((-jaccard, a, b))
    return [(a, b) for _, a, b in sorted(pairs)]


@dataclass
class TimelineEntry:
    """One district's figures of an indicator for one period: its plan next to what was
    estimated, achieved and compared."""

    period: Period | None
    district: str
    plans: list[TargetRecord] = field(default_factory=list)
    estimates: list[TargetRecord] = field(default_factory=list)
    results: list[TargetRecord] = field(default_factory=list)
    comparisons: list[TargetRecord] = field(default_factory=list)
    # plans of a period containing this one (the 2024 plan for "6 tháng đầu năm 2024")
    linked_plans: list[TargetRecord] = field(default_factory=list)


@dataclass
class Timeline:
    indicator: Indicator
    entries: list[TimelineEntry]

    def to_json(self) -> dict[str, Any]:
        def records(rs: list[TargetRecord]) -> list[dict[str, Any]]:
            return [r.to_json() for r in rs]

        return {"indicator": {"id": self.indicator.id, "name": self.indicator.name},
                "entries": [{"period": e.period.label if e.period else "", "district": e.district,
                             "plans": records(e.plans), "estimates": records(e.estimates),
                             "results": records(e.results), "comparisons": records(e.comparisons),
                             "linked_plans": records(e.linked_plans)} for e in self.entries]}


def build_timeline(indicator: Indicator) -> Timeline:
    entries: dict[tuple[str, str], TimelineEntry] = {}
    for r in indicator.records:
        entry = entries.setdefault((r.district, r.period_label), TimelineEntry(r.period, r.district))
        {"plan": entry.plans, "estimate": entry.estimates, "result": entry.results,
         "comparison": entry.comparisons}[r.kind].append(r)
    for entry in entries.values():
        if entry.period is None or entry.plans:
            continue
        for other in entries.values():
            if other is not entry and other.district == entry.district and other.period is not None \
                    and other.period.contains(entry.period):
                entry.linked_plans += other.plans
    ordered = sorted(entries.values(), key=lambda e: (_period_sort(e.period), e.district))
    return Timeline(indicator, ordered)


def _period_sort(p: Period | None) -> tuple[int, int, int]:
    if p is None or p.last_year is None:
        return (9999, 0, 0)
    return (p.first_year or 0, p.first_month, p.last_year)


class TargetBook:
    """The targets and figures of a set of documents."""

    def __init__(self, records: Iterable[TargetRecord] = ()):
        self.records: list[TargetRecord] = list(records)
        self._indicators = {i.id: i for i in group_indicators(self.records)}
        # every wording's slug finds its indicator: an id stays valid when documents added
        # later make another wording the indicator's name
        self._ids = {r.key_id: i.id for i in self._indicators.values() for r in i.records}
        self._by_passage: dict[tuple[str, int], list[TargetRecord]] | None = None

    @classmethod
    def from_documents(cls, docs: Iterable[Document]) -> TargetBook:
        from qa.chunking import chunk_document

        records: list[TargetRecord] = []
        for doc in docs:
            records += extract_targets(doc, chunk_document(doc))
        return cls(records)

    @property
    def indicators(self) -> list[Indicator]:
        return list(self._indicators.values())

    def indicator(self, indicator_id: str) -> Indicator | None:
        return self._indicators.get(self._ids.get(indicator_id, indicator_id))

    def indicator_of(self, record: TargetRecord) -> Indicator | None:
        return self.indicator(record.key_id)

    def timeline(self, indicator_id: str) -> Timeline | None:
        found = self.indicator(indicator_id)
        return build_timeline(found) if found is not None else None

    def in_passage(self, doc_id: str, passage: int) -> list[TargetRecord]:
        """The records written in one passage (its ordinal in its document), in text order."""
        if self._by_passage is None:  # built on first use: the API's answers ask for one passage at a time
            by_passage: dict[tuple[str, int], list[TargetRecord]] = {}
            for r in self.records:
                by_passage.setdefault((r.doc_id, r.passage), []).append(r)
            self._by_passage = by_passage
        return self._by_passage.get((doc_id, passage), [])

    def search(self, query_text: str, district: str | None = None, year: int | None = None,
               lexicon=None) -> list[Indicator]:
        """Indicators whose key holds the query's words (folded, abbreviations and
        thesaurus expansions as ``qa.query.understand`` gives them), best first; each
        with only its records of the district and year asked (given or in the query).
        ``lexicon``: the index's (``Searcher.lexicon``), for the query understanding of
        /search; by default one of the indicators' own words."""
        from qa.query import understand

        q = understand(query_text, lexicon or self._lexicon())
        return self.search_understood(q, district, year)

    def search_understood(self, q, district: str | None = None, year: int | None = None) -> list[Indicator]:
        """``search`` of a query already understood (``qa.query.Query``)."""
        wanted = _query_words(q)
        if not wanted:
            return []
        districts = {fold(d) for d in ([district] if district else q.districts)}
        years = {year} if year else set(q.years)
        out: list[tuple[tuple[float, float], Indicator]] = []
        for ind in self._indicators.values():
            score = max(_match_score(wanted, key) for key in {ind.key, *(r.key for r in ind.records)})
            if score[0] < MIN_SEARCH_SCORE:
                continue
            records = [r for r in ind.records if _record_wanted(r, districts, years)]
            if records:
                out.append((score, replace_records(ind, records)))
        out.sort(key=lambda s: (-s[0][0], -s[0][1], -len(s[1].records), s[1].id))
        return [ind for _, ind in out]

    def _lexicon(self):
        from qa.query import Lexicon

        words = [(w, 1) for r in self.records for w in _WORD.findall(r.indicator)]
        return Lexicon.build(words, {}, {r.district for r in self.records})

    # -- persistence -----------------------------------------------------------
    def save(self, con: sqlite3.Connection) -> None:
        create_table(con)
        for doc_id in sorted({r.doc_id for r in self.records}):
            write_targets(con, doc_id, [r for r in self.records if r.doc_id == doc_id])

    @classmethod
    def load(cls, con: sqlite3.Connection) -> TargetBook:
        return cls(load_records(con))


def replace_records(ind: Indicator, records: list[TargetRecord]) -> Indicator:
    return Indicator(ind.id, ind.name, ind.key, records)


# Question words and words that say "a target" rather than which (folded phrases, then words).
_QUERY_PHRASES = ("bao nhieu", "chi tieu", "muc tieu", "ke hoach", "la gi", "nhu the nao", "so lieu", "ket qua",
                  "thuc hien", "dat duoc", "phan tram", "so voi", "so sanh", "cung ky", "du toan")
_QUERY_STOPWORDS = frozenset({"la", "gi", "cua", "quan", "huyen", "nam", "thang", "dau", "cuoi", "quy", "giai", "doan",
                              "ve", "co", "khong", "duoc", "dat", "cho", "va", "o", "tai", "the", "nao"})


def indicator_matcher(q) -> Callable[[str], tuple[float, float]] | None:
    """How well an indicator key matches the question ``q`` (a ``qa.query.Query``), as
    ``TargetBook.search`` scores it: (share of the question's words the key holds, share of
    the key they cover). ``None`` when the question names no indicator at all."""
    wanted = _query_words(q)
    return (lambda key: _match_score(wanted, key)) if wanted else None


def _query_words(q) -> list[list[str]]:
    """The query's content words as alternatives: each is a set of words any of which
    may stand for it (a word, or an abbreviation's expansion)."""
    folded = q.folded
    for p in q.periods:
        folded = folded[:p.start] + " " * (p.end - p.start) + folded[p.end:]
    for d in q.districts:
        folded = folded.replace(fold(d), " ")
    for phrase in _QUERY_PHRASES:
        folded = re.sub(rf"(?<!\w){phrase}(?!\w)", " ", folded)
    expansions = {a: fold(e) for a, e in q.aliases}
    groups: list[list[str]] = []
    for w in _WORD.findall(folded):
        if w.isdigit():
            continue
        if w in expansions:
            groups.append([" ".join(indicator_key(expansions[w]).split())])
        elif w in _ABBR:
            groups.append([_ABBR[w]])
        elif w not in _QUERY_STOPWORDS and w not in KEY_STOPWORDS:
            groups.append([w])
    return groups


def _match_score(wanted: list[list[str]], key: str) -> tuple[float, float]:
    """(share of the query's words the key holds, share of the key those words cover):
    the second prefers ``tỷ lệ bao phủ bảo hiểm y tế`` to a longer key for "bảo hiểm y tế"."""
    padded = f" {key} "
    found = [a for alternatives in wanted for a in alternatives[:1] if any(f" {x} " in padded for x in alternatives)]
    covered = sum(len(a.split()) for a in found)
    return len(found) / len(wanted), covered / max(1, len(key.split()))


def _record_wanted(r: TargetRecord, districts: set[str], years: set[int]) -> bool:
    if districts and fold(r.district) not in districts:
        return False
    if years and r.period is not None and r.period.located and not (r.period.years & years):
        return False
    return True


# ------------------------------------------------------------------ SQLite

_COLUMNS = ("doc_id", "ordinal", "indicator", "key", "key_id", "value_written", "value", "high", "denominator",
            "comparator", "comparator_written", "unit", "kind", "period", "period_written", "district",
            "compares_to", "section", "passage", "start", "end", "quote")


def create_table(con: sqlite3.Connection) -> None:
    con.execute("""CREATE TABLE IF NOT EXISTS targets (
        doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL, indicator TEXT NOT NULL, key TEXT NOT NULL,
        key_id TEXT NOT NULL, value_written TEXT NOT NULL, value REAL NOT NULL, high REAL, denominator REAL,
        comparator TEXT NOT NULL, comparator_written TEXT NOT NULL, unit TEXT NOT NULL, kind TEXT NOT NULL,
        period TEXT NOT NULL, period_written TEXT NOT NULL, district TEXT NOT NULL, compares_to TEXT NOT NULL,
        section TEXT NOT NULL, passage INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
        quote TEXT NOT NULL, PRIMARY KEY (doc_id, ordinal))""")
    con.execute("CREATE INDEX IF NOT EXISTS targets_key ON targets (key_id)")


def write_targets(con: sqlite3.Connection, doc_id: str, records: Sequence[TargetRecord]) -> None:
    """Replace the records of one document (the store calls it on build and add)."""
    create_table(con)
    delete_targets(con, doc_id)
    rows = [(r.doc_id, i, r.indicator, r.key, r.key_id, r.value_written, r.value, r.high, r.denominator,
             r.comparator, r.comparator_written, r.unit, r.kind, r.period_label, r.period_written, r.district,
             r.compares_to, r.section, r.passage, r.start, r.end, r.quote) for i, r in enumerate(records)]
    placeholders = ", ".join("?" for _ in _COLUMNS)
    names = ", ".join(f'"{c}"' for c in _COLUMNS)
    con.executemany(f"INSERT INTO targets ({names}) VALUES ({placeholders})", rows)


def delete_targets(con: sqlite3.Connection, doc_id: str) -> None:
    """Drop one document's records (the store calls it on remove)."""
    create_table(con)
    con.execute("DELETE FROM targets WHERE doc_id = ?", (doc_id,))


def load_records(con: sqlite3.Connection, doc_id: str | None = None) -> list[TargetRecord]:
    """The records stored (of one document); none when the table does not exist (an index
    built before targets were kept). Reads only: works on a read-only connection."""
    exists = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'targets'").fetchone()
    if not exists:
        return []
    names = ", ".join(f'"{c}"' for c in _COLUMNS)
    sql = f"SELECT {names} FROM targets" + (" WHERE doc_id = ?" if doc_id else "") + " ORDER BY doc_id, ordinal"
    out = []
    for row in con.execute(sql, (doc_id,) if doc_id else ()):
        d = dict(zip(_COLUMNS, row))
        out.append(TargetRecord(
            doc_id=d["doc_id"], indicator=d["indicator"], key=d["key"], value_written=d["value_written"],
            value=d["value"], kind=d["kind"], unit=d["unit"], comparator=d["comparator"],
            comparator_written=d["comparator_written"], high=d["high"], denominator=d["denominator"],
            period=_period_or_none(d["period"]), period_written=d["period_written"], district=d["district"],
            compares_to=d["compares_to"], section=d["section"], passage=d["passage"], start=d["start"],
            end=d["end"], quote=d["quote"]))
    return out


def _period_or_none(label: str) -> Period | None:
    if not label:
        return None
    try:
        return Period.from_label(label)
    except ValueError:
        return None
