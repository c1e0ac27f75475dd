"""The commitments tracker over HTTP: ``GET /targets`` (indicators matching a question,
each with its targets and reported figures) and ``GET /targets/{id}`` (one indicator's
timeline: plan next to estimate, result and comparison, by period and district).

The records come from the index (``Index.targets``, extracted at build time by
``qa.targets``); this module only shapes them, adding each record's passage id so that
a value links to its passage in the document view."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from qa.query import MAX_QUERY_CHARS


class SourceOut(BaseModel):
    doc_id: str
    section: str
    passage: int                  # ordinal of the passage in its document
    passage_id: int | None = None  # its id in the index: /passages/{id}, the page's &p=
    start: int
    end: int
    quote: str
    doc_title: str = ""
    doc_type: str = ""


class RecordOut(BaseModel):
    indicator: str
    key: str
    value: float
    value_written: str
    high: float | None = None
    denominator: float | None = None
    comparator: str
    comparator_written: str
    unit: str
    kind: str                     # plan | estimate | result | comparison
    period: str
    period_kind: str
    period_written: str
    district: str
    compares_to: str
    source: SourceOut


class IndicatorOut(BaseModel):
    id: str
    name: str
    key: str
    districts: list[str]
    records: list[RecordOut]


class TimelineEntryOut(BaseModel):
    period: str
    district: str
    plans: list[RecordOut]
    estimates: list[RecordOut]
    results: list[RecordOut]
    comparisons: list[RecordOut]
    linked_plans: list[RecordOut]   # the plan of a period containing this one


class TimelineOut(BaseModel):
    indicator: dict[str, str]
    entries: list[TimelineEntryOut]


def _with_sources(index, record: dict[str, Any], passage_ids: dict[str, list[int]]) -> dict[str, Any]:
    source = dict(record["source"])
    doc_id = source["doc_id"]
    if doc_id not in passage_ids:
        passage_ids[doc_id] = [int(i) for i in index.passage_ids([doc_id])]
    ids = passage_ids[doc_id]
    source["passage_id"] = ids[source["passage"]] if 0 <= source["passage"] < len(ids) else None
    doc = index.documents().get(doc_id)
    if doc is not None:
        source["doc_title"], source["doc_type"] = doc.title, doc.type
    return {**record, "source": source}


def targets_router(service) -> APIRouter:
    router = APIRouter(tags=["targets"])

    def book_and_index():
        index = service.get().index
        return index.targets, index

    @router.get("/targets", response_model=list[IndicatorOut], summary="Targets and reported figures by indicator")
    def targets(
        q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS, description="An indicator, e.g. bảo hiểm y tế"),
        district: str | None = None,
        year: int | None = Query(None, ge=1900, le=2100),
        limit: int = Query(10, ge=1, le=100),
    ) -> list[IndicatorOut]:
        book, index = book_and_index()
        cache: dict[str, list[int]] = {}
        with index.reading():
            out = []
            for ind in book.search(q, district=district or None, year=year)[:limit]:
                data = ind.to_json()
                data["records"] = [_with_sources(index, r, cache) for r in data["records"]]
                out.append(IndicatorOut(**data))
        return out

    @router.get("/targets/{indicator_id}", response_model=TimelineOut, summary="One indicator's timeline",
                responses={404: {"description": "No such indicator"}})
    def timeline(indicator_id: str) -> TimelineOut:
        book, index = book_and_index()
        found = book.timeline(indicator_id)
        if found is None:
            raise HTTPException(404, f"No indicator with the id {indicator_id[:80]!r}; find one with /targets?q=…")
        data = found.to_json()
        cache: dict[str, list[int]] = {}
        with index.reading():
            for entry in data["entries"]:
                for part in ("plans", "estimates", "results", "comparisons", "linked_plans"):
                    entry[part] = [_with_sources(index, r, cache) for r in entry[part]]
        return TimelineOut(**data)

    return router
