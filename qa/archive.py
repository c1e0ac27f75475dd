"""The development archive: what a district's real archive holds, built reproducibly.

Five documents are not an archive. ``qa eval --archive`` evaluates the development
set on an index of:

1. the service's corpus (the five district documents);
2. for each district document, **versions of other years of the same district**
   (``year_variant``): the same text and structure, every year moved by a shift,
   every figure changed. Next year's plan of the same district, with the same
   indicators and other figures, is the hardest distractor a district archive
   holds: it matches every word of the question except the year;
3. real documents from ``../shared/corpora/`` (``distractors``): every provincial
   and city People's Council / Committee document there, plus the national documents
   that share the most vocabulary with the district documents' topics.

The construction is deterministic (seeded by document id and shift), so two builds
of the archive are the same archive. A ``Variant`` remembers where it changed the
text, so the evaluation can translate a labelled answer ("91,5") into the figure
the other year's version states at the same place (``Variant.translate``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qa.config import PROJECT_ROOT
from qa.documents import Document, extract_metadata
from qa.text import fold

ARCHIVE_VERSION = 1
SHARED_CORPUS = PROJECT_ROOT.parent / "shared" / "corpora" / "vn-official-1114.jsonl.gz"
# Shifts in years of each district document's other versions: annual documents get the
# previous year and the next two; a five-year programme its neighbouring terms.
ANNUAL_SHIFTS = (-1, 1, 2)
TERM_SHIFTS = (-5, 5)
NATIONAL_DISTRACTORS = 110
VARIANT_MARK = "--nam-khac"   # "another year": the id suffix of a constructed version

_LOCAL_BODY = re.compile(r"(hội đồng|ủy ban|uỷ ban) nhân dân|hđnd|ubnd", re.IGNORECASE)
_YEAR = re.compile(r"(?<![\d.,])(19[5-9]\d|20\d\d)(?![\d]|,\d)")
# A figure: 3.178,4 — 91,5 — 259.195 — 90 (only the first three forms on their own;
# a bare integer only when a unit or a table cell makes it a figure, see _is_figure).
_NUMBER = re.compile(r"(?<![\w.,/])(\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+,\d+|\d+)(?![\w/]|[.,]\d)")
# Counts that are structure, not figures: "26 chỉ tiêu", "06 Chương trình", "3 nhiệm vụ".
_NOT_UNITS = {"nam", "thang", "ngay", "quy", "gio", "phut", "lan", "khoa", "dieu", "khoan", "muc", "chuong", "chi",
              "nhiem", "giai", "noi", "nhom", "linh", "de"}
_BEFORE_STRUCTURE = re.compile(
    r"((điều|khoản|mục|chương|phần|quý|ngày|tháng|số|lần thứ|khóa|khoá|phụ lục|chương trình|kế hoạch|đề án)\s*|-)$", re.I
)
# Words that make a national document a distractor on the district documents' topics.
_TOPIC_WORDS = (
    "ngân sách", "thu ngân sách", "bảo hiểm y tế", "bảo hiểm xã hội", "giải phóng mặt bằng", "kinh tế - xã hội",
    "chỉ tiêu", "kế hoạch", "giáo dục", "mầm non", "y tế", "xây dựng", "đô thị", "môi trường", "cải cách hành chính",
    "chuyển đổi số", "an ninh trật tự", "hộ nghèo", "việc làm", "đất đai", "quy hoạch", "đầu tư công",
)


def is_local_government(doc: Document) -> bool:
    """Issued by a People's Council or Committee (of a province, city or district)."""
    return bool(_LOCAL_BODY.search(doc.issuer or ""))


@dataclass
class Variant:
    """A constructed version of a district document for another period."""

    original: Document
    shift: int
    document: Document
    # (start, end) in the original text -> replacement, in text order
    replacements: list[tuple[int, int, str]] = field(default_factory=list)

    def translate(self, answer: str) -> list[str]:
        """What the version says where the original says ``answer``: one string per
        occurrence (answers that only cut through a figure are dropped)."""
        out = []
        text = self.original.text
        start = text.find(answer)
        while start >= 0:
            end = start + len(answer)
            pieces, cursor, ok = [], start, True
            for a, b, new in self.replacements:
                if b <= start or a >= end:
                    continue
                if a < start or b > end:  # the answer cuts a figure: no clean translation
                    ok = False
                    break
                pieces += [text[cursor:a], new]
                cursor = b
            if ok:
                out.append("".join(pieces) + text[cursor:end])
            start = text.find(answer, start + 1)
        return list(dict.fromkeys(out))


def _rng(*parts: object) -> random.Random:
    seed = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
    return random.Random(int(seed[:16], 16))


def _parse_number(token: str) -> tuple[float, int, bool]:
    """value, decimals, thousands dots: "3.178,4" -> (3178.4, 1, True)."""
    integer, _, decimals = token.partition(",")
    return float(integer.replace(".", "") + "." + (decimals or "0")), len(decimals), "." in integer


def _format_number(value: float, decimals: int, dots: bool) -> str:
    text = f"{value:,.{decimals}f}"  # "3,178.4"
    integer, _, frac = text.partition(".")
    integer = integer.replace(",", "." if dots else "")
    return integer + ("," + frac if decimals else "")


def _other_figure(token: str, percent: bool, rng: random.Random) -> str:
    value, decimals, dots = _parse_number(token)
    factor = 1 + rng.choice((-1, 1)) * rng.uniform(0.04, 0.25)
    new = value * factor
    if percent and value <= 100:
        new = min(new, 100.0 if value < 100 else 100.0)
    step = 10 ** -decimals
    new = round(new / step) * step
    if abs(new - value) < step / 2:  # every figure changes
        new = value + step if not (percent and value >= 100) else value - step
    return _format_number(max(new, 0.0), decimals, dots or (new >= 10_000 and value >= 10_000))


def _is_figure(text: str, start: int, end: int, token: str) -> tuple[bool, bool]:
    """(is a figure to change, is a percentage)."""
    after = text[end : end + 12]
    percent = after.lstrip().startswith("%")
    if token.startswith("0") and token[1:2].isdigit():
        return False, False  # "Chương trình 02": a name, not a figure
    if _BEFORE_STRUCTURE.search(text[max(0, start - 14) : start]):
        return False, False
    if after.startswith(".") and not after[1:2].isdigit() and ("," not in token and "." not in token):
        return False, False  # "1. Phát triển kinh tế": a list marker
    if "," in token or "." in token or percent:
        return True, percent
    line_start = text.rfind("\n", 0, start) + 1
    if text[start - 1 : start] == "\t" and text[end : end + 1] in ("\t", "\n", "") and line_start != start:
        line_end = text.find("\n", end)
        cells = text[line_start : line_end if line_end >= 0 else len(text)].split("\t")
        # a whole table cell (not the first: that is the row's number; not a row that
        # numbers the columns: "1 2 3 4")
        return not all(c.strip().isdigit() for c in cells), False
    word = re.match(r"\s+(\w+)", after)
    if word and not word[1].isdigit() and fold(word[1]).lower() not in _NOT_UNITS and len(token) <= 7:
        return True, False  # "90 đảng viên", "12 tỷ": a count with its unit
    return False, False


def year_variant(doc: Document, shift: int) -> Variant:
    """``doc`` as the same district would have written it ``shift`` years later
    (earlier when negative): years moved, figures changed, structure kept."""
    text = doc.text
    replacements: list[tuple[int, int, str]] = []
    years = {m.start(): (m.start(), m.end(), str(int(m[1]) + shift)) for m in _YEAR.finditer(text)}
    for m in _NUMBER.finditer(text):
        if m.start() in years:
            continue
        figure, percent = _is_figure(text, m.start(), m.end(), m[1])
        if figure:
            replacements.append((m.start(), m.end(), _other_figure(m[1], percent, _rng(doc.id, shift, m[1]))))
    replacements = sorted(replacements + list(years.values()))
    pieces, cursor = [], 0
    for a, b, new in replacements:
        pieces += [text[cursor:a], new]
        cursor = b
    new_text = "".join(pieces) + text[cursor:]
    new_id = _YEAR.sub(lambda y: str(int(y[1]) + shift), doc.id) + VARIANT_MARK
    meta = extract_metadata(new_text)
    if not meta.get("district"):
        meta["district"] = doc.district
    if not meta.get("issuer"):
        meta["issuer"] = doc.issuer
    version = Document(id=new_id, text=new_text, source=f"{doc.source} (constructed, {shift:+d} years)", **meta)
    return Variant(doc, shift, version, replacements)


def shifts_for(doc: Document) -> tuple[int, ...]:
    years = doc.years
    return TERM_SHIFTS if len(years) >= 3 else ANNUAL_SHIFTS


def variants(corpus: Iterable[Document]) -> list[Variant]:
    return [year_variant(doc, s) for doc in corpus if doc.district for s in shifts_for(doc)]


def _records(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def distractors(path: Path = SHARED_CORPUS, national: int = NATIONAL_DISTRACTORS) -> list[Document]:
    """Every local-government document of the shared corpus, plus the ``national``
    central documents whose text uses the district documents' topic words most
    (per 10,000 characters): the real neighbours of a district archive."""
    from qa.documents import iter_documents

    local, central = [], []
    for doc in iter_documents(path):
        (local if is_local_government(doc) else central).append(doc)
    topic = [fold(w) for w in _TOPIC_WORDS]

    def density(doc: Document) -> float:
        folded = fold(doc.text[:60_000])
        return sum(folded.count(w) for w in topic) / max(len(folded), 1) * 10_000

    central.sort(key=lambda d: (-density(d), d.id))
    return local + central[:national]


@dataclass
class Archive:
    corpus: list[Document]
    variants: list[Variant]
    distractors: list[Document]

    def documents(self) -> Iterator[Document]:
        yield from self.corpus
        for v in self.variants:
            yield v.document
        yield from self.distractors

    def versions_of(self, doc_id: str) -> list[Variant]:
        return [v for v in self.variants if v.original.id == doc_id]

    def signature(self) -> str:
        """Changes whenever what the archive holds changes (its build is then stale)."""
        h = hashlib.sha256(str(ARCHIVE_VERSION).encode())
        for doc in self.documents():
            h.update(doc.id.encode() + b"\0" + hashlib.sha256(doc.text.encode()).digest())
        return h.hexdigest()

    def summary(self) -> dict:
        kinds = Counter("local" if is_local_government(d) else "national" for d in self.distractors)
        return {"corpus": len(self.corpus), "variants": len(self.variants),
                "distractors_local": kinds["local"], "distractors_national": kinds["national"],
                "documents": len(self.corpus) + len(self.variants) + len(self.distractors)}


def build_archive(corpus: Path, shared: Path = SHARED_CORPUS) -> Archive:
    from qa.documents import iter_documents

    docs = list(iter_documents(corpus))
    if not shared.is_file():
        raise FileNotFoundError(f"the archive's real documents are read from {shared}, which is missing")
    return Archive(docs, variants(docs), distractors(shared))


SIGNATURE_FILE = "archive.json"


def archive_settings(settings):
    """The archive's index lives beside the service's, never replacing it."""
    return settings.model_copy(update={"index": Path(settings.index) / "eval" / "archive"})


def open_archive_index(settings, embedder=None, progress: bool = True, archive: Archive | None = None):
    """``(index, archive, built)``: the development archive's index, (re)built when
    what the archive holds, the model or a code version changed."""
    from qa.store import Index, build_index, index_is_current

    archive = archive or build_archive(Path(settings.corpus))
    s = archive_settings(settings)
    signature_file = Path(s.index) / SIGNATURE_FILE
    signature = archive.signature()
    try:
        stored = json.loads(signature_file.read_text())["signature"]
    except (OSError, ValueError, KeyError, TypeError):
        stored = ""
    built = False
    if stored != signature or not index_is_current(s):
        build_index(archive.documents(), s, embedder=embedder, progress=progress)
        signature_file.write_text(json.dumps({"signature": signature, **archive.summary()}, indent=1))
        built = True
    return Index.open(s, embedder), archive, built
