"""The HTTP API (FastAPI) and the citizens' web page, over ``qa.search``.

Endpoints are plain ``def`` functions: FastAPI runs them in a thread pool, so
encoding a query never blocks the event loop and ``/health`` stays fast while
searches run. Searches run side by side (no lock): each reads one snapshot of
the index (``Index.reading``), and a reopened index replaces the old one for
new requests while those on the old one finish on it.
"""

from __future__ import annotations

import os
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from pydantic import BaseModel

from qa.config import Settings
from qa.query import MAX_QUERY_CHARS, QueryError
from qa.search import Filters, Result, Searcher, SearchResponse, confident, sibling_rows
from qa.store import Index, StoreError

STATIC = Path(__file__).parent / "static"


class DocOut(BaseModel):
    id: str
    title: str
    number: str
    date: str
    district: str
    type: str
    period: str
    issuer: str
    source: str


class HighlightOut(BaseModel):
    start: int
    end: int
    kind: str


class ResultOut(BaseModel):
    id: int
    text: str
    score: float
    answer: str
    highlights: list[HighlightOut]
    section: str
    kind: str
    doc: DocOut


class SearchOut(BaseModel):
    query: str
    mode: str
    results: list[ResultOut]
    total: int
    took_ms: float


class RelatedAnswer(BaseModel):
    text: str
    passage_id: int
    # "same table": another row of the answer's table that answers as well;
    # "other period": the same indicator in another period's document (newest first)
    relation: Literal["same table", "other period"] = "same table"
    period: str = ""
    doc: DocOut | None = None


class AnswerText(BaseModel):
    text: str
    passage_id: int
    section: str
    doc: DocOut
    period: str = ""
    # other rows of the same table that answer the query as well, then the same
    # indicator in other periods' documents
    also: list[RelatedAnswer] = []
    confidence: float = 0.0


class AnswerOut(BaseModel):
    query: str
    answer: AnswerText | None
    # why there is no answer, in plain words ("" when there is one)
    declined: str = ""
    # the top k results, as /search gives them: the page shows these (one request per search)
    results: list[ResultOut]
    total: int = 0
    took_ms: float


class DocumentOut(DocOut):
    years: list[int]
    text: str | None = None
    passages: int | None = None


class HealthOut(BaseModel):
    status: str
    documents: int
    passages: int
    model: str
    dense_index: str
    index: str


def doc_out(doc) -> DocOut:
    return DocOut(**{name: getattr(doc, name) for name in DocOut.model_fields})


def result_out(r: Result) -> ResultOut:
    return ResultOut(
        id=r.passage.id, text=r.passage.text, score=round(r.score, 6), answer=r.answer,
        highlights=[HighlightOut(**vars(h)) for h in r.highlights], section=r.passage.section,
        kind=r.passage.kind, doc=doc_out(r.doc),
    )


def search_out(response: SearchResponse) -> SearchOut:
    return SearchOut(
        query=response.query, mode=response.mode, results=[result_out(r) for r in response.results],
        total=response.total, took_ms=round(response.took_ms, 1),
    )


class Service:
    """The open index and its searcher, reopened when ``qa build/add/remove`` changes it.

    Nothing serialises searches. ``get`` hands out the current searcher; when the
    index changed on disk, one request opens the new one while the others go on
    with the old, and the new one then replaces the reference. Searches holding the
    old searcher finish on it: its build folder is not pruned while it is open.
    """

    def __init__(self, settings: Settings, embedder=None):
        self.settings = settings
        self.embedder = embedder
        self._reopening = threading.Lock()
        # (stamp, searcher), replaced as one reference
        self._current: tuple[tuple | None, Searcher | None] = (None, None)

    @property
    def searcher(self) -> Searcher | None:
        return self._current[1]

    def _current_stamp(self) -> tuple:
        current = self.settings.index / "current"
        try:
            modified = (current / "manifest.json").stat().st_mtime_ns
        except OSError:
            modified = 0
        return (os.path.realpath(current), modified)

    def get(self) -> Searcher:
        stamp = self._current_stamp()
        known, searcher = self._current
        if searcher is not None and stamp == known:
            return searcher
        # Only the first request waits for an index; later ones search the old one while it reopens.
        if not self._reopening.acquire(blocking=searcher is None):
            return searcher
        try:
            known, searcher = self._current
            if searcher is None or stamp != known:
                if self.embedder is None and searcher is not None:
                    self.embedder = searcher.index.embedder  # keep the loaded model across reopenings
                searcher = Searcher(Index.open(self.settings, self.embedder))
                self._current = (stamp, searcher)
            return searcher
        finally:
            self._reopening.release()


def create_app(settings: Settings | None = None, embedder=None) -> FastAPI:
    """The app over the index in ``settings.index``; ``embedder`` shares an already loaded model."""
    settings = settings or Settings()
    service = Service(settings, embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Load the index and the model before the first citizen waits for them.
        await run_in_threadpool(lambda: service.get().index.embedder)
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="Tra cứu văn bản HĐND – UBND",
        description="Semantic search and question answering over Vietnamese local-government documents.",
        version="0.1.0",
    )
    app.state.service = service

    @app.exception_handler(RequestValidationError)
    async def plain_validation_error(request: Request, exc: RequestValidationError):
        messages = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ())[1:]) or "request"
            messages.append(f"{where}: {error.get('msg', 'invalid value')}")
        return JSONResponse(status_code=422, content={"detail": "; ".join(messages)})

    @app.exception_handler(QueryError)
    async def query_error(request: Request, exc: QueryError):
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError):
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    def run(q: str, k: int, mode: str, district, year, type_, offset) -> SearchResponse:
        if "\ufffd" in q:
            raise QueryError("The query could not be decoded (malformed percent-encoding or not UTF-8).")
        filters = Filters(district=district, year=year, type=type_)
        searcher = service.get()
        with searcher.index.reading():
            return searcher.search(q, k=k, mode=mode, filters=filters, offset=offset)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/search", response_model=SearchOut, summary="Search passages")
    def search(
        q: str = Query(..., description="The question or keywords, with or without diacritics", max_length=MAX_QUERY_CHARS),
        k: int = Query(10, ge=1, le=100, description="How many results"),
        mode: Literal["hybrid", "lexical", "dense"] = "hybrid",
        district: str | None = None,
        year: int | None = Query(None, ge=1900, le=2100),
        type: str | None = Query(None, description="Document type, e.g. nghị quyết, báo cáo, tin bài"),
        offset: int = Query(0, ge=0, le=10_000),
    ) -> SearchOut:
        return search_out(run(q, k, mode, district, year, type, offset))

    @app.get("/answer", response_model=AnswerOut, summary="The best answer with its citation")
    def answer(
        q: str = Query(..., max_length=MAX_QUERY_CHARS),
        k: int = Query(5, ge=1, le=100, description="How many results beside the answer (the page asks for 10)"),
        district: str | None = None,
        year: int | None = Query(None, ge=1900, le=2100),
        type: str | None = None,
    ) -> AnswerOut:
        response = run(q, k, "hybrid", district, year, type, 0)
        top = response.results[0] if response.results else None
        if top is None or not confident(response):
            reason = response.declined or ("no passage answers this question closely enough" if top else "nothing found")
            return AnswerOut(query=q, answer=None, declined=reason, results=[result_out(r) for r in response.results],
                             total=response.total, took_ms=round(response.took_ms, 1))
        also = [RelatedAnswer(text=r.answer, passage_id=r.passage.id, period=r.doc.period, doc=doc_out(r.doc))
                for r in sibling_rows(response)]
        also += [RelatedAnswer(text=r.answer, passage_id=r.passage.id, relation="other period", period=r.doc.period,
                               doc=doc_out(r.doc)) for r in response.also]
        return AnswerOut(
            query=q,
            answer=AnswerText(
                text=top.answer, passage_id=top.passage.id, section=top.passage.section, doc=doc_out(top.doc),
                period=top.doc.period, also=also, confidence=round(response.answer_probability, 3),
            ),
            results=[result_out(r) for r in response.results],
            total=response.total,
            took_ms=round(response.took_ms, 1),
        )

    @app.get("/documents", response_model=list[DocumentOut], summary="All indexed documents")
    def documents() -> list[DocumentOut]:
        docs = service.get().index.documents().values()
        return [DocumentOut(**doc_out(d).model_dump(), years=d.years) for d in docs]

    @app.get("/documents/{doc_id}", response_model=DocumentOut, summary="One document with its full text")
    def document(doc_id: str) -> DocumentOut:
        index = service.get().index
        with index.reading():  # its metadata, text and passages from one generation
            doc = index.documents().get(doc_id)
            if doc is None:
                raise HTTPException(404, f"No document with the id {doc_id!r}. See /documents for the list.")
            text = index.document_text(doc_id)
            passages = len(index.passage_ids([doc_id]))
        return DocumentOut(**doc_out(doc).model_dump(), years=doc.years, text=text, passages=passages)

    @app.get("/health", response_model=HealthOut)
    def health() -> HealthOut:
        searcher = service.searcher  # answers while searches run, and while the index reopens
        if searcher is None:
            raise HTTPException(503, "The index is still loading.")
        manifest = searcher.index.manifest
        return HealthOut(
            status="ok", documents=manifest.documents, passages=manifest.passages, model=manifest.model,
            dense_index=manifest.dense_index, index=str(settings.index),
        )

    return app
