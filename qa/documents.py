"""Documents: what one is, and loading them with their metadata.

Public API:

* ``Document``: a document's normalised text, its metadata and its headings.
* ``load_document(path)``: one ``.txt``/``.md``/``.docx``/``.pdf`` file -> ``Document``.
* ``iter_documents(path, errors)``: a file or a folder (recursive, sorted), including
  JSONL corpora (BEIR format, ``.jsonl`` or ``.jsonl.gz``), streamed one document at a
  time. A file or line that does not load is reported and the others still load.
* ``extract_metadata(text)`` (from ``qa.metadata``): metadata read from the text.

Reading each file format is ``qa.loaders``' job (which turns Markdown and Word into the
plain-text layout of the ``.txt`` files); reading metadata from text is ``qa.metadata``'s.

Where metadata comes from, weakest first: what ``extract_metadata`` reads from the
text, then a JSONL record's own non-empty fields, then a sidecar file next to a
document file: ``x.txt.meta.json`` (preferred) or ``x.meta.json``, a JSON object with
any of the fields in ``META_FIELDS``. Overriding ``period`` recomputes ``years`` and
overriding ``issuer`` recomputes ``district`` unless those are given too. Sidecars
apply to document files, not to the records of a JSONL corpus.

Problems are ``DocumentError``s naming the file (and line). Fatal ones (the file
cannot be read at all) raise from ``load_document``; in ``iter_documents`` every file
that does not load -- of a type not supported (a ``.csv``), unreadable, empty -- goes
to the ``errors`` list, or to the log as a warning when no list is given; hidden files
and sidecars are not documents and are passed over quietly. A malformed sidecar (bad
JSON, unknown field, wrong value) is non-fatal: it is reported and the document loads
with its extracted metadata, so one typo never drops a document from the index.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qa.loaders import (
    CORPUS_SUFFIXES,
    FILE_SUFFIXES,
    SIDECAR_SUFFIX,
    DocumentError,
    Heading,
    document_files,
    find_sidecar,
    iter_records,
    read_file,
    read_sidecar,
    report,
    suffix,
    walk,
)
from qa.metadata import META_FIELDS, MetadataError, clean_fields, extract_metadata, merge
from qa.text import normalize

__all__ = [
    "CORPUS_SUFFIXES", "FILE_SUFFIXES", "META_FIELDS", "SIDECAR_SUFFIX",
    "Document", "DocumentError", "Heading", "extract_metadata", "iter_documents", "load_document",
]

# Older names, still imported by qa.store.
_document_files = document_files
_suffix = suffix


@dataclass
class Document:
    id: str                      # file stem, or the record id of a JSONL corpus
    text: str                    # normalised with qa.text.normalize; no markup
    title: str = ""
    type: str = ""               # "nghị quyết", "báo cáo", "tin bài", ... ("" if unknown)
    number: str = ""             # e.g. "21/NQ-HĐND"
    issuer: str = ""             # e.g. "HĐND quận Bắc Từ Liêm"
    district: str = ""           # e.g. "Bắc Từ Liêm"
    date: str = ""               # ISO date, "" if unknown
    period: str = ""             # e.g. "2021", "6 tháng cuối năm 2020", "2020-2025"
    years: list[int] = field(default_factory=list)  # years the period covers
    source: str = ""             # path or record origin
    # Spans of ``text`` its source file marked as headings (Markdown, Word); empty for
    # plain text, whose structure the chunker reads from the text itself.
    headings: list[Heading] = field(default_factory=list)


def load_document(path: Path, errors: list[DocumentError] | None = None) -> Document:
    """Read one document file; raise ``DocumentError`` if it cannot be used.

    ``errors`` only receives non-fatal problems (a malformed sidecar).
    """
    path = Path(path)
    layout = read_file(path)
    meta = extract_metadata(layout.text)
    sidecar = find_sidecar(path)
    if sidecar is not None:
        try:
            meta = merge(meta, _sidecar_fields(sidecar))
        except DocumentError as exc:
            report(exc, errors)
    return Document(id=path.stem, text=layout.text, source=str(path), headings=layout.headings, **meta)


def iter_documents(path: Path, errors: list[DocumentError] | None = None) -> Iterator[Document]:
    """Yield the documents of a file or folder, one at a time.

    A folder is walked recursively in sorted order; hidden files/folders and sidecars
    are passed over. A file that does not load (wrong type, unreadable, empty), a bad
    JSONL line or a duplicate id is appended to ``errors`` (logged as a warning if
    ``errors`` is None) and the rest still loads -- the same for a single file.
    """
    path = Path(path)
    if not path.exists():
        raise DocumentError(path, "no such file or folder")
    seen: set[str] = set()
    for file in walk(path, errors):
        for doc in _load_file(file, errors):
            if doc.id in seen:
                report(DocumentError(doc.source, f"duplicate document id {doc.id!r}; skipped"), errors)
                continue
            seen.add(doc.id)
            yield doc


def _load_file(file: Path, errors: list[DocumentError] | None) -> Iterator[Document]:
    if suffix(file) in CORPUS_SUFFIXES:
        for line, record in iter_records(file, errors):
            try:
                yield _record_document(file, line, record)
            except DocumentError as exc:
                report(exc, errors)
        return
    try:
        yield load_document(file, errors)
    except DocumentError as exc:
        report(exc, errors)


def _record_document(path: Path, line: int, record: dict) -> Document:
    """One record of a JSONL corpus; its own non-empty fields win over what is read from its text."""
    doc_id = record.get("_id", record.get("id"))
    if doc_id is None or str(doc_id).strip() == "":
        raise DocumentError(path, 'record has no "_id" or "id"', line)
    text = record.get("text")
    text = normalize(text) if isinstance(text, str) else ""
    if not text.strip():
        raise DocumentError(path, f"record {doc_id!r} has no text", line)
    meta = merge(extract_metadata(text), clean_fields(record, strict=False))
    return Document(id=str(doc_id), text=text, source=f"{path}:{line}", **meta)


def _sidecar_fields(sidecar: Path) -> dict:
    try:
        return clean_fields(read_sidecar(sidecar), strict=True)
    except MetadataError as exc:
        raise DocumentError(sidecar, f"{exc}; ignored") from None
