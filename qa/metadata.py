"""Metadata read from a document's text, and metadata given by hand.

* ``extract_metadata(text)``: type, number, issuer, district, date, period, years and
  title read from a document's (normalised) text; no per-document hand-typed values.
* ``clean_fields(data, strict)``: the metadata fields of a JSONL record or a sidecar
  file, checked and normalised.
* ``merge(meta, overrides)``: extracted metadata with given fields on top, derived
  fields (``years``, ``district``) kept consistent.

Nothing here knows about files: ``qa.loaders`` reads them, ``qa.documents`` puts the
text and its metadata together into a ``Document``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from qa.periods import document_period, years_of
from qa.text import normalize

# Fields that metadata (extracted, record or sidecar) can set on a Document.
META_FIELDS = ("title", "type", "number", "issuer", "district", "date", "period", "years")


class MetadataError(ValueError):
    """Given metadata (a sidecar's or a record's fields) that cannot be used; plain words."""


# --------------------------------------------------------------------------- API


def extract_metadata(text: str) -> dict[str, Any]:
    """Metadata read from a document's normalised text ("" / [] where not found)."""
    head, tail = _head(text), text[-_TAIL_CHARS:]
    news = _is_news(head)
    number = _number(head) or _number(tail, dated=True)
    title = _news_headline(head) if news else _title(head)
    issuer = _issuer(head, tail)
    district = _district_of(issuer)
    if not issuer:
        # No formal header (news posts): the district the text keeps talking about,
        # and its People's Committee if the text names it as the author of what it reports.
        level, district = _most_mentioned_district(text)
        if district and _UBND_MENTION.search(text):
            issuer = f"UBND {level} {district}"
    date = _date(head, tail)
    # what the document is about: its title's first period, relative words read in its year
    period = document_period(title, text, reference_year=int(date[:4]) if date else None)
    return {
        "title": title,
        "type": "tin bài" if news else _doc_type(head, tail, number),
        "number": number,
        "issuer": issuer or _labelled(head, _ISSUER_LABEL),
        "district": district,
        "date": date,
        "period": period.label if period else "",
        "years": sorted(period.years) if period else [],
    }


def clean_fields(data: dict[str, Any], strict: bool) -> dict[str, Any]:
    """Metadata fields of a record or sidecar, normalised; empty values dropped.

    Strict (sidecars, written by hand): unknown keys and bad values are errors.
    Lenient (corpus records): other keys are the record's own business, and a bad
    value is ignored in favour of the extracted one.
    """
    unknown = sorted(set(data) - set(META_FIELDS))
    if strict and unknown:
        raise MetadataError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(META_FIELDS)}")
    fields: dict[str, Any] = {}
    for key in META_FIELDS:
        value = data.get(key)
        if value in (None, "", []):
            continue
        try:
            fields[key] = _clean_value(key, value)
        except ValueError as exc:
            if strict:
                raise MetadataError(f"field {key!r}: {exc}") from None
    return fields


def _clean_value(key: str, value: Any) -> Any:
    if key == "years":
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ValueError("must be a list of years (integers)")
        return sorted(set(values))
    if not isinstance(value, str):
        raise ValueError("must be a string")
    value = " ".join(normalize(value).split())
    if key == "date":
        iso = _iso_from_text(value)
        if not iso:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
        return iso
    return value.lower() if key == "type" else value


def merge(meta: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = {**meta, **overrides}
    # Keep derived fields consistent with an overridden source field.
    if "period" in overrides and "years" not in overrides:
        merged["years"] = years_of(merged["period"])
    if "issuer" in overrides and "district" not in overrides:
        merged["district"] = _district_of(merged["issuer"]) or meta["district"]
    return merged


# ------------------------------------------------------------- metadata: text regions

_HEAD_CHARS = 8000   # the header (issuer, number, place and date, title) is at the top ...
_TAIL_CHARS = 3000   # ... or in the signature / authentication block at the end
# Where the header stops: the legal bases ("Căn cứ ..."), the first article, or a
# letter's addressee (web pages put their own furniture after short letters).
_BODY_START = re.compile(r"(?m)^[\s*_]*(?:Căn cứ|Điều 1\b|Kính gửi)")


def _head(text: str) -> str:
    head = text[:_HEAD_CHARS]
    match = _BODY_START.search(head)
    return head[: match.start()] if match else head


def _clean_line(line: str) -> str:
    """A line without markdown emphasis, table pipes or separator rules."""
    line = re.sub(r"[*_#|]+|[-–—=.…]{3,}", " ", line)  # "QUỐC HỘI -------" -> "QUỐC HỘI"
    return " ".join(line.split())


def _lines(region: str) -> list[str]:
    return [_clean_line(line) for line in region.split("\n")]


def _labelled(region: str, label: str) -> str:
    """A "**Label:** | value" field of a document page's metadata table."""
    match = re.search(rf"{label}\s*:[\s*|]*([^\n|*]+)", region)
    return " ".join(match.group(1).split()) if match else ""


# -------------------------------------------------------------------- metadata: type

# Title lines of official documents, in upper case ("NGHỊ QUYẾT", "BÁO CÁO TÓM TẮT").
_TYPES = (
    "văn bản hợp nhất", "thông tư liên tịch", "nghị quyết", "quyết định", "nghị định",
    "thông tư", "bộ luật", "luật", "pháp lệnh", "hiến pháp", "chỉ thị", "kế hoạch",
    "báo cáo", "thông báo", "thông cáo", "công văn", "công điện", "tờ trình",
    "chương trình", "hướng dẫn", "kết luận", "quy định", "quy chế", "điều lệ", "đề án",
    "biên bản", "lệnh",
)
# The type code of a document number ("21/NQ-HĐND", "13/2021/TT-BLĐTBXH").
_NUMBER_CODES = {
    "NQ": "nghị quyết", "QĐ": "quyết định", "NĐ": "nghị định", "TT": "thông tư",
    "TTLT": "thông tư liên tịch", "CT": "chỉ thị", "KH": "kế hoạch", "BC": "báo cáo",
    "TB": "thông báo", "CĐ": "công điện", "TTr": "tờ trình", "CTr": "chương trình",
    "HD": "hướng dẫn", "KL": "kết luận", "VBHN": "văn bản hợp nhất", "L": "luật",
}
_VBHN = re.compile(r"(?m)^[\s*]*(?:XÁC THỰC )?VĂN BẢN HỢP NHẤT\b")
# The preamble of a consolidated text: "Luật ... số 84/2015/QH13 ..., được sửa đổi, bổ sung bởi:"
_CONSOLIDATED = re.compile(r"được\s+sửa\s+đổi,\s+bổ\s+sung\s+bởi\s*:")
_ABOUT = re.compile(r"(?m)^[\s*_]*[Vv]/[Vv]\b")  # "V/v ..." (về việc): the subject line of a letter
_TYPE_LABEL = r"Loại văn bản"


def _type_line(line: str) -> tuple[str, str] | None:
    """``("nghị quyết", rest)`` if ``line`` is an upper-case document-type title line."""
    if not line or line != line.upper() or not re.search(r"[^\W\d_]", line):
        return None
    for name in _TYPES:
        upper = name.upper()
        if line == upper or line.startswith(upper + " "):
            return name, line[len(upper):].strip(" :-")
    return None


def _type_lines(head: str) -> Iterator[tuple[int, str, str, list[str]]]:
    """(line index, type, rest of the line, all lines) of each type title line.

    A title split over two lines ("QUYẾT" / "ĐỊNH") is joined first.
    """
    lines = _lines(head)
    for i, line in enumerate(lines):
        found = _type_line(line)
        if found is None and i + 1 < len(lines) and line and line == line.upper():
            found = _type_line(f"{line} {lines[i + 1]}")
            if found and found[1] == lines[i + 1]:
                found = None  # the next line did not complete a type word
            elif found:
                lines[i + 1] = ""  # consumed
        if found:
            yield i, found[0], found[1], lines


def _doc_type(head: str, tail: str, number: str) -> str:
    code = _number_code(number)
    if code == "văn bản hợp nhất" or _VBHN.search(head) or _VBHN.search(tail) or _CONSOLIDATED.search(head):
        return "văn bản hợp nhất"  # a consolidation carries its original's title line
    type_line = next(_type_lines(head), None)
    about = _ABOUT.search(head)
    if about and (type_line is None or head.count("\n", 0, about.start()) < type_line[0]):
        return "công văn"  # a letter's "V/v" subject comes before any other title line
    if type_line:
        return type_line[1]
    labelled = _labelled(head, _TYPE_LABEL).lower()
    return labelled if labelled in _TYPES else code


def _number_code(number: str) -> str:
    for part in re.split(r"[/-]", number)[1:]:
        if part in _NUMBER_CODES:
            return _NUMBER_CODES[part]
    return ""


# ------------------------------------------------------------------ metadata: number

# "Số: 21/NQ-HĐND", "Số: 01 /NQ-HĐND", "Luật số: 11/2012/QH13", "Nghị quyết số: 17/2022/UBTVQH15",
# "**Số hiệu:** | 5721/QĐ-UBND"
# (Not "Mẫu số: 01/BC": the number of a form attached to the document.)
_NUMBER = re.compile(
    r"(?m)^[\s*|#_]*(?!Mẫu)(?:[^\W\d_]+[ \t]+){0,2}[Ss]ố(?:\s+hiệu)?\s*:[\s*|_]*"
    r"(\d+[\w.]*(?:\s*[/-]\s*[A-ZĐ0-9][\w.&]*)+)"
)


def _number(region: str, dated: bool = False) -> str:
    """The first document number in ``region``.

    ``dated``: only a number followed by its place and date (a signature or
    authentication block at the end, not a form in an appendix).
    """
    for match in _NUMBER.finditer(region):
        number = re.sub(r"\s+", "", match.group(1)).rstrip(".")
        if not re.search(r"[A-ZĐ]", number):
            continue  # a real number has a type/issuer code, not just digits
        if dated and not _PLACE_DATE.search(region, match.end(), match.end() + 300):
            continue
        return number
    return ""


# -------------------------------------------------------------------- metadata: date

_SEP = r"[\s*]+"  # words of a date may be split over lines or wrapped in markdown
_DMY = rf"[Nn]gày{_SEP}(\d{{1,2}}){_SEP}tháng{_SEP}(\d{{1,2}}){_SEP}năm{_SEP}(\d{{4}})"
# "Bắc Từ Liêm, ngày 18 tháng 12 năm 2020": the place name's last word, a comma, the date.
_PLACE_DATE = re.compile(rf"(\w+),{_SEP}{_DMY}")
# Resolutions: "... thông qua ngày 18/12/2020" / "thông qua ngày 10 tháng 7 năm 2025".
_ADOPTED = re.compile(rf"thông qua{_SEP}(?:{_DMY}|ngày (\d{{1,2}})/(\d{{1,2}})/(\d{{4}}))")
_POSTED = re.compile(r"Ngày đăng:?\s*(\d{1,2})/(\d{1,2})/(\d{4})")  # news post furniture
_DATE_LABEL = r"Ngày ban hành"


def _iso(year: int | str, month: int | str, day: int | str) -> str:
    try:
        return dt.date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return ""


def _iso_from_text(value: str) -> str:
    """ISO date from "2020-12-18" or "18/12/2020" ("" if neither)."""
    if match := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", value):
        return _iso(*match.groups())
    if match := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value):
        day, month, year = match.groups()
        return _iso(year, month, day)
    return ""


def _place_date(region: str) -> str:
    for match in _PLACE_DATE.finditer(region):
        place, day, month, year = match.groups()
        # A place name ("Hà Nội", "Quận 1"), not a clause ending in a common word.
        if (place[0].isupper() or place.isdigit()) and (iso := _iso(year, month, day)):
            return iso
    return ""


def _adopted(region: str) -> str:
    match = _ADOPTED.search(region)
    if not match:
        return ""
    day, month, year = (g for g in match.groups() if g)
    return _iso(year, month, day)


def _date(head: str, tail: str) -> str:
    if iso := _place_date(head):
        return iso
    if match := _POSTED.search(head):
        day, month, year = match.groups()
        return _iso(year, month, day)
    return _iso_from_text(_labelled(head, _DATE_LABEL)) or _place_date(tail) or _adopted(tail)


# ------------------------------------------------------------------- metadata: title

_NEWS_FURNITURE = re.compile(r"(?m)^\s*Ngày đăng\b|View count")
# Lines that end a title's subject: legal bases, the enacting body, notes in brackets.
_SUBJECT_END = re.compile(
    r"^(?:Căn cứ|Kính gửi|\(|HỘI ĐỒNG|[ỦU][YỶ] BAN|CHỦ TỊCH|BỘ TRƯỞNG|THỦ TƯỚNG|QUỐC HỘI|CHÍNH PHỦ)"
)
_MOTTO = re.compile(r"CỘNG H[OÒ]À|Độc lập")
_NAME_TYPES = {"luật", "bộ luật", "pháp lệnh"}  # their subject is a name: "Luật Doanh nghiệp"
_MAX_SUBJECT_LINES = 6


def _is_news(head: str) -> bool:
    return bool(_NEWS_FURNITURE.search(head))


def _news_headline(head: str) -> str:
    """The line just above the "Ngày đăng ... | View count" line."""
    lines = head.split("\n")
    for i, line in enumerate(lines):
        if _NEWS_FURNITURE.search(line):
            before = [_clean_line(text) for text in lines[:i]]
            return next((text for text in reversed(before) if text), "")
    return ""


def _title(head: str) -> str:
    for index, name, rest, lines in _type_lines(head):
        if name == "văn bản hợp nhất":
            continue  # banner above the consolidated document's own title line
        subject = _subject(lines, index + 1)
        if name in _NAME_TYPES:  # "LUẬT GIÁ": the rest of the line is the law's name
            return _compose_title(name, " ".join(filter(None, [rest, subject])))
        # "BÁO CÁO TÓM TẮT": the rest of the line qualifies the type.
        return _compose_title(" ".join(filter(None, [name, rest.lower()])), subject)
    if match := _ABOUT.search(head):  # an official letter: "V/v ..."
        lines = _lines(head[match.end():])
        return _compose_title("công văn", "về " + " ".join(filter(None, [lines[0], _subject(lines, 1, skip=0)])))
    # Otherwise the first line of some length that is not the national motto.
    return next((line for line in _lines(head) if len(line.split()) >= 3 and not _MOTTO.match(line)), "")[:200]


def _subject(lines: list[str], start: int, skip: int = 3) -> str:
    """The subject lines after a type title line, up to a blank line or the body.

    A line after a blank line continues the subject if it starts in lower case or
    with a number ("... an ninh" / "6 tháng cuối năm 2020").
    """
    parts: list[str] = []
    i = start
    while i < len(lines) and not lines[i] and i < start + skip:
        i += 1  # blank lines between the type line and the subject
    while i < len(lines) and len(parts) < _MAX_SUBJECT_LINES:
        line = lines[i]
        if not line:
            following = next((l for l in lines[i + 1 : i + 3] if l), "")
            if not (following[:1].islower() or re.match(r"\d+ ", following)):
                break
        elif _SUBJECT_END.match(line) or _type_line(line) or _PLACE_DATE.search(line):
            break
        else:
            parts.append(line)
        i += 1
    return " ".join(parts)


def _compose_title(name: str, subject: str) -> str:
    """ "Nghị quyết" + "Về kế hoạch ..." -> "Nghị quyết về kế hoạch ..." """
    about = re.match(r"(?:[Vv]/[Vv]|[Vv]ề)\b\s*", subject)  # "V/v ..." is short for "về việc"
    if about:
        subject = subject[about.end():]
    if subject and subject == subject.upper():
        subject = subject.lower()  # an all-caps subject: sentence case
    if about:
        subject = f"về {subject}"
    words = subject.split()
    if name in _NAME_TYPES and words:
        subject = subject[:1].upper() + subject[1:]
    elif len(words) > 1 and words[1][:1].islower():
        subject = subject[:1].lower() + subject[1:]  # not a proper name ("Hà Nội ...")
    return f"{name[:1].upper()}{name[1:]} {subject}".strip()[:300]


# ------------------------------------------------------------ metadata: issuer, district

_LEVELS = {"QUẬN": "quận", "HUYỆN": "huyện", "THỊ XÃ": "thị xã", "THÀNH PHỐ": "thành phố",
           "TỈNH": "tỉnh", "PHƯỜNG": "phường", "XÃ": "xã", "THỊ TRẤN": "thị trấn"}
_DISTRICT_LEVELS = ("quận", "huyện", "thị xã")
# "HỘI ĐỒNG NHÂN DÂN QUẬN BẮC TỪ LIÊM", "**ỦY BAN NHÂN DÂN **\nTHÀNH PHỐ CẦN THƠ"; a TAB ends the name
# (a Word header table: "ỦY BAN NHÂN DÂN QUẬN TÂY HỒ<TAB>CỘNG HÒA XÃ HỘI …")
_LOCAL_BODY = re.compile(
    rf"(HỘI{_SEP}ĐỒNG{_SEP}NHÂN{_SEP}DÂN|HĐND|(?:ỦY|UỶ){_SEP}BAN{_SEP}NHÂN{_SEP}DÂN|UBND){_SEP}"
    rf"(QUẬN|HUYỆN|THỊ{_SEP}XÃ|THÀNH{_SEP}PHỐ|TỈNH|PHƯỜNG|XÃ|THỊ{_SEP}TRẤN)[ \t]+([^\n*\t]+)(?:\n([^\n*\t]*))?"
)
_NOT_PLACE = {"KHÓA", "KHOÁ", "KỲ", "NHIỆM", "TM.", "KT."}  # "... BẮC TỪ LIÊM KHÓA II"
_CENTRAL_BODIES = {"QUỐC HỘI": "Quốc hội", "CHÍNH PHỦ": "Chính phủ",
                   "THỦ TƯỚNG CHÍNH PHỦ": "Thủ tướng Chính phủ", "VĂN PHÒNG CHÍNH PHỦ": "Văn phòng Chính phủ"}
_UBND_MENTION = re.compile(r"\b(?:UBND|HĐND ?& ?UBND|Ủy ban nhân dân) (?:[Qq]uận|[Hh]uyện|[Tt]hị xã)\b")
_DISTRICT_MENTION = re.compile(r"\b([Qq]uận|[Hh]uyện|[Tt]hị xã)[ ]+(\w+(?:[ ]+\w+){0,3})")
_ISSUER_LABEL = r"(?:Nơi|Cơ quan) ban hành"


def _issuer(head: str, tail: str) -> str:
    """The issuing body from the header, else from the signature block."""
    return _local_body(head) or _central_body(head) or _local_body(tail)


def _local_body(region: str) -> str:
    for match in _LOCAL_BODY.finditer(region):
        body, level, rest, next_line = match.groups()
        place = _place_name(rest.split(",")[0])
        if len(place.split()) == 1 and next_line and len(next_line.split()) == 1:
            # "THÀNH PHỐ HÀ" / "NỘI": a name wrapped onto the next line.
            place = f"{place} {_place_name(next_line)}".strip()
        if place:
            short = "HĐND" if body.startswith("H") else "UBND"
            return f"{short} {_LEVELS[' '.join(level.split())]} {place}"
    return ""


def _place_name(upper: str) -> str:
    """Title-cased leading upper-case words: "BẮC TỪ LIÊM KHÓA II" -> "Bắc Từ Liêm"."""
    words = []
    for word in upper.split():
        if word in _NOT_PLACE or not (word.isupper() or word.isdigit()):
            break
        words.append(word.capitalize())
    return " ".join(words)


def _central_body(head: str) -> str:
    lines = [line for line in _lines(head) if line]
    for i, line in enumerate(lines[:12]):
        if line in _CENTRAL_BODIES:
            return _CENTRAL_BODIES[line]
        if line.startswith("BỘ ") and line == line.upper() and not _type_line(line):
            # "BỘ LAO ĐỘNG - THƯƠNG BINH" / "VÀ XÃ HỘI" is one name over two lines.
            if i + 1 < len(lines) and lines[i + 1].startswith("VÀ "):
                line = f"{line} {lines[i + 1]}"
            return _ministry_name(line)
    return ""


def _ministry_name(upper: str) -> str:
    """ "BỘ KẾ HOẠCH VÀ ĐẦU TƯ" -> "Bộ Kế hoạch và Đầu tư" (each part after "và", "-", "," capitalised)."""
    words = upper.lower().split()
    out = []
    for i, word in enumerate(words):
        starts_part = i <= 1 or words[i - 1] in {"và", "-"} or words[i - 1].endswith(",")
        out.append(word.capitalize() if starts_part and word not in {"và", "-"} else word)
    return " ".join(out)


def _district_of(issuer: str) -> str:
    match = re.search(rf"\b(?:{'|'.join(_DISTRICT_LEVELS)}) (.+)$", issuer)
    return match.group(1) if match else ""


def _most_mentioned_district(text: str) -> tuple[str, str]:
    """("quận", "Tây Hồ"): the district named most often (at least twice), or ("", "")."""
    names: Counter[tuple[str, str]] = Counter()
    for match in _DISTRICT_MENTION.finditer(text):
        words = []
        for word in match.group(2).split():
            if not (word[:1].isupper() or (word.isdigit() and not words)):
                break  # "quận Tây Hồ phát triển": the name ends at the first lower-case word
            words.append(word)
        if words:
            names[match.group(1).lower(), " ".join(words)] += 1
    if not names:
        return "", ""
    (level, name), count = names.most_common(1)[0]
    return (level, name) if count >= 2 else ("", "")

