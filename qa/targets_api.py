"""The commitments tracker over HTTP: ``GET /targets`` (indicators matching a question,
each with its targets and reported figures) and ``GET /targets/{id}`` (one indicator's
timeline: plan next to estimate, result and comparison, by period and district).

The records come from the index (``Index.targets``, extracted at build time by
``qa.targets``); this module only shapes them, adding each record's passage id so that
a value links to its passage in the document view (``/?doc=…&p=…``, ``/passages/{id}``).
A question is read as /search reads it (``qa.query.understand`` with the index's
lexicon: diacritics restored, abbreviations, thesaurus, districts and periods), and the
errors are /search's (``qa.api``: ``{"detail", "code"}``).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from qa.api import District, ApiError, Year, errors, shortened
from qa.query import MAX_QUERY_CHARS, NO_CONTENT_MESSAGE, has_content, understand
from qa.search import Filters, Searcher
from qa.targets import Indicator, TargetBook, TargetRecord, TimelineEntry
from qa.text import fold


class SourceOut(BaseModel):
    doc_id: str
    section: str
    passage: int = Field(description="Ordinal of the passage in its document")
    passage_id: int | None = Field(None, description="Its id in the index: /passages/{id}, the page's &p=")
    start: int = Field(description="Offsets of the figure in the document's text")
    end: int
    quote: str = Field(description="The clause or table row the figure is in")
    doc_title: str = ""
    doc_type: str = ""
    doc_number: str = ""
    doc_date: str = ""


class RecordOut(BaseModel):
    indicator: str = Field(description="The indicator as the document words it")
    key: str
    value: float
    value_written: str = Field(description="As written: 3.178,4")
    high: float | None = Field(None, description="A range's high end")
    denominator: float | None = None
    comparator: str
    comparator_written: str
    unit: str
    kind: str = Field(description="plan | estimate | result | comparison")
    period: str
    period_kind: str
    period_written: str
    district: str
    compares_to: str = Field(description="What a comparison is relative to: dự toán, kế hoạch, cùng kỳ")
    source: SourceOut


class IndicatorOut(BaseModel):
    id: str
    name: str
    key: str
    districts: list[str]
    records: list[RecordOut]


class TargetsOut(BaseModel):
    query: str
    indicators: list[IndicatorOut]
    total: int = Field(description="Indicators matching, before limit and offset")
    took_ms: float


class TimelineEntryOut(BaseModel):
    period: str
    district: str
    plans: list[RecordOut]
    estimates: list[RecordOut]
    results: list[RecordOut]
    comparisons: list[RecordOut]
    linked_plans: list[RecordOut] = Field(description="The plan of a period containing this one")


class IndicatorRefOut(BaseModel):
    id: str
    name: str
    key: str
    districts: list[str]


class TimelineOut(BaseModel):
    indicator: IndicatorRefOut
    entries: list[TimelineEntryOut]


class Sources:
    """Adds to a record's source its passage id and its document's title (one look-up a
    document); used inside ``Index.reading`` so that ids and records are one generation."""

    def __init__(self, index):
        self.index = index
        self.documents = index.documents()
        self._ids: dict[tuple[str, int], int] = {}
        self._seen: set[str] = set()

    def record(self, record: TargetRecord) -> dict[str, Any]:
        data = record.to_json()
        source = data["source"]
        if record.doc_id not in self._seen:
            self._seen.add(record.doc_id)
            self._ids.update(self.index.passage_ids_by_ordinal([record.doc_id]))
        source["passage_id"] = self._ids.get((record.doc_id, record.passage))
        doc = self.documents.get(record.doc_id)
        if doc is not None:
            source.update(doc_title=doc.title, doc_type=doc.type, doc_number=doc.number, doc_date=doc.date)
        return data

    def records(self, records: list[TargetRecord]) -> list[dict[str, Any]]:
        return [self.record(r) for r in records]

    def indicator(self, ind: Indicator) -> dict[str, Any]:
        return {"id": ind.id, "name": ind.name, "key": ind.key, "districts": ind.districts,
                "records": self.records(ind.records)}


def find_indicators(searcher: Searcher, book: TargetBook, q: str, district: str | None = None,
                    year: int | None = None) -> list[Indicator]:
    """Indicators matching ``q``, read with the index's own query understanding; an unknown
    district is refused as /search refuses it (``unknown_filter``)."""
    if "\ufffd" in q:
        raise ApiError(422, "undecodable_query", "The query could not be decoded (malformed percent-encoding or not UTF-8).")
    searcher.check_filters(Filters(district=district))
    understood = understand(q, searcher.lexicon)  # an empty or too long query: QueryError, as /search
    if not has_content(understood.raw):
        raise ApiError(422, "no_content", NO_CONTENT_MESSAGE)
    return book.search_understood(understood, district=district, year=year)


def targets_out(searcher: Searcher, q: str, district: str | None = None, year: int | None = None,
                limit: int = 10, offset: int = 0) -> TargetsOut:
    """The body of ``GET /targets`` (``qa targets`` prints it too)."""
    started = time.perf_counter()
    index = searcher.index
    with index.reading():
        found = find_indicators(searcher, index.targets(), q, district, year)
        sources = Sources(index)
        shown = [IndicatorOut(**sources.indicator(ind)) for ind in found[offset: offset + limit]]
    return TargetsOut(query=q, indicators=shown, total=len(found),
                      took_ms=round((time.perf_counter() - started) * 1000, 1))


def _entry_wanted(entry: TimelineEntry, district: str | None, year: int | None) -> bool:
    if district and fold(entry.district) != fold(district):
        return False
    return not year or entry.period is None or not entry.period.located or year in entry.period.years


def targets_router(service) -> APIRouter:
    router = APIRouter(tags=["targets"])

    @router.get("/targets", response_model=TargetsOut, summary="Targets and reported figures by indicator",
                responses=errors(422, 503))
    def targets(
        q: str = Query(..., max_length=MAX_QUERY_CHARS,
                       description="An indicator, as /search reads it: bảo hiểm y tế, chi tieu BHYT nam 2021"),
        district: District = None,
        year: Year = None,
        limit: int = Query(10, ge=1, le=100, description="How many indicators"),
        offset: int = Query(0, ge=0, le=10_000),
    ) -> TargetsOut:
        """Each indicator with only its records of the district and year asked (as filters,
        or named in the question); best match first."""
        return targets_out(service.get(), q, district, year, limit, offset)

    @router.get("/targets/{indicator_id}", response_model=TimelineOut, summary="One indicator's timeline",
                responses=errors(404, 422, 503))
    def timeline(indicator_id: str, district: District = None, year: Year = None) -> TimelineOut:
        """By period and district: the plan next to what was estimated, achieved and
        compared, each record with its source; ``linked_plans`` is the plan of a longer
        period the entry falls in (the 2024 plan beside "6 tháng đầu năm 2024").
        ``district``, ``year``: only the entries of that district, of periods in that year
        (and those of no particular year, "hằng năm")."""
        searcher = service.get()
        index = searcher.index
        searcher.check_filters(Filters(district=district))
        with index.reading():
            book = index.targets()
            ind = book.indicator(indicator_id)
            found = book.timeline(indicator_id)
            if ind is None or found is None:
                raise ApiError(404, "not_found",
                               f"No indicator with the id {shortened(indicator_id)}; find one with /targets?q=…")
            sources = Sources(index)
            entries = [TimelineEntryOut(
                period=e.period.label if e.period else "", district=e.district, plans=sources.records(e.plans),
                estimates=sources.records(e.estimates), results=sources.records(e.results),
                comparisons=sources.records(e.comparisons), linked_plans=sources.records(e.linked_plans),
            ) for e in found.entries if _entry_wanted(e, district, year)]
        ref = IndicatorRefOut(id=ind.id, name=ind.name, key=ind.key, districts=ind.districts)
        return TimelineOut(indicator=ref, entries=entries)

    return router
