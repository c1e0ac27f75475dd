"""Turning a Document into passages a citizen can read and a retriever can find.

The document's own structure decides the cuts. Vietnamese administrative texts
nest ``Phần > Chương > Mục > Điều > A. > I. > 1. > 1.1. > 1.1.1. > (1) > a)``;
headings in capitals or in bold open sections too. Bullets (``-``, ``+``,
``•``, ``*``) are content, never sections.

Markdown and Word documents arrive in the same plain-text layout (``qa.loaders``),
their markup gone; the headings that markup marked come beside the text
(``Document.headings``): a marked heading is a block of its own, ranked by its level
above every heading the text marks; a paragraph marked bold is read as a ``**…**``
line is.

Steps, one function (group) each:

1. ``_split_lines``/``_mark_furniture``: non-blank lines with offsets; web-page
   furniture (``Tìm kiếm``, ``Ngày đăng … | View count``, …), Công báo signature
   stamps and rules are dropped.
2. ``_make_blocks``: runs of tab-separated lines become tables; other lines are
   joined into paragraphs when a line continues the previous one: it starts in
   lower case (a sentence cut by a page break or a hard-wrapped PDF line), or,
   right below an unfinished line, with a digit or in capitals (a wrapped title).
3. ``_drop_header``/``_drop_closing``: the document header (number, place and
   date, type, title, issuer) is dropped -- the title is in the metadata -- but
   the legal basis (``Căn cứ …``, ``Xét …``, ``Theo đề nghị …``) is KEPT as a
   top-level passage: "căn cứ vào đâu" is a question citizens ask. The
   distribution list (``Nơi nhận:`` onwards) and signature blocks are dropped.
4. ``_build_tree``: headings nest by rank; tables take the short lines just
   above them as their caption.
5. ``_Emitter``: a section whose whole subtree fits becomes one passage; a
   bigger one gives its own paragraphs (grouped up to the limit, long ones
   split at sentence boundaries with overlap) and then its children; small
   sibling items (``1.``/``a)`` level) are packed together under their parent.
   A heading with no text of its own is carried into its first child's passage.
   Tables give one passage per row, rendered with caption and column headers.

Section labels: the heading line's text without trailing punctuation when it is
at most ~80 characters; otherwise its first clause/sentence when that is short
(``1. Mục tiêu tổng quát: …`` -> ``1. Mục tiêu tổng quát``); otherwise, for a
title-like line (<= 300 chars, not a long finished sentence), the first clause
cut at a comma or word with ``…``; for a paragraph, just the marker
(``Điều 1``, ``e)``). ``Chương I`` + ``QUY ĐỊNH CHUNG`` on the next line give
``Chương I. QUY ĐỊNH CHUNG``.

Offsets: ``start``/``end`` are offsets in ``Document.text`` (already normalised
by ``qa.text.normalize``; nothing is re-normalised here). For ``kind == "text"``
the passage text is ``doc.text[start:end]`` with any dropped lines inside that
span (page furniture, signature stamps) replaced by one line break, so
``text == doc.text[start:end]`` exactly whenever nothing inside the span was
dropped -- the usual case; split pieces of a long paragraph are exact spans too
(consecutive pieces overlap). For ``kind == "table_row"`` the text is a
rendering and ``start``/``end`` delimit the row's line (with its tabs).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Iterator

from .documents import Document, Heading
from .rows import ROW_SEP, SECTION_SEP, TableRow  # noqa: F401  (ROW_SEP, SECTION_SEP re-exported)
from .text import fold

# bump when output changes (2: indexes built while the chunker was in flux are stale;
# 3: Markdown and Word headings, lists and tables read as structure -- .txt unchanged)
CHUNKER_VERSION = 3
MAX_CHARS = 1200              # hard limit on Passage.text length



@dataclass
class Passage:
    doc_id: str
    ordinal: int              # 0..n-1 within the document, in document order
    text: str                 # shown to the user (see module docstring)
    section: str              # section path, parts joined with " › ", "" at top level
    kind: str                 # "text" | "table_row"
    start: int                # char offset in Document.text
    end: int
    row: TableRow | None = None  # the row as data, for a table_row passage


# --------------------------------------------------------------------------
# Patterns

_TERMINAL = (".", ";", ":", "!", "?", "…")
_LABEL_MAX = 80       # a section label longer than this is shortened
_TITLE_MAX = 300      # a heading line longer than this is a paragraph, not a title
_LEAD_IN_MAX = 120    # "* Đối với công tác …", "- … gồm:" introduce what follows

# Ranks: smaller is higher in the hierarchy.
_APPENDIX, _PART, _CHAPTER, _SECTION, _ARTICLE, _UPPER, _ROMAN = -1, 0, 1, 2, 3, 4, 5
_NUM, _NUM2, _NUM3, _PAREN, _LETTER = 6, 7, 8, 9, 10
# Headings their source marked (Markdown "#", Word heading styles) rank by their level,
# above every heading the text marks (_OUTLINE + level / 10: -1.9 .. -1.1).
_OUTLINE = -2
_ANONYMOUS = 99       # content that follows a part's children without a heading

_UP = "A-ZĐÀ-Ỹ"
# (rank, pattern matching the marker at the start of a cleaned line)
_MARKERS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (_PART, re.compile(r"(?:Phần|PHẦN)\s+(?:thứ\s+\w+|THỨ\s+\w+|[IVXLC]+|\d+)\b\.?")),
    (_CHAPTER, re.compile(r"(?:Chương|CHƯƠNG)\s+(?:[IVXLC]+|\d+)\b\.?")),
    (_SECTION, re.compile(r"(?:Mục|MỤC)\s+(?:[IVXLC]+|\d+)\b\.?")),
    (_ARTICLE, re.compile(r"(?:Điều|ĐIỀU)\s+\d+[a-zđ]?\s*[.:]")),
    (_UPPER, re.compile(r"[A-HĐ]\s*[.)](?=\s+[" + _UP + r"“\"(\d])")),
    (_ROMAN, re.compile(r"[IVX]{1,6}\s*[.\-–:)](?=\s*\S|$)")),
    (_NUM3, re.compile(r"\d{1,2}\.\d{1,2}\.\d{1,2}\.?(?=\s+[" + _UP + r"“\"(\d])")),
    (_NUM2, re.compile(r"\d{1,2}\.\d{1,2}\.?(?=\s+[" + _UP + r"“\"(\d])")),
    (_NUM, re.compile(r"\d{1,2}\s*[.)](?=\s+[" + _UP + r"“\"(\d])")),
    (_PAREN, re.compile(r"\(\d{1,2}\)\.?(?=\s+\S)")),
    (_LETTER, re.compile(r"[a-zđ]\s*[.)](?=\s+[" + _UP + r"“\"(\d])")),
)
_WORD_MARKERS = (_PART, _CHAPTER, _SECTION, _ARTICLE)   # "Điều 1", not "Điều 1."
_ROMAN_VALID = re.compile(r"(?=[IVX])X{0,3}(?:IX|IV|V?I{0,3})")
_LETTER_ITEM = re.compile(r"[a-zđ]\s*\)\s")

_EMPHASIS = re.compile(r"^#+\s+|\*+")
# typist's initials after the text: "… *ĐKK*", "… / *sw*" (not "**Chương II**")
_TYPIST_MARK = re.compile(r"\s*/?\s*(?<![^\s/])\*[^*\s]{1,6}\*$")
_HAS_ALNUM = re.compile(r"[^\W_]")
_NONBLANK_LINE = re.compile(r"[^\n]*\S[^\n]*")

# Whole-line page furniture of web posts and Công báo PDFs (matched on the
# cleaned, lower-cased line).
_FURNITURE = re.compile(
    r"tìm kiếm|album ảnh|(?:các )?chuyên mục|ngày đăng\b.*|.*\bview count\b.*|lượt xem\b.*"
    r"|(?:chia sẻ|in bài|bản in|về đầu trang|tin liên quan|(?:các )?tin khác|tin cùng chuyên mục)\s*:?"
    r"|(?:ký bởi|người ký|thời gian ký|ngày ký)\s*:.*"
    r"|\(?\s*(?:xem tiếp|tiếp theo)\b.*công báo.*"
    r"|[(\[]?\s*đã ký\s*[)\]]?"
)
_STAMP_FOLLOW = re.compile(r"(?:email|e-mail|cơ quan)\s*:.*")   # lines of a signature stamp
_POSTED = re.compile(r"ngày đăng\b.*", re.I)                   # news: body follows this line
# Signature lines: "TM. ỦY BAN NHÂN DÂN", "KT. BỘ TRƯỞNG", "PHÓ CHỦ TỊCH", "THỨ TRƯỞNG"
_SIGNATORY = re.compile(
    r"(?:(?:TM|KT|TL|TUQ|Q|T/M)\.?\s+[" + _UP + r"][" + _UP + r"\s,.\-]*"
    r"|(?:PHÓ |TỔNG |Q\. )?(?:CHỦ TỊCH|THỦ TƯỚNG|BỘ TRƯỞNG|THỨ TRƯỞNG|GIÁM ĐỐC|CHÁNH VĂN PHÒNG"
    r"|CHÁNH ÁN|VIỆN TRƯỞNG|TRƯỞNG BAN|CỤC TRƯỞNG|VỤ TRƯỞNG|TỔNG CỤC TRƯỞNG|BÍ THƯ|THỐNG ĐỐC"
    r"|CHỦ NHIỆM|TỔNG KIỂM TOÁN|TRƯỞNG PHÒNG)(?: [" + _UP + r"\s,\-]{0,40})?)"
)

_DISTRIBUTION = re.compile(r"\W*Nơi nhận\W*:\W*(?:\t|$)", re.I)
# "PHỤ LỤC", "Phụ lục 1a", "PHỤ LỤC II: DANH MỤC …", "Mẫu số 01" -- a short line of its own
_APPENDIX_LINE = re.compile(
    r"(?:PHỤ LỤC|Phụ lục|PHỤ BIỂU|Phụ biểu|Mẫu số|MẪU SỐ)(?:\s+(?:số\s+)?[\dIVXLC]+[a-zđ]?|\s+[A-Z])?"
    r"(?:\s*[.:\-–]?\s*[^a-zà-ỹđ\s].{0,150})?"
)
_ATTACHMENT_TITLE = re.compile(
    r"(?:QUY ĐỊNH|QUY CHẾ|KẾ HOẠCH|ĐIỀU LỆ|HƯỚNG DẪN|CHƯƠNG TRÌNH|DANH MỤC|ĐỀ ÁN"
    r"|PHƯƠNG ÁN|BIỂU MẪU|MẪU SỐ|Mẫu số|NỘI QUY|BẢNG)\b"
)
_BASIS = re.compile(r"(?:Căn cứ|Xét|Theo đề nghị|Thực hiện)\b")
# Lines of a document header: number, national motto, place and date.
_HEADER_LINE = re.compile(
    r"(?:Số|SỐ|Luật số|Số hiệu)\s*:.*|.{0,40}CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM.{0,40}"
    r"|Độc lập\s*[-–]\s*Tự do\s*[-–]\s*Hạnh phúc.{0,20}"
    r"|.{0,60},\s*ngày\s+\d{1,2}\s+tháng\s+\d{1,2}\s+năm\s+\d{4}.{0,20}"
)
_HEADER_SCAN = 60          # blocks searched for the start of the body
_SIGNATURE_MAX = 60        # a signature line is short
_CAPTION_MAX = 200

# Split levels for a too-long text: sentences, then "; ", then ", ", then words.
_SPLIT_LEVELS = (
    re.compile(r"[.!?…][\"”’)]*(\s+)"),
    re.compile(r";(\s+)"),
    re.compile(r",(\s+)"),
    re.compile(r"(\s+)"),
)
_NUMERIC_CELL = re.compile(r"[-+<>≤≥~ ]*\d[\d.,]*\s*%?")
_BULLET = re.compile(r"^[-+•–*]\s*")


# --------------------------------------------------------------------------
# Lines and blocks


@dataclass(slots=True)
class _Line:
    start: int             # first non-space character
    end: int               # after the last non-space character
    fstart: int            # the whole line (table cells need leading tabs)
    fend: int
    clean: str             # emphasis marks removed, spaces collapsed
    blank_before: bool
    tab: bool
    bullet: bool
    bold: bool             # the whole line is wrapped in **…**
    recipients: bool       # "Nơi nhận:" -- the distribution list starts here
    dropped: bool = False
    kept: int = -1         # index among rendered lines (set by the emitter)
    heading: int = -1      # level of the source-marked heading it belongs to (Document.headings), -1: none
    heading_at: int = -1   # start offset of that heading (its lines belong together)


@dataclass(slots=True)
class _Block:
    lines: list[_Line]
    kind: str = "text"     # text | basis | heading | table | dropped
    rank: float = 0
    label: str = ""
    style: str = ""          # unmarked headings: "caps" | "bold" | "appendix"
    reset: bool = False      # starts a new part (attachment after a signature)
    caption: str = ""        # tables

    @property
    def start(self) -> int:
        return self.lines[0].start

    @property
    def end(self) -> int:
        return self.lines[-1].end

    @property
    def clean(self) -> str:
        return " ".join(line.clean for line in self.lines)

    @property
    def is_bare(self) -> bool:
        """A heading that is only a title (a table-of-contents line), no sentence."""
        return self.kind == "heading" and len(self.clean) <= 150 and not self.clean.endswith((".", ";"))

    @property
    def unmarked(self) -> bool:
        return bool(self.style)

    @property
    def is_lead_in(self) -> bool:
        """A short line introducing the lines below it: it belongs with them."""
        clean = self.clean
        return self.kind == "text" and len(clean) <= _LEAD_IN_MAX and (
            clean.endswith(":") or not clean.endswith(_TERMINAL)
        )


def _clean(raw: str) -> str:
    return " ".join(_EMPHASIS.sub("", raw).split())


def _mark_headings(lines: list[_Line], headings: list[Heading]) -> None:
    """Lines inside the headings that Markdown or Word marked; a bold one (level 0)
    is what a ``**…**`` line is in a .txt file."""
    starts = [line.start for line in lines]
    for heading in headings:
        for k in range(bisect_left(starts, heading.start), len(lines)):
            line = lines[k]
            if line.start >= heading.end:
                break
            line.heading, line.heading_at = heading.level, heading.start
            line.bold = line.bold or heading.level == 0


def _split_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    prev_end = 0
    for m in _NONBLANK_LINE.finditer(text):
        raw = m.group()
        body = raw.strip()
        start = m.start() + (len(raw) - len(raw.lstrip()))
        lines.append(_Line(
            start=start,
            end=start + len(body),
            fstart=m.start(),
            fend=m.end(),
            clean=_clean(_TYPIST_MARK.sub("", body)),
            blank_before=text.count("\n", prev_end, m.start()) > 1,
            tab="\t" in raw,
            bullet=bool(_BULLET.match(body)) and not body.startswith("**"),
            bold=len(body) > 4 and body.startswith("**") and body.endswith("**"),
            recipients=bool(_DISTRIBUTION.match(raw.lstrip())),
        ))
        prev_end = m.end()
    return lines


def _mark_furniture(lines: list[_Line]) -> int:
    """Drop furniture lines; return the end offset of a news post's date line (or -1)."""
    posted_end = -1
    stamp_left = 0     # lines after "Ký bởi:" that may still belong to the stamp
    for line in lines:
        low = line.clean.lower()
        if stamp_left and _STAMP_FOLLOW.fullmatch(low):
            line.dropped = True
            continue
        stamp_left = max(0, stamp_left - 1)
        if not _HAS_ALNUM.search(line.clean) or _FURNITURE.fullmatch(low):
            line.dropped = True
            if low.startswith(("ký bởi", "người ký")):
                stamp_left = 4
            if posted_end < 0 and _POSTED.fullmatch(line.clean):
                posted_end = line.end
        elif _SIGNATORY.fullmatch(line.clean):
            line.dropped = True
    return posted_end


def _continues(prev: _Line, line: _Line) -> bool:
    """Does ``line`` continue the paragraph ending with ``prev``?

    Why: PDF text is hard-wrapped and page breaks cut sentences; a line that
    starts in lower case (and is not an ``a)`` item) is the rest of a sentence.
    """
    if prev.heading_at >= 0 or line.heading_at >= 0:
        return prev.heading_at == line.heading_at   # a marked heading is a block of its own
    if line.tab or prev.tab or line.bullet:
        return False
    if line.blank_before and (prev.clean.endswith(_TERMINAL) or len(prev.clean) < 50):
        return False        # across a blank line only a long line cut by a page break goes on
    first = line.clean[:1]
    if not line.blank_before and not prev.clean.endswith(_TERMINAL):
        if _is_capitals(prev.clean) and _is_capitals(line.clean):
            return True         # a heading in capitals wrapped over lines
        if first.isdigit() and _marker(line.clean) is None:
            return True         # "… ngày" / "08/6/2010 của Chính phủ …"
    return first.islower() and not _LETTER_ITEM.match(line.clean)


def _make_blocks(lines: list[_Line]) -> list[_Block]:
    kept = [line for line in lines if not line.dropped]
    blocks: list[_Block] = []
    i = 0
    while i < len(kept):
        j = i + 1
        if kept[i].tab:
            while j < len(kept) and kept[j].tab:
                j += 1
            if j - i >= 2:      # one tabbed line is text with a tab in it
                blocks.append(_Block(kept[i:j], kind="table"))
                i = j
                continue
            j = i + 1
        while j < len(kept) and _continues(kept[j - 1], kept[j]):
            j += 1
        blocks.append(_classify(_Block(kept[i:j])))
        i = j
    _merge_titles(blocks)
    return blocks


def _marker(clean: str) -> tuple[int, str] | None:
    for rank, pattern in _MARKERS:
        m = pattern.match(clean)
        if m is None:
            continue
        if rank == _ROMAN and not _ROMAN_VALID.fullmatch(m.group().rstrip(" .-–:)")):
            continue
        return rank, m.group()
    return None


def _is_capitals(clean: str) -> bool:
    """A line in capitals (``QUY ĐỊNH CHUNG``), not an acronym."""
    return clean.isupper() and " " in clean and sum(c.isalpha() for c in clean) >= 4


def _classify(block: _Block) -> _Block:
    if block.lines[0].heading > 0:
        return _classify_outline(block)
    clean = block.clean
    if block.lines[0].bullet:
        return block
    if len(block.lines) <= 3 and _APPENDIX_LINE.fullmatch(clean):
        block.kind, block.rank, block.style = "heading", _APPENDIX, "appendix"
        block.label = _shorten(clean) or clean[:_LABEL_MAX]
        return block
    found = _marker(clean)
    if found is not None:
        rank, marker = found
        block.kind, block.rank = "heading", rank
        block.label = _heading_label(marker, clean[len(marker):], rank)
    elif len(clean) <= 250 and len(block.lines) <= 4 and not clean.endswith((".", ";", ",", ":")):
        style = "caps" if _is_capitals(clean) else "bold" if block.lines[0].bold else ""
        if style and sum(c.isalpha() for c in clean) >= 4:
            block.kind, block.style, block.rank = "heading", style, _ANONYMOUS
            block.label = _shorten(clean) or clean[:_LABEL_MAX]
    return block


def _classify_outline(block: _Block) -> _Block:
    """A heading its source marked: its level ranks it; a marker in it (``I.``,
    ``Điều 2.``) labels it as in a .txt file."""
    clean = block.clean
    block.kind, block.rank = "heading", _OUTLINE + block.lines[0].heading / 10
    found = _marker(clean)
    if found is not None:
        block.label = _heading_label(found[1], clean[len(found[1]):], found[0])
    else:
        block.style = "appendix" if _APPENDIX_LINE.fullmatch(clean) else "outline"
        block.label = _shorten(clean) or clean[:_LABEL_MAX]
    return block


def _merge_titles(blocks: list[_Block]) -> None:
    """``Chương I`` / ``QUY ĐỊNH CHUNG`` on two lines: one heading, one label."""
    for i in range(len(blocks) - 1):
        head, nxt = blocks[i], blocks[i + 1]
        bare_chapter = (
            head.kind == "heading" and head.rank in (_PART, _CHAPTER, _SECTION) and not head.unmarked
            and _marker(head.clean)[1].strip() == head.clean.strip()
        )
        bare_appendix = head.style == "appendix" and len(head.clean) <= 20
        title = (nxt.kind == "text" and bare_chapter) or nxt.style in ("caps", "bold")
        if (
            (bare_chapter or bare_appendix) and title
            and len(nxt.clean) <= 200 and not nxt.clean.endswith((".", ";"))
        ):
            head.lines = head.lines + nxt.lines
            head.label = f"{head.label.rstrip('.')}. {_shorten(nxt.clean) or nxt.clean[:_LABEL_MAX]}"
            nxt.kind, nxt.lines = "merged", []
    blocks[:] = [b for b in blocks if b.kind != "merged"]


# --------------------------------------------------------------------------
# Labels


def _balance(label: str) -> str:
    if label.count("“") > label.count("”"):
        label += "”"
    if label.count("(") > label.count(")"):
        label += ")"
    return label


def _cut_at_word(text: str, limit: int) -> str:
    head = text[: limit + 1]
    comma = head.rfind(", ")
    cut = comma if comma >= limit // 2 else head.rfind(" ")
    if cut <= 0:
        cut = limit
    return _balance(text[:cut].rstrip(" ,;:") + "…")


def _shorten(body: str) -> str | None:
    """A heading text fit for a section path, or None if only the marker should be used.

    Short: as is. Longer: its first clause/sentence if that is short
    (``Mục tiêu tổng quát: …``). A long title line: cut at a comma or word.
    A long sentence (``… với các nội dung sau:``, a paragraph): None.
    """
    body = body.strip()
    sentence = body.endswith((".", ":")) and len(body) > 120
    body = body.rstrip(" .:;,")
    if len(body) <= _LABEL_MAX:
        return body
    clause = re.split(r"\s*[.:;!?]\s+", body, maxsplit=1)[0].strip()
    if len(clause) <= _LABEL_MAX:
        return _balance(clause)
    if len(body) <= _TITLE_MAX and not sentence:
        return _cut_at_word(clause, _LABEL_MAX)
    return None


def _heading_label(marker: str, body: str, rank: int) -> str:
    marker = re.sub(r"\s+(?=[.)])", "", marker.strip())     # "4 ." -> "4."
    short = _shorten(body.lstrip(" .:-–")) if body.strip(" .:-–") else ""
    if short:
        return f"{marker} {short}"
    return marker.rstrip(".:") if rank in _WORD_MARKERS else marker


# --------------------------------------------------------------------------
# Header and closing


def _title_key(text: str) -> str:
    return " ".join(fold(text).split())


def _is_title_line(clean: str, title: str) -> bool:
    """A line of the document's title (the title is in the metadata)."""
    title_key = _title_key(title)
    return len(clean) >= 15 and bool(title_key) and _title_key(clean) in title_key


def _body_start(blocks: list[_Block], posted_end: int, title: str) -> int | None:
    """Index of the first body block, or None if no header was recognised."""
    for i, block in enumerate(blocks[:_HEADER_SCAN]):
        clean = block.clean
        if _is_title_line(clean, title):
            continue        # the title, however long, is header (it is in the metadata)
        if 0 <= posted_end <= block.start:
            return i
        if block.kind == "table" and not any(_HEADER_LINE.fullmatch(l.clean) for l in block.lines):
            return i
        if block.kind == "heading" and not block.unmarked:
            return i
        if block.style == "outline" and not _is_capitals(clean) and not _HEADER_LINE.fullmatch(clean):
            return i        # a marked heading in sentence case: not a title line of the header
        if _is_formula(clean) or _is_paragraph(clean):
            return i
    return None


def _is_paragraph(clean: str) -> bool:
    """Body text rather than a header line: long, or a finished sentence of some length."""
    if _BASIS.match(clean) or _is_capitals(clean):
        return False
    return len(clean) >= 200 or (len(clean) >= 120 and clean.endswith("."))


def _is_formula(clean: str) -> bool:
    """``QUYẾT NGHỊ:``, ``QUYẾT ĐỊNH:`` -- the enacting words before the articles."""
    return clean.endswith(":") and len(clean) <= 40 and clean[:-1].isupper()


def _drop_header(blocks: list[_Block], posted_end: int, title: str) -> None:
    start = _body_start(blocks, posted_end, title)
    if start is None:       # no recognisable header: drop only unmistakable header lines
        for block in blocks[:15]:
            if _HEADER_LINE.fullmatch(block.clean):
                block.kind = "dropped"
        return
    in_basis = False
    for block in blocks[:start]:
        in_basis = in_basis or (bool(_BASIS.match(block.clean)) and not _is_marked_title(block, title))
        keep = in_basis and block.kind != "table" and not _is_formula(block.clean)
        block.kind = "basis" if keep else "dropped"
    if _is_formula(blocks[start].clean):
        blocks[start].kind = "dropped"


def _is_marked_title(block: _Block, title: str) -> bool:
    """A title line that Markdown or Word marked as a heading: "## Thực hiện nhiệm vụ …"
    starts with a word of the legal basis but is none. (Unmarked lines are left as they
    were read when the ranking model was trained.)"""
    return block.lines[0].heading >= 0 and _is_title_line(block.clean, title)


def _is_signature(block: _Block) -> bool:
    clean = block.clean
    if block.kind != "table" and len(clean) <= 100 and _HEADER_LINE.fullmatch(clean):  # next header
        return True
    return (
        (block.kind == "text" or (block.kind == "heading" and block.unmarked))
        and len(block.lines) <= 2 and len(clean) <= _SIGNATURE_MAX
        and not clean.endswith(_TERMINAL) and not block.lines[0].bullet
    )


def _resumes(block: _Block) -> bool:
    """After a distribution list and signature, does this block start an attachment?

    The list is bullets, the signature short lines; anything else -- a heading,
    an attachment's title, a real paragraph -- is content again."""
    clean = block.clean
    if block.kind == "heading" or _ATTACHMENT_TITLE.match(clean):
        return True
    return block.kind == "text" and not block.lines[0].bullet and (
        len(clean) >= 100 or clean.startswith(("(Kèm theo", "(Ban hành kèm theo"))
    )


def _drop_closing(blocks: list[_Block]) -> None:
    """Drop ``Nơi nhận:`` lists and signature blocks; mark where attachments start."""
    ends: list[int] = []        # indices before which a signature may sit
    in_list = False
    for i, block in enumerate(blocks):
        if block.kind == "dropped":
            continue
        if block.kind != "table" and len(block.clean) <= 100 and _HEADER_LINE.fullmatch(block.clean):
            block.kind = "dropped"      # an attachment repeats the header: motto, number, date
            continue
        if block.lines[0].recipients:
            in_list = True
            ends.append(i)
        elif in_list and _resumes(block):
            in_list = False
            block.reset = True
            if block.kind == "heading" and block.unmarked and block.lines[0].heading <= 0:
                block.rank, block.style = _APPENDIX, "appendix"   # a marked heading keeps its level
        elif block.kind == "heading" and (block.rank == _APPENDIX or block.style == "appendix"):
            ends.append(i)
        if in_list:
            block.kind = "dropped"
    ends.append(len(blocks))
    for end in ends:
        _drop_signature_before(blocks, end)


def _drop_signature_before(blocks: list[_Block], end: int) -> None:
    i, seen = end - 1, 0
    while i >= 0 and seen < 10:
        block = blocks[i]
        if block.kind != "dropped":
            if not _is_signature(block):
                return
            block.kind = "dropped"
            seen += 1
        i -= 1


# --------------------------------------------------------------------------
# Section tree


@dataclass(eq=False)
class _Node:
    path: tuple[str, ...]
    rank: float
    items: list[_Block] = field(default_factory=list)     # own blocks, heading first
    children: list["_Node"] = field(default_factory=list)
    style: str = ""
    anonymous: bool = False
    has_table: bool = False

    def blocks(self) -> Iterator[_Block]:
        yield from self.items
        for child in self.children:
            yield from child.blocks()

    def first_block(self) -> _Block | None:
        return next((b for b in self.blocks() if b.kind != "table"), None)

    def last_block(self) -> _Block | None:
        node = self
        while node.children:
            node = node.children[-1]
        return node.items[-1] if node.items else None


def _innermost(node: _Node) -> _Node:
    """The deepest section holding all of ``node``'s text (a document that is one article)."""
    while not node.items and len(node.children) == 1:
        node = node.children[0]
    return node


def _build_tree(blocks: list[_Block]) -> _Node:
    root = _Node(path=(), rank=-10)
    stack = [root]
    for block in blocks:
        if block.kind == "dropped":
            continue
        if block.reset:
            del stack[1:]
        if block.kind == "heading":
            _push_heading(stack, block)
            continue
        if stack[-1].children:      # text after a part's children: keep document order
            anon = _Node(path=stack[-1].path, rank=_ANONYMOUS, anonymous=True)
            stack[-1].children.append(anon)
            stack.append(anon)
        if block.kind == "table":
            block.caption = _take_caption(stack[-1].items)
            for node in stack:
                node.has_table = True
        stack[-1].items.append(block)
    return root


def _push_heading(stack: list[_Node], block: _Block) -> None:
    """Headings nest by rank. An unmarked heading (capitals, bold) has no rank of
    its own: it is a sibling of the nearest open heading of the same style
    (``MỤC LỤC`` … ``PHẦN THUYẾT MINH``), else a child of the current section."""
    while len(stack) > 1 and stack[-1].anonymous:
        stack.pop()
    rank = block.rank
    if block.style in ("caps", "bold"):
        same = [k for k in range(1, len(stack)) if stack[k].style == block.style]
        if same:
            del stack[same[-1]:]
        rank = block.rank = stack[-1].rank + 0.5
    while len(stack) > 1 and stack[-1].rank >= rank:
        stack.pop()
    node = _Node(path=stack[-1].path + (block.label,), rank=rank, items=[block], style=block.style)
    stack[-1].children.append(node)
    stack.append(node)


def _take_caption(items: list[_Block]) -> str:
    """Consume the short lines just above a table; return its caption."""
    taken: list[_Block] = []
    while items and len(taken) < 2:
        block = items[-1]
        clean = block.clean
        parenthesised = clean.startswith("(") and clean.endswith(")")
        if (
            block.kind != "text" or len(clean) > _CAPTION_MAX or block.lines[0].bullet
            or (clean.endswith((".", ";")) and not parenthesised)
        ):
            break
        taken.insert(0, items.pop())
    titles = [b.clean for b in taken if not (b.clean.startswith("(") and b.clean.endswith(")"))]
    return (_shorten(titles[0]) or _cut_at_word(titles[0], _LABEL_MAX)) if titles else ""


# --------------------------------------------------------------------------
# Tables


def _cells(text: str, line: _Line) -> list[str]:
    return [" ".join(c.split()) for c in text[line.fstart:line.fend].split("\t")]


def _is_numbering_row(cells: list[str]) -> bool:
    """``1 2 3 4`` under the header: column numbers, not data."""
    filled = [c.strip("()") for c in cells if c]
    return len(filled) >= 2 and filled == [str(i) for i in range(1, len(filled) + 1)]


@dataclass(slots=True)
class _Row:
    line: _Line
    labels: tuple[str, ...]
    values: list[tuple[str, str]]
    group: str
    has_children: bool = False

    @property
    def label(self) -> str:
        return SECTION_SEP.join(self.labels)


def _table_rows(text: str, block: _Block) -> list[_Row]:
    grid = [_cells(text, line) for line in block.lines]
    width = max(len(r) for r in grid)
    grid = [r + [""] * (width - len(r)) for r in grid]
    header = grid[0] if all(c and not _NUMERIC_CELL.fullmatch(c) for c in grid[0][:2]) else None
    first_col = [r[0] for r in grid[1 if header else 0:]]
    has_tt = (header is not None and header[0].lower() in ("tt", "stt", "số tt")) or (
        header is None and sum(len(c) <= 4 for c in first_col) >= 0.8 * len(first_col)
    )
    label_col = 1 if has_tt and width > 1 else 0
    value_cols = [i for i in range(width) if i != label_col and not (has_tt and i == 0)]
    rows: list[_Row] = []
    group, parent = "", -1
    for line, cells in zip(block.lines, grid):
        if (header is not None and cells == header) or _is_numbering_row(cells):
            continue
        tt = cells[0] if has_tt else ""            # "1", "" (sub-row), "*" or "I" (group)
        label = _clean(cells[label_col])
        values = [(_clean(header[i]) if header else "", _clean(cells[i])) for i in value_cols if cells[i]]
        if not values and (tt and not tt[0].isdigit() or (not tt and _is_capitals(label))):
            group, parent = label, -1       # "*  CÁC CHỈ TIÊU KINH TẾ": labels the rows below
            continue
        is_sub = parent >= 0 and ((has_tt and not tt) or bool(_BULLET.match(label)))
        if is_sub:
            rows[parent].has_children = True
            rows.append(_Row(line, rows[parent].labels + (_BULLET.sub('', label),), values, group))
        else:
            label = f"{tt.rstrip('.')}. {label}" if tt else label
            rows.append(_Row(line, (label,), values, group))
            parent = len(rows) - 1
    # a parent row without values is carried by its sub-rows' labels
    return [r for r in rows if r.values or not r.has_children]


def _table_row(caption: str, row: _Row) -> TableRow:
    return TableRow(caption=caption, labels=row.labels, columns=tuple(row.values), group=row.group)


# --------------------------------------------------------------------------
# Splitting long text


def _units(
    text: str, lo: int, hi: int, budget: int, level: int = 0, force: bool = False
) -> list[tuple[int, int]]:
    """Cut text[lo:hi] into pieces of at most ``budget`` chars at the coarsest boundaries.

    ``force``: cut at the coarsest boundary found even if the text fits (a
    heading in front of it needs room).
    """
    if hi - lo <= budget and not force:
        return [(lo, hi)]
    if level == len(_SPLIT_LEVELS):     # one "word" longer than the budget: no choice
        return [(i, min(i + budget, hi)) for i in range(lo, hi, budget)]
    cuts = [(m.start(1), m.end(1)) for m in _SPLIT_LEVELS[level].finditer(text, lo, hi)]
    if not cuts:
        return _units(text, lo, hi, budget, level + 1, force)
    out: list[tuple[int, int]] = []
    begin = lo
    for end, nxt in cuts + [(hi, hi)]:
        if end > begin:
            out.extend(_units(text, begin, end, budget, level + 1))
        begin = nxt
    return out


def _pack_units(
    units: list[tuple[int, int]], first_budget: int, budget: int, overlap: int
) -> list[tuple[int, int]]:
    """Greedy packing; each piece after the first repeats the previous piece's last unit."""
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        cap = first_budget if not pieces else budget
        j = i + 1
        while j < len(units) and units[j][1] - units[i][0] <= cap:
            j += 1
        pieces.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        last = units[j - 1]
        repeat = j - 1 > i and last[1] - last[0] <= overlap and units[j][1] - last[0] <= budget
        i = j - 1 if repeat else j
    return pieces


def _pack_balanced(
    units: list[tuple[int, int]], first_budget: int, budget: int, overlap: int
) -> list[tuple[int, int]]:
    """Like ``_pack_units`` but with pieces of similar size (no 1,190 + 150 split)."""
    pieces = _pack_units(units, first_budget, budget, overlap)
    if len(pieces) < 2:
        return pieces
    total = units[-1][1] - units[0][0]
    cap = max(total * 5 // (4 * len(pieces)), max(e - s for s, e in units))
    even = _pack_units(units, min(first_budget, cap), min(budget, cap), overlap)
    return even if len(even) <= len(pieces) else pieces


def _split_plain(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """Split a text longer than ``max_chars`` at sentence boundaries, with overlap."""
    units = _units(text, 0, len(text), max_chars)
    return [text[s:e] for s, e in _pack_balanced(units, max_chars, max_chars, max_chars // 4)]


# --------------------------------------------------------------------------
# Emitting passages


@dataclass(slots=True)
class _Draft:
    section: tuple[str, ...]
    kind: str
    start: int
    end: int
    text: str
    row: TableRow | None = None


class _Emitter:
    """Walks the section tree and produces passages no longer than ``max_chars``."""

    def __init__(self, text: str, root: _Node, max_chars: int) -> None:
        self.text = text
        self.max = max_chars
        self.small = max_chars // 3        # siblings this small are packed together
        self.carry_max = max_chars // 4    # headings carried into the next passage
        self.drafts: list[_Draft] = []
        self._index_lines(root)

    # -- lengths: a run of rendered lines is measured without building it

    def _index_lines(self, root: _Node) -> None:
        lines = [l for b in root.blocks() if b.kind != "table" for l in b.lines]
        self.cum = [0]
        self.gap = []
        prev: _Line | None = None
        for k, line in enumerate(lines):
            line.kept = k
            g = 0 if prev is None else len(self._gap(prev.end, line.start))
            self.gap.append(g)
            self.cum.append(self.cum[-1] + g + line.end - line.start)
            prev = line

    def _gap(self, a: int, b: int) -> str:
        """Text between two rendered lines: as in the document unless something was dropped."""
        gap = self.text[a:b]
        return gap if gap.isspace() else "\n"

    def _span(self, first: _Block, last: _Block) -> int:
        i, j = first.lines[0].kept, last.lines[-1].kept
        return self.cum[j + 1] - self.cum[i] - self.gap[i]

    def _render(self, lines: list[_Line], start: int | None = None, end: int | None = None) -> str:
        parts: list[str] = []
        prev = None
        for line in lines:
            s, e = max(line.start, start or 0), min(line.end, end if end is not None else line.end)
            if s >= e:
                continue
            if prev is not None:
                parts.append(self._gap(prev, s))
            parts.append(self.text[s:e])
            prev = e
        return "".join(parts)

    def _reach(self, first: _Block | None, node: _Node) -> int:
        """Length of the text from ``first`` to the end of ``node`` (tables never fit)."""
        if node.has_table:
            return self.max + 1
        last = node.last_block()
        return 0 if first is None or last is None else self._span(first, last)

    def _size(self, node: _Node, carry: list[_Block]) -> int:
        return self._reach(carry[0] if carry else node.first_block(), node)

    # -- output

    def _text(self, section: tuple[str, ...], blocks: list[_Block]) -> None:
        lines = [l for b in blocks for l in b.lines]
        if lines:
            text = self._render(lines)
            self.drafts.append(_Draft(section, "text", lines[0].start, lines[-1].end, text))

    def emit(self, node: _Node, carry: list[_Block] | None = None) -> None:
        carry = carry or []
        if self._size(node, carry) <= self.max:
            self._text(_innermost(node).path, carry + list(node.blocks()))
            return
        carry = self._pack(node.items, node.path, carry, may_carry=bool(node.children))
        self._emit_children(node, carry)

    def _emit_children(self, node: _Node, carry: list[_Block]) -> None:
        """Children in order; small sibling items share a passage under their parent's path."""
        kids = node.children
        i = 0
        while i < len(kids):
            if self._size(kids[i], carry) > self.max:
                self.emit(kids[i], carry)
                carry, i = [], i + 1
                continue
            first = carry[0] if carry else kids[i].first_block()
            total, j = self._size(kids[i], carry), i + 1
            while j < len(kids) and self._packable(kids[i]) and self._packable(kids[j]):
                grown = self._reach(first, kids[j])
                if grown > self.max or (total >= self.small and self._size(kids[j], []) >= self.small):
                    break           # too big, or both sides big enough to stand alone
                total, j = grown, j + 1
            section = _innermost(kids[i]).path if j == i + 1 else node.path
            self._text(section, carry + [b for kid in kids[i:j] for b in kid.blocks()])
            carry, i = [], j
        if carry:
            self._text(node.path, carry)

    def _packable(self, node: _Node) -> bool:
        """Items (1., a), …) may share a passage; articles and parts only if they are
        bare headings (a table of contents, repealed articles)."""
        if node.has_table:
            return False
        return node.rank > _ROMAN or all(b.is_bare for b in node.blocks())

    def _heading_only(self, group: list[_Block]) -> bool:
        """Headings (and a short lead-in line) that should go with the text after them."""
        return (
            bool(group) and group[0].kind == "heading"
            and all(b.kind == "heading" or b.is_lead_in for b in group)
            and self._span(group[0], group[-1]) <= self.carry_max
        )

    def _pack(
        self, items: list[_Block], section: tuple[str, ...], carry: list[_Block], may_carry: bool
    ) -> list[_Block]:
        """Group a node's own blocks; return a trailing heading-only group to carry forward."""
        group = list(carry)
        for block in items:
            if block.kind == "table":
                if any(b.kind != "heading" for b in group):
                    self._text(section, group)
                group = []      # a heading right above a table is already in the rows' path
                self._table(block, section)
                continue
            if group and (block.kind == "basis") != (group[-1].kind == "basis"):
                self._text(section, group)
                group = []
            if group and self._span(group[0], block) > self.max:
                if self._heading_only(group):       # a heading goes with its text
                    self._split(block, section, group)
                    group = []
                    continue
                group = self._flush_before(section, group, block)
            if self._span(block, block) > self.max:
                self._split(block, section, group)
                group = []
            else:
                group.append(block)
        if group and not (may_carry and self._heading_only(group)):
            self._text(section, group)
            group = []
        return group

    def _flush_before(self, section: tuple[str, ...], group: list[_Block], block: _Block) -> list[_Block]:
        """Emit ``group`` because ``block`` does not fit; keep its trailing lead-in lines for the next."""
        k = len(group)
        while k > 1 and group[k - 1].is_lead_in:
            k -= 1
        if k < len(group) and self._span(group[k], block) <= self.max:
            self._text(section, group[:k])
            return group[k:]
        self._text(section, group)
        return []

    def _split(self, block: _Block, section: tuple[str, ...], prefix: list[_Block]) -> None:
        """A paragraph over the limit: pieces cut at sentence boundaries, overlapping."""
        rendered = self._render(block.lines)
        # offsets in ``rendered`` -> document offsets (they differ only after a dropped gap)
        starts: list[tuple[int, int]] = []
        pos = 0
        for k, line in enumerate(block.lines):
            if k:
                pos += len(self._gap(block.lines[k - 1].end, line.start))
            starts.append((pos, line.start))
            pos += line.end - line.start

        def to_doc(offset: int) -> int:
            for r, d in reversed(starts):
                if offset >= r:
                    return d + offset - r
            return block.start

        first_budget = self.max
        if prefix:
            first_budget = self.max - self._span(prefix[0], prefix[-1]) - self.gap[block.lines[0].kept]
        units = _units(rendered, 0, len(rendered), self.max, force=True)
        if prefix and units[0][1] - units[0][0] > first_budget:
            self._text(section, prefix)
            prefix, first_budget = [], self.max
        for k, (s, e) in enumerate(_pack_balanced(units, first_budget, self.max, self.max // 4)):
            ds, de = to_doc(s), to_doc(e - 1) + 1
            text = self._render(block.lines, ds, de)
            start = ds
            if k == 0 and prefix:
                head = [l for b in prefix for l in b.lines]
                text = self._render(head) + self._gap(head[-1].end, ds) + text
                start = head[0].start
            self.drafts.append(_Draft(section, "text", start, de, text))

    def _table(self, block: _Block, section: tuple[str, ...]) -> None:
        caption = block.caption
        shown = caption or (section[-1] if section else "")
        for row in _table_rows(self.text, block):
            path = section + ((caption,) if caption else ()) + ((row.group,) if row.group else ())
            data = _table_row(shown, row)
            rendering = data.text()
            pieces = [rendering] if len(rendering) <= self.max else _split_plain(rendering, self.max)
            for piece in pieces:
                self.drafts.append(_Draft(path, "table_row", row.line.fstart, row.line.fend, piece, data))


# --------------------------------------------------------------------------
# Entry point


def chunk_document(doc: Document, max_chars: int = MAX_CHARS) -> list[Passage]:
    """Passages of ``doc`` in document order; every ``text`` is at most ``max_chars`` long."""
    if max_chars < 100:
        raise ValueError("max_chars must be at least 100")
    text = doc.text
    lines = _split_lines(text)
    _mark_headings(lines, doc.headings)
    posted_end = _mark_furniture(lines)
    blocks = _make_blocks(lines)
    _drop_header(blocks, posted_end, doc.title)
    _drop_closing(blocks)
    root = _build_tree(blocks)
    emitter = _Emitter(text, root, max_chars)
    emitter.emit(root)
    passages = []
    for ordinal, d in enumerate(emitter.drafts):
        assert len(d.text) <= max_chars, (doc.id, ordinal, len(d.text))
        passages.append(Passage(doc.id, ordinal, d.text, SECTION_SEP.join(d.section), d.kind, d.start, d.end, d.row))
    return passages
