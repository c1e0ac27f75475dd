"""Reading document files: each format's text and headings, JSONL corpora, sidecars, folders.

Every format is turned into the plain-text layout of the ``.txt`` corpus, which is what
the chunker reads: one paragraph a line (or a few hard-wrapped lines), a blank line
between paragraphs, list items one a line (``- …``, ``+ …`` nested, ``1. …``), table
rows one a line with cells joined by TAB. Markup (Markdown ``**``, ``#``, ``|``, links;
Word styles) never reaches the text: what the text cannot say -- this line is a heading
of level 2, this line is set in bold -- is kept beside it as ``Heading`` spans, offsets
into the (normalised) text. Word's automatic numbering ("1.", "a)", bullets), which
python-docx leaves out of a paragraph's text, is written in, as a typist would have.

* ``read_file(path)``: one ``.txt``/``.md``/``.docx``/``.pdf`` file -> ``Layout``
  (normalised text and headings); raises ``DocumentError``.
* ``iter_records(path, errors)``: the ``(line number, record)`` of a BEIR-style JSONL
  corpus (``.jsonl`` or ``.jsonl.gz``), streamed; a bad line is reported, not raised.
* ``find_sidecar(path)`` / ``read_sidecar(sidecar)``: the hand-written metadata next to
  a document file (``x.txt.meta.json`` or ``x.meta.json``).
* ``walk(path, errors)``: the files of a folder to load (recursive, sorted), hidden
  files and sidecars left out; ``document_files(path)``: those of a supported type.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.text import normalize

if TYPE_CHECKING:
    from docx.table import Table
    from docx.text.paragraph import Paragraph
    from markdown_it.token import Token

log = logging.getLogger(__name__)

FILE_SUFFIXES = (".txt", ".md", ".docx", ".pdf")
CORPUS_SUFFIXES = (".jsonl", ".jsonl.gz")
SIDECAR_SUFFIX = ".meta.json"
SUPPORTED = ", ".join(FILE_SUFFIXES + CORPUS_SUFFIXES)
# Parts of a multi-row table header, top to bottom ("Kế hoạch › Năm 2021").
HEADER_SEP = " › "
# Files that are nobody's documents: hidden ones (.git, .DS_Store) and Office lock files.
_HIDDEN_PREFIXES = (".", "~$")


class DocumentError(ValueError):
    """A document (file, JSONL line or sidecar) that cannot be used as it is."""

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        self.path = str(path)
        self.message = message
        self.line = line
        where = self.path if line is None else f"{self.path} line {line}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Heading:
    """A span of the text that its source marks as a heading.

    ``level`` 1-9: a Markdown ``#``…``######`` heading or a Word heading style /
    outline level. ``level`` 0: a paragraph set wholly in bold, which the chunker
    treats as it treats a ``**…**`` line of a ``.txt`` file.
    """

    start: int
    end: int
    level: int


@dataclass
class Layout:
    """A file's text (normalised) and the headings its markup marked."""

    text: str
    headings: list[Heading] = field(default_factory=list)


def report(error: DocumentError, errors: list[DocumentError] | None) -> None:
    """Non-fatal problems go to ``errors``, or to the log when no list is given."""
    if errors is None:
        log.warning("%s", error)
    else:
        errors.append(error)


# ----------------------------------------------------------------- files and folders


def suffix(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".jsonl.gz"):
        return ".jsonl.gz"
    return path.suffix.lower()


def is_sidecar(path: Path) -> bool:
    return path.name.lower().endswith(SIDECAR_SUFFIX)


def walk(path: Path, errors: list[DocumentError] | None = None) -> Iterator[Path]:
    """The files to load at ``path``: the file itself, or a folder's files in sorted order.

    Hidden files and folders, Office lock files and sidecars are left out; every other
    file is yielded, whatever its type, so that the caller reports the ones it cannot
    load. A sub-folder that cannot be read is reported.
    """
    if path.is_file():
        yield path
        return

    def unreadable(exc: OSError) -> None:
        report(DocumentError(exc.filename or path, f"cannot read the folder ({exc.strerror or exc})"), errors)

    files = []
    for folder, subfolders, names in os.walk(path, onerror=unreadable):
        subfolders[:] = [d for d in subfolders if not d.startswith(_HIDDEN_PREFIXES)]
        files += [Path(folder, name) for name in names if not name.startswith(_HIDDEN_PREFIXES)]
    yield from sorted(f for f in files if not is_sidecar(f))


def document_files(path: Path) -> Iterator[Path]:
    """The files at ``path`` that are of a supported type (a single file: itself)."""
    for file in walk(path, errors=[]):
        if file == path or suffix(file) in FILE_SUFFIXES + CORPUS_SUFFIXES:
            yield file


def find_sidecar(path: Path) -> Path | None:
    """``x.txt.meta.json`` (preferred) or ``x.meta.json`` next to ``x.txt``."""
    for candidate in (path.with_name(path.name + SIDECAR_SUFFIX), path.with_name(path.stem + SIDECAR_SUFFIX)):
        if candidate.is_file():
            return candidate
    return None


def read_sidecar(sidecar: Path) -> dict[str, Any]:
    """The JSON object of a sidecar file (its fields are checked by ``qa.metadata``)."""
    try:
        data = json.loads(decode(sidecar, sidecar.read_bytes()))
    except json.JSONDecodeError as exc:
        raise DocumentError(sidecar, f"invalid JSON ({exc.msg}, line {exc.lineno}); ignored") from None
    except OSError as exc:
        raise DocumentError(sidecar, f"cannot read the file ({exc.strerror or exc}); ignored") from None
    if not isinstance(data, dict):
        raise DocumentError(sidecar, "must hold a JSON object of metadata fields; ignored")
    return data


# --------------------------------------------------------------------------- readers


def read_file(path: Path) -> Layout:
    """The text and headings of one document file; ``DocumentError`` if it has none."""
    path = Path(path)
    kind = suffix(path)
    if kind in CORPUS_SUFFIXES:
        raise DocumentError(path, "a JSONL corpus holds many documents; load it with iter_documents")
    if kind not in FILE_SUFFIXES:
        what = f"unsupported file type {kind!r}" if kind else "no file extension, so its type is unknown"
        raise DocumentError(path, f"{what}; supported: {SUPPORTED}")
    if not path.is_file():
        raise DocumentError(path, "no such file")
    try:
        layout = _READERS[kind](path)
    except OSError as exc:
        raise DocumentError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if not layout.text.strip():
        raise DocumentError(path, "empty (no text in it)")
    return layout


def decode(path: Path, data: bytes, line: int | None = None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = data[exc.start]
        raise DocumentError(
            path, f"not UTF-8 text (byte 0x{byte:02x} at position {exc.start}); save it as UTF-8", line
        ) from None


def _text_of(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")  # Windows "Unicode" text files
    return decode(path, data)


def _read_txt(path: Path) -> Layout:
    return Layout(normalize(_text_of(path)))


def _read_pdf(path: Path) -> Layout:
    from pypdf import PdfReader  # imported late: only needed for .pdf files

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(path, "the PDF is password-protected")
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises many unrelated types on corrupt files
        raise DocumentError(path, f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    if not text.strip():
        raise DocumentError(path, "the PDF has no text layer (scanned?); run OCR first")
    return Layout(normalize(text))


class _LayoutWriter:
    """Blocks of lines -> the .txt layout: a blank line between blocks, headings beside.

    Each line is normalised on its own, so the offsets recorded while writing are
    offsets in the final (normalised) text.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.headings: list[Heading] = []

    def block(self, lines: Iterable[str], level: int | None = None) -> None:
        """A paragraph, heading, list or caption; ``level`` marks it as a heading.

        A TAB inside a line stays (as in a .txt file: a row of a table in a list); at
        its ends it goes (a Word paragraph indented by TAB is no table row)."""
        self._write([normalize(line).strip() for line in lines], level)

    def table(self, rows: Iterable[list[str]]) -> None:
        """Table rows, cells joined by TAB (a leading empty cell keeps its TAB)."""
        lines = ["\t".join(" ".join(normalize(cell).split()) for cell in row) for row in rows]
        self._write([line if line.strip() else "" for line in lines], None)

    def _write(self, lines: list[str], level: int | None) -> None:
        text = "\n".join(line for line in lines if line.strip())
        if not text:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        if level is not None:
            self.headings.append(Heading(self.length, self.length + len(text), level))
        self.parts.append(text)
        self.length += len(text)

    def layout(self) -> Layout:
        return Layout("".join(self.parts), self.headings)


# ------------------------------------------------------------------------ Markdown

# YAML front matter of static-site Markdown: not part of the document's text.
_FRONT_MATTER = re.compile(r"\A---\n(?:[\w-]+\s*:.*\n|\s*\n|[ \t-].*\n)*?(?:---|\.\.\.)\n")
_BREAK_TAG = re.compile(r"(?i)<br\s*/?>")


def _read_md(path: Path) -> Layout:
    """Markdown in the .txt layout: headings, bold lines, lists and pipe tables kept as
    structure, their markup dropped."""
    from markdown_it import MarkdownIt  # imported late: only needed for .md files

    # Not normalised before parsing: that would collapse the indentation nesting lists.
    source = _FRONT_MATTER.sub("", _text_of(path).replace("\r\n", "\n"))
    tokens = MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(source)
    writer = _LayoutWriter()
    _md_blocks(tokens, writer)
    return writer.layout()


def _md_blocks(tokens: list[Token], writer: _LayoutWriter) -> None:
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open":
            text, _ = _md_inline(tokens[i + 1])
            writer.block(text.split("\n"), level=int(token.tag[1:]))
            i += 3
        elif token.type == "paragraph_open":
            text, bold = _md_inline(tokens[i + 1])
            writer.block(text.split("\n"), level=0 if bold else None)
            i += 3
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            end = _closing(tokens, i)
            writer.block(_md_list(tokens[i:end + 1], depth=0))
            i = end + 1
        elif token.type == "table_open":
            end = _closing(tokens, i)
            writer.table(_md_table(tokens[i:end + 1]))
            i = end + 1
        elif token.type in ("fence", "code_block"):
            writer.block(token.content.split("\n"))
            i += 1
        else:  # blockquote_open/close (its paragraphs are read as any), hr, html_block: nothing to say
            i += 1


def _closing(tokens: list[Token], i: int) -> int:
    """Index of the token closing the one opened at ``i``."""
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return len(tokens) - 1


def _md_inline(token: Token, in_cell: bool = False) -> tuple[str, bool]:
    """Plain text of an inline token, and whether all of it is in bold."""
    parts: list[str] = []
    strong = 0
    plain = bolded = False
    for child in token.children or []:
        kind = child.type
        if kind == "strong_open":
            strong += 1
        elif kind == "strong_close":
            strong -= 1
        elif kind in ("text", "code_inline"):
            parts.append(child.content)
            if child.content.strip():
                bolded, plain = bolded or strong > 0, plain or strong == 0
        elif kind in ("softbreak", "hardbreak"):
            parts.append(" " if in_cell else "\n")
        elif kind == "html_inline" and _BREAK_TAG.fullmatch(child.content):
            parts.append(" " if in_cell else "\n")
        # emphasis, links (their text is a "text" child), images and other HTML: no text
    return "".join(parts), bolded and not plain


def _md_list(tokens: list[Token], depth: int) -> list[str]:
    """Items one a line as the .txt documents write them: ``- `` (``+ `` nested), ``1. ``."""
    lines: list[str] = []
    marker = ""
    i = 1
    while i < len(tokens) - 1:
        token = tokens[i]
        if token.type == "list_item_open":
            ordered = tokens[0].type == "ordered_list_open"
            marker = f"{token.info}{token.markup} " if ordered else ("- " if depth == 0 else "+ ")
            i += 1
        elif token.type in ("paragraph_open", "heading_open"):
            text, _ = _md_inline(tokens[i + 1])
            item = text.split("\n")
            lines += [marker + item[0], *item[1:]]
            marker = ""  # a second paragraph of the item has no marker
            i += 3
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            end = i + _closing(tokens[i:], 0)
            lines += _md_list(tokens[i:end + 1], depth + 1)
            i = end + 1
        elif token.type == "table_open":
            end = i + _closing(tokens[i:], 0)
            lines += ["\t".join(row) for row in _md_table(tokens[i:end + 1])]
            i = end + 1
        elif token.type in ("fence", "code_block"):
            lines += token.content.split("\n")
            i += 1
        else:
            i += 1
    return lines


def _md_table(tokens: list[Token]) -> list[list[str]]:
    rows: list[list[str]] = []
    for token in tokens:
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline":
            rows[-1].append(_md_inline(token, in_cell=True)[0])
    return rows


# ----------------------------------------------------------------------------- Word

_HEADING_STYLE = re.compile(r"(?i)heading\s*(\d)")
_BODY_OUTLINE = 9  # w:outlineLvl 9 is "body text"


def _read_docx(path: Path) -> Layout:
    import docx  # imported late: only needed for .docx files
    from docx.table import Table

    writer = _LayoutWriter()
    try:
        document = docx.Document(str(path))
        numbering = _Numbering(document)
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                _docx_table(block, writer)
            elif block.text.strip():
                text = numbering.label(block) + block.text
                writer.block(text.split("\n"), level=_docx_heading_level(block))
    except Exception as exc:  # python-docx raises many unrelated types on corrupt files
        raise DocumentError(path, f"not a readable .docx file ({type(exc).__name__}: {exc})") from None
    return writer.layout()


class _Numbering:
    """Word's automatic numbering: the "1.", "a)", "I." and bullets python-docx leaves
    out of a paragraph's text, which the chunker reads structure from."""

    _BULLETS = ("- ", "+ ")  # as the .txt documents write list items, top level and nested

    def __init__(self, document: Any) -> None:
        from docx.oxml.ns import qn

        self.levels: dict[tuple[str, int], tuple[str, str, int]] = {}  # (abstract id, level) -> format, text, start
        self.abstract: dict[str, str] = {}  # numId -> abstract id
        self.starts: dict[tuple[str, int], int] = {}  # (numId, level) -> restart value
        self.counters: dict[str, list[int | None]] = {}
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError):
            return  # a document without numbering definitions
        for abstract in root.findall(qn("w:abstractNum")):
            for lvl in abstract.findall(qn("w:lvl")):
                key = (abstract.get(qn("w:abstractNumId")), int(lvl.get(qn("w:ilvl"), 0)))
                self.levels[key] = (_val(lvl, "w:numFmt", "decimal"), _val(lvl, "w:lvlText", ""),
                                    int(_val(lvl, "w:start", "1")))
        for num in root.findall(qn("w:num")):
            num_id = num.get(qn("w:numId"))
            self.abstract[num_id] = _val(num, "w:abstractNumId", "")
            for override in num.findall(qn("w:lvlOverride")):
                if (start := override.find(qn("w:startOverride"))) is not None:
                    self.starts[num_id, int(override.get(qn("w:ilvl"), 0))] = int(start.get(qn("w:val")))

    def label(self, paragraph: Paragraph) -> str:
        """The paragraph's number or bullet with a space ("2. ", "a) ", "- "), "" if none."""
        found = _num_pr(paragraph)
        if found is None or found[0] not in self.abstract:
            return ""
        num_id, ilvl = found
        level = self._level(num_id, ilvl)
        if level is None:
            return ""
        if level[0] == "bullet":
            return self._BULLETS[min(ilvl, 1)]
        counts = self.counters.setdefault(num_id, [None] * 10)
        counts[ilvl] = self._start(num_id, ilvl) if counts[ilvl] is None else counts[ilvl] + 1
        counts[ilvl + 1:] = [None] * (len(counts) - ilvl - 1)  # a new "1." restarts its "a)"
        text = re.sub(r"%(\d)", lambda m: self._format(num_id, int(m.group(1)) - 1), level[1])
        return f"{text} " if text.strip() else ""

    def _level(self, num_id: str, ilvl: int) -> tuple[str, str, int] | None:
        return self.levels.get((self.abstract[num_id], ilvl))

    def _start(self, num_id: str, ilvl: int) -> int:
        level = self._level(num_id, ilvl)
        return self.starts.get((num_id, ilvl), level[2] if level else 1)

    def _format(self, num_id: str, ilvl: int) -> str:
        level = self._level(num_id, ilvl)
        count = self.counters.get(num_id, [None] * 10)[ilvl] if 0 <= ilvl < 10 else None
        return _number_text(count if count is not None else self._start(num_id, ilvl), level[0] if level else "decimal")


def _val(element: Any, tag: str, default: str) -> str:
    from docx.oxml.ns import qn

    child = element.find(qn(tag))
    return child.get(qn("w:val"), default) if child is not None else default


def _num_pr(paragraph: Paragraph) -> tuple[str, int] | None:
    """(numId, level) of a numbered paragraph, set on it or by its style; None if not numbered."""
    ppr_list = [paragraph._p.pPr]
    style = paragraph.style
    while style is not None:
        ppr_list.append(style.element.pPr)
        style = style.base_style
    for ppr in ppr_list:
        num_pr = ppr.numPr if ppr is not None else None
        if num_pr is not None and num_pr.numId is not None:
            num_id = str(num_pr.numId.val)
            ilvl = num_pr.ilvl.val if num_pr.ilvl is not None else 0
            return (None if num_id == "0" else (num_id, min(int(ilvl), 8)))  # numId 0: numbering switched off
    return None


_ROMAN = ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
          (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))


def _number_text(n: int, fmt: str) -> str:
    if fmt in ("upperRoman", "lowerRoman"):
        roman = ""
        for value, letters in _ROMAN:
            while n >= value:
                roman, n = roman + letters, n - value
        return roman if fmt == "upperRoman" else roman.lower()
    if fmt in ("lowerLetter", "upperLetter") and n >= 1:
        letter = chr(ord("a") + (n - 1) % 26) * ((n - 1) // 26 + 1)
        return letter if fmt == "lowerLetter" else letter.upper()
    if fmt == "decimalZero":
        return f"{n:02d}"
    return str(n)


def _docx_heading_level(paragraph: Paragraph) -> int | None:
    """1-9 for a heading (style or outline level), 0 for a paragraph wholly in bold."""
    from docx.oxml.ns import qn

    style = paragraph.style
    if style is not None and (style.name or "").lower() == "caption":
        return None  # a table's caption, read as such by the chunker
    outline = paragraph._p.pPr.find(qn("w:outlineLvl")) if paragraph._p.pPr is not None else None
    while outline is None and style is not None:
        name = style.name or ""
        if name.lower() == "title":
            return 1
        if match := _HEADING_STYLE.fullmatch(name):
            return int(match.group(1))
        ppr = style.element.pPr
        outline = ppr.find(qn("w:outlineLvl")) if ppr is not None else None
        style = style.base_style
    if outline is not None and (value := int(outline.get(qn("w:val"), _BODY_OUTLINE))) < _BODY_OUTLINE:
        return value + 1
    return 0 if _docx_all_bold(paragraph) else None


def _docx_all_bold(paragraph: Paragraph) -> bool:
    from docx.text.hyperlink import Hyperlink

    runs = []
    for item in paragraph.iter_inner_content():
        runs += item.runs if isinstance(item, Hyperlink) else [item]
    runs = [run for run in runs if run.text.strip()]
    style_bold = _style_bold(paragraph.style)
    return bool(runs) and all(run.bold or (run.bold is None and style_bold) for run in runs)


def _style_bold(style: Any) -> bool:
    while style is not None:
        if style.font.bold is not None:
            return bool(style.font.bold)
        style = style.base_style
    return False


def _docx_table(table: Table, writer: _LayoutWriter) -> None:
    """A Word table in the .txt layout: its title row as a caption line above it, a
    multi-row header flattened into one header row, merged cells' text written once."""
    grid, texts = _docx_grid(table)
    if not grid:
        return
    width = max(len(row) for row in grid)
    grid = [row + [None] * (width - len(row)) for row in grid]
    marked = _repeated_header_rows(table)
    if len(grid) > 1 and width > 1 and len({id(tc) for tc in grid[0]}) == 1 and grid[0][0] is not None:
        writer.block([texts[id(grid[0][0])]])  # one cell across the table: its title
        grid, marked = grid[1:], max(0, marked - 1)
    depth = _header_depth(grid, texts, marked)
    header = [_header_text(grid, texts, depth, col) for col in range(width)] if depth > 1 else []
    first = depth if header else 0
    rows = [header] if header else []
    rows += [[_data_cell(grid, texts, r, c) for c in range(width)] for r in range(first, len(grid))]
    writer.table(rows)


def _docx_grid(table: Table) -> tuple[list[list[Any]], dict[int, str]]:
    """The table's layout grid: the ``w:tc`` element at each position (the same one
    repeated where cells are merged; None where a row starts late or ends early), and
    each cell's text by ``id`` of its element."""
    grid, texts = [], {}
    for row in table.rows:
        cells = row.cells
        for cell in cells:
            texts.setdefault(id(cell._tc), " ".join(cell.text.split()))
        grid.append([None] * row.grid_cols_before + [cell._tc for cell in cells] + [None] * row.grid_cols_after)
    return grid, texts


def _repeated_header_rows(table: Table) -> int:
    """Leading rows marked "repeat as header row at the top of each page"."""
    from docx.oxml.ns import qn

    count = 0
    for row in table.rows:
        trPr = row._tr.trPr
        if trPr is None or trPr.find(qn("w:tblHeader")) is None:
            break
        count += 1
    return count


_DATA_CELL = re.compile(r"[-+]?\d[\d.,]*\s*%?")  # "2.150", "91,5", "12%": a value, not a heading


def _header_depth(grid: list[list[Any]], texts: dict[int, str], marked: int) -> int:
    """How many rows the header takes: the rows marked as header, and the rows a merged
    header cell spans into -- down (``TT`` over two rows) or across (``Chỉ tiêu``
    over two columns, its sub-headings in the row below) -- unless that row holds values."""
    depth = 1
    while depth < min(3, len(grid) - 1):
        above, below = grid[depth - 1], grid[depth]
        spans_down = any(a is not None and a is b for a, b in zip(above, below))
        spans_across = any(a is not None and a is b for a, b in zip(above, above[1:]))
        values = any(tc is not None and _DATA_CELL.fullmatch(texts[id(tc)]) for tc in below[1:])
        if depth >= marked and (values or not (spans_down or spans_across)):
            break
        depth += 1
    return max(depth, min(marked, len(grid) - 1))


def _header_text(grid: list[list[Any]], texts: dict[int, str], depth: int, col: int) -> str:
    """A column's header parts top to bottom ("Kế hoạch › Năm 2021"), each cell once."""
    parts: list[str] = []
    seen: set[int] = set()
    for r in range(depth):
        tc = grid[r][col]
        if tc is None or id(tc) in seen:
            continue
        seen.add(id(tc))
        if texts[id(tc)] and texts[id(tc)] not in parts:
            parts.append(texts[id(tc)])
    return HEADER_SEP.join(parts)


def _data_cell(grid: list[list[Any]], texts: dict[int, str], r: int, c: int) -> str:
    """A merged cell's text in its first row and column only, as a .txt table writes it."""
    tc = grid[r][c]
    if tc is None or (c > 0 and grid[r][c - 1] is tc) or (r > 0 and grid[r - 1][c] is tc):
        return ""
    return texts[id(tc)]


_READERS = {".txt": _read_txt, ".md": _read_md, ".docx": _read_docx, ".pdf": _read_pdf}


# ----------------------------------------------------------------------- JSONL corpora


def iter_records(path: Path, errors: list[DocumentError] | None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream a BEIR-style corpus: ``(line number, {"_id"|"id", "title", "text", ...})``.

    A bad line (not UTF-8, not JSON, not an object) is reported and skipped; so is a
    file that cannot be read on, and a file with no records at all.
    """
    opener = gzip.open if suffix(path) == ".jsonl.gz" else open
    line = 0
    records = 0
    try:
        with opener(path, "rb") as lines:
            for line, raw in enumerate(lines, start=1):
                if not raw.strip():
                    continue
                records += 1
                try:
                    yield line, _record(path, line, raw)
                except DocumentError as exc:
                    report(exc, errors)
    except (OSError, EOFError) as exc:  # unreadable, not gzip, or truncated
        where = f"after line {line}" if line else "from the start"
        report(DocumentError(path, f"unreadable {where} ({exc})"), errors)
        return
    if not records:
        report(DocumentError(path, "empty (no records in it)"), errors)


def _record(path: Path, line: int, raw: bytes) -> dict[str, Any]:
    try:
        record = json.loads(decode(path, raw, line))
    except json.JSONDecodeError as exc:
        raise DocumentError(path, f"invalid JSON ({exc.msg} at column {exc.colno})", line) from None
    if not isinstance(record, dict):
        raise DocumentError(path, "not a JSON object", line)
    return record
