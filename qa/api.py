"""The HTTP API (FastAPI) and the citizens' web page, over ``qa.search``.

Endpoints are plain ``def`` functions: FastAPI runs them in a thread pool, so
encoding a query never blocks the event loop and ``/health`` stays fast while
searches run. Searches run side by side (no lock): each reads one snapshot of
the index (``Index.reading``), and a reopened index replaces the old one for
new requests while those on the old one finish on it.
"""

from __future__ import annotations

import os
import re
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal, get_args

from fastapi import FastAPI, Query, Request
from fastapi import Path as FastAPIPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, BeforeValidator, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.admin import install_admin
from qa.answer import answering_target
from qa.apidocs import add_docs
from qa.config import Settings
from qa.observability import install_operations
from qa.query import MAX_QUERY_CHARS, NO_CONTENT, QueryError
from qa.relations_api import RelationsOut, StatusOut, document_relations, number_key, numbered, status_out
from qa.search import Filters, Result, Searcher, SearchResponse, confident, sibling_rows
from qa.rows import TableRow
from qa.store import DocumentRecord, Index, StoreError

STATIC = Path(__file__).parent / "static"

# ---------------------------------------------------------------- errors

# Every error response is {"detail": <plain English>, "code": <one of these>}: the page
# shows its own Vietnamese words for the code, scripts can branch on it.
ErrorCode = Literal[
    "empty_query", "query_too_long", "control_characters", "undecodable_query", "no_content",
    "unknown_filter", "unknown_mode", "invalid_parameter", "not_found", "method_not_allowed",
    "index_unavailable", "internal_error", "over_budget", "overloaded",
]
ERROR_CODES: frozenset[str] = frozenset(get_args(ErrorCode))


class ApiErrorOut(BaseModel):
    detail: str = Field(description="What went wrong and what to do, in plain English")
    code: ErrorCode = Field(description="Stable code of the error, for programs (the web page translates it)")


class ApiError(Exception):
    """An error this API answers with its own status, code and message."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def error_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    # not through ApiErrorOut: other modules' codes (the staff routes') pass as they are
    return JSONResponse(status_code=status, content={"detail": detail, "code": code}, headers=headers)


ERROR_DESCRIPTIONS = {
    404: "Not found (code `not_found`)",
    422: "The request cannot be run as asked: the code says why (`empty_query`, `query_too_long`, "
         "`control_characters`, `undecodable_query`, `no_content`, `unknown_filter`, `unknown_mode`, `invalid_parameter`)",
    503: "The index is loading or cannot be opened (code `index_unavailable`)",
}


def errors(*statuses: int) -> dict[int | str, dict]:
    """The OpenAPI ``responses`` of a route's errors, all in the ApiErrorOut shape."""
    return {status: {"model": ApiErrorOut, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


def query_error_code(error: QueryError) -> str:
    """``QueryError.code`` (qa.query, qa.search), when it is one of this API's codes."""
    code = getattr(error, "code", None)
    return code if code in ERROR_CODES else "invalid_parameter"


def validation_code(problems: list[dict]) -> str:
    """The code of FastAPI's 422: about the query text itself when that is what is wrong."""
    for error in problems:
        where, kind = tuple(error.get("loc", ()))[1:2], error.get("type", "")
        if where == ("q",) and kind == "missing":
            return "empty_query"
        if where == ("q",) and kind == "string_too_long":
            return "query_too_long"
        if where == ("mode",):
            return "unknown_mode"
    return "invalid_parameter"


def validation_message(problems: list[dict]) -> str:
    messages = []
    for error in problems:
        where = ".".join(str(p) for p in error.get("loc", ())[1:]) or "request"
        messages.append(f"{where}: {error.get('msg', 'invalid value')}")
    return "; ".join(messages)


def shortened(value: str, limit: int = 80) -> str:
    """A value quoted back in a message, cut to ``limit`` characters (an id may be 5,000 long)."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


# ---------------------------------------------------------------- paths shown


def shown_path(path: Path) -> str:
    """A server folder as the API shows it: relative to the working directory when inside
    it, else its name; never the absolute path."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return absolute.name


def corpus_root(corpus: Path) -> Path:
    """The folder that documents' sources are shown relative to."""
    absolute = Path(os.path.abspath(corpus))
    return absolute if absolute.is_dir() else absolute.parent


_SOURCE = re.compile(r"(.*?)(:\d+)?")  # "/data/corpus.jsonl:17": a file and a line


def public_source(source: str, root: Path | None = None) -> str:
    """A document's source without the server's absolute path: relative to the corpus
    folder when inside it, else the file name (a ``:line`` of a .jsonl record kept)."""
    path, line = _SOURCE.fullmatch(source).groups()
    if not os.path.isabs(path):
        return source
    try:
        shown = str(Path(path).relative_to(root)) if root else Path(path).name
    except ValueError:
        shown = Path(path).name
    return shown + (line or "")


# ---------------------------------------------------------------- parameters


def blank_is_none(value):
    """An empty filter (``year=``, ``district=``) is no filter, whatever its type."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


District = Annotated[str | None, BeforeValidator(blank_is_none),
                     Query(description="Only documents about this district (empty: all)")]
Year = Annotated[Annotated[int, Field(ge=1900, le=2100)] | None, BeforeValidator(blank_is_none),
                 Query(description="Only documents of this year (empty: all)")]
DocType = Annotated[str | None, BeforeValidator(blank_is_none),
                    Query(description="Document type, e.g. nghị quyết, báo cáo, tin bài (empty: all)")]
Status = Annotated[str | None, BeforeValidator(blank_is_none),
                   Query(description="Only documents of this validity status: in_force, not_yet_in_force, "
                                     "partly_amended, replaced, expired, unknown (empty: all)")]
IncludeExpired = Annotated[bool, Query(description="false: leave out documents replaced or expired")]


class DocOut(BaseModel):
    id: str
    title: str
    number: str
    date: str
    district: str
    type: str
    period: str
    issuer: str
    source: str = Field(description="The document's file, relative to the corpus folder (or its name)")


class NamedOut(BaseModel):
    doc: DocOut
    chosen: bool = Field(description="The number names it and nothing else in the query (a district or province, "
                                     "a year, an issuer code) points elsewhere: its passages rank first; false: it "
                                     "only shares the number")


class HighlightOut(BaseModel):
    start: int
    end: int
    kind: str


class ColumnOut(BaseModel):
    header: str = Field(description="The column's header (\"\" when the table has none): Đơn vị, KH năm 2021")
    value: str = Field(description="The cell as written: 91,5")


class RowOut(BaseModel):
    """A table row as data (``qa.rows.TableRow``): what its rendered ``text`` is made of."""
    caption: str = Field(description="The table's caption, or its section's last part")
    labels: list[str] = Field(description="The labels that name the row, its parent row's first")
    label: str = Field(description="The labels joined by › ")
    columns: list[ColumnOut] = Field(description="(header, value) pairs, in the table's order")
    group: str = Field("", description="A row in capitals above that groups the rows (\"CÁC CHỈ TIÊU XÃ HỘI\")")


def row_out(row: TableRow | None) -> RowOut | None:
    if row is None:
        return None
    return RowOut(caption=row.caption, labels=list(row.labels), label=row.label, group=row.group,
                  columns=[ColumnOut(header=h, value=v) for h, v in row.columns])


class ResultOut(BaseModel):
    id: int
    text: str
    score: float
    answer: str
    highlights: list[HighlightOut]
    section: str
    kind: str
    doc: DocOut
    row: RowOut | None = Field(None, description="A table row's caption, labels and columns (kind table_row)")
    start: int = Field(-1, description="Where the passage is in its document's text (character offsets)")
    end: int = -1
    status: str = Field("unknown", description="The document's validity: in_force, not_yet_in_force, "
                                               "partly_amended, replaced, expired or unknown")


class SearchOut(BaseModel):
    query: str
    mode: str
    results: list[ResultOut]
    total: int
    took_ms: float
    named: list[NamedOut] = Field([], description="The documents the query names by number, best first")


class RelatedAnswer(BaseModel):
    text: str
    passage_id: int
    # "same table": another row of the answer's table that answers as well;
    # "other period": the same indicator in another period's document (newest first)
    relation: Literal["same table", "other period"] = "same table"
    period: str = ""
    doc: DocOut | None = None
    row: RowOut | None = None


class AnswerTargetOut(BaseModel):
    """The figure the answer states, as a record of ``qa.targets`` (value, unit, period,
    kind) cited by its passage; ``indicator_id`` opens its timeline (``/targets/{id}``)."""
    indicator: str
    indicator_id: str = Field(description="GET /targets/{indicator_id}: the indicator's timeline")
    value: float
    value_written: str = Field(description="As written: 91,5")
    unit: str
    comparator_written: str = Field(description="đạt, trên, không quá … as written (\"\" for none)")
    kind: str = Field(description="plan | estimate | result | comparison")
    period: str
    district: str
    compares_to: str = Field(description="What a comparison is relative to: dự toán, kế hoạch, cùng kỳ")
    passage_id: int
    quote: str = Field(description="The clause or table row the figure is in")


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
    row: RowOut | None = Field(None, description="The answering table row as data, when the answer is one")
    target: AnswerTargetOut | None = Field(None, description="The target or reported figure that answers the "
                                                             "question, when the answer's passage holds one")


class AnswerOut(BaseModel):
    query: str
    answer: AnswerText | None
    # why there is no answer, in plain words ("" when there is one)
    declined: str = ""
    # the top k results, as /search gives them, also when there is no answer: the page
    # shows these (one request per search)
    results: list[ResultOut]
    total: int = 0
    took_ms: float
    named: list[NamedOut] = Field([], description="The documents the query names by number, best first")


class DocumentOut(DocOut):
    years: list[int]
    text: str | None = None
    passages: int | None = None
    # GET /documents/{id} (and ?number=): the number in canonical form, validity, relations both ways
    number_key: str | None = None
    effective_date: str | None = None
    status: StatusOut | None = None
    relations: RelationsOut | None = None


class PassageOut(BaseModel):
    id: int
    text: str
    section: str
    kind: str
    # where it is in its document's text (character offsets)
    start: int
    end: int
    doc: DocOut
    row: RowOut | None = Field(None, description="A table row's caption, labels and columns (kind table_row)")


class HealthOut(BaseModel):
    status: str
    documents: int
    passages: int
    model: str
    dense_index: str
    lexical_index: str = Field(description="tantivy, or fts5 while tantivy is not of the current generation")
    index: str = Field(description="The index folder, relative to the server's working directory (or its name)")


def doc_out(doc: DocumentRecord, root: Path | None = None) -> DocOut:
    """``root``: the corpus folder that sources are shown relative to."""
    values = {name: getattr(doc, name) for name in DocOut.model_fields}
    values["source"] = public_source(doc.source, root)
    return DocOut(**values)


def result_out(r: Result, root: Path | None = None) -> ResultOut:
    return ResultOut(
        id=r.passage.id, text=r.passage.text, score=round(r.score, 6), answer=r.answer,
        highlights=[HighlightOut(**vars(h)) for h in r.highlights], section=r.passage.section,
        kind=r.passage.kind, doc=doc_out(r.doc, root), status=r.status, row=row_out(r.passage.row),
        start=r.passage.start, end=r.passage.end,
    )


def search_out(response: SearchResponse, root: Path | None = None) -> SearchOut:
    return SearchOut(
        query=response.query, mode=response.mode, results=[result_out(r, root) for r in response.results],
        total=response.total, took_ms=round(response.took_ms, 1),
        named=named_out(response, root),
    )


def named_out(response: SearchResponse, root: Path | None = None) -> list[NamedOut]:
    """The documents the query names by number; ``chosen``: those its other words point to."""
    return [NamedOut(doc=doc_out(d, root), chosen=d.id in response.understood.documents) for d in response.named]


def stated_target(index: Index, response: SearchResponse) -> AnswerTargetOut | None:
    """The target record that the confident answer's passage holds and that answers the
    question (``qa.answer.answering_target``), or ``None``."""
    if not confident(response):
        return None
    top = response.results[0]
    with index.reading():
        book = index.targets()
        # (figures not in the passage's text: the document changed since this search ran)
        records = [r for r in book.in_passage(top.passage.doc_id, top.passage.ordinal)
                   if r.value_written in top.passage.text]
        record = answering_target(response.understood, top.answer, records, top.doc.period)
        indicator = book.indicator_of(record) if record is not None else None
    if record is None or indicator is None:
        return None
    return AnswerTargetOut(
        indicator=record.indicator, indicator_id=indicator.id, value=record.value, value_written=record.value_written,
        unit=record.unit, comparator_written=record.comparator_written, kind=record.kind, period=record.period_label,
        district=record.district, compares_to=record.compares_to, passage_id=top.passage.id, quote=record.quote)


def answer_out(q: str, response: SearchResponse, root: Path | None = None,
               target: AnswerTargetOut | None = None) -> AnswerOut:
    """The best answer with its citation, or ``None`` and why; the top results either way;
    ``target``: the figure it states (``stated_target``)."""
    results = [result_out(r, root) for r in response.results]
    took_ms = round(response.took_ms, 1)
    top = response.results[0] if response.results else None
    if top is None or not confident(response):
        reason = response.declined or ("no passage answers this question closely enough" if top else "nothing found")
        return AnswerOut(query=q, answer=None, declined=reason, results=results, total=response.total, took_ms=took_ms)
    also = [RelatedAnswer(text=r.answer, passage_id=r.passage.id, period=r.doc.period, doc=doc_out(r.doc, root),
                          row=row_out(r.passage.row)) for r in sibling_rows(response)]
    also += [RelatedAnswer(text=r.answer, passage_id=r.passage.id, relation="other period", period=r.doc.period,
                           doc=doc_out(r.doc, root), row=row_out(r.passage.row)) for r in response.also]
    answer = AnswerText(
        text=top.answer, passage_id=top.passage.id, section=top.passage.section, doc=doc_out(top.doc, root),
        period=top.doc.period, also=also, confidence=round(response.answer_probability, 3),
        row=row_out(top.passage.row), target=target,
    )
    return AnswerOut(query=q, answer=answer, results=results, total=response.total, took_ms=took_ms)


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
    root = corpus_root(settings.corpus)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Load the index and the model before the first citizen waits for them.
        await run_in_threadpool(lambda: service.get().index.embedder)
        await run_in_threadpool(lambda: service.get().index.warm())
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="Tra cứu văn bản HĐND – UBND",
        description="Semantic search and question answering over Vietnamese local-government documents. "
                    "Every error response is `{\"detail\": \"…\", \"code\": \"…\"}`: `detail` in plain English, "
                    "`code` stable, for programs.",
        version="0.1.0",
        docs_url=None,  # served by qa.apidocs from installed assets, not from a CDN
        redoc_url=None,
    )
    app.state.service = service
    add_docs(app)
    install_admin(app, service)  # staff routes (closed unless QA_ADMIN_TOKEN is set)
    from qa.targets_api import targets_router  # it uses this module's error shape and filters

    app.include_router(targets_router(service))  # /targets, /targets/{indicator_id}
    install_operations(app, service, settings)  # request ids, log, /metrics, budget, headers, CORS
    add_error_handlers(app, settings)

    def run(q: str, k: int, mode: str, district, year, type_, offset, status=None, include_expired=True) -> SearchResponse:
        if "\ufffd" in q:
            raise ApiError(422, "undecodable_query",
                           "The query could not be decoded (malformed percent-encoding or not UTF-8).")
        filters = Filters(district=district, year=year, type=type_, status=status, include_expired=include_expired)
        searcher = service.get()
        with searcher.index.reading():
            response = searcher.search(q, k=k, mode=mode, filters=filters, offset=offset)
        if response.declined == NO_CONTENT:  # only punctuation, symbols, another script: nothing to search for
            raise ApiError(422, "no_content", response.message)
        return response

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/search", response_model=SearchOut, summary="Search passages", responses=errors(422, 503))
    def search(
        q: str = Query(..., description="The question or keywords, with or without diacritics", max_length=MAX_QUERY_CHARS),
        k: int = Query(10, ge=1, le=100, description="How many results"),
        mode: Literal["hybrid", "lexical", "dense"] = "hybrid",
        district: District = None,
        year: Year = None,
        type: DocType = None,
        offset: int = Query(0, ge=0, le=10_000),
        status: Status = None,
        include_expired: IncludeExpired = True,
    ) -> SearchOut:
        return search_out(run(q, k, mode, district, year, type, offset, status, include_expired), root)

    @app.get("/answer", response_model=AnswerOut, summary="The best answer with its citation", responses=errors(422, 503))
    def answer(
        q: str = Query(..., max_length=MAX_QUERY_CHARS),
        k: int = Query(5, ge=1, le=100, description="How many results beside the answer (the page asks for 10)"),
        district: District = None,
        year: Year = None,
        type: DocType = None,
        status: Status = None,
        include_expired: IncludeExpired = True,
    ) -> AnswerOut:
        response = run(q, k, "hybrid", district, year, type, 0, status, include_expired)
        out = answer_out(q, response, root, stated_target(service.get().index, response))
        out.named = named_out(response, root)
        return out

    @app.get("/documents", response_model=list[DocumentOut], summary="All indexed documents, or those of one number",
             responses=errors(422, 503))
    def documents(number: Annotated[Annotated[str, Field(max_length=200)] | None, BeforeValidator(blank_is_none), Query(
            description="Only the documents of this number, written any way: 21/NQ-HĐND, "
                                        "21/NQ-HDND, nq 21, Nghị quyết số 21, 15/2020/nd-cp (best match first)")] = None,
                  ) -> list[DocumentOut]:
        searcher = service.get()
        if number is None:
            return [DocumentOut(**doc_out(d, root).model_dump(), years=d.years) for d in searcher.index.documents().values()]
        with searcher.index.reading():
            ids = numbered(searcher, number)
            return [DocumentOut(**doc_out(d, root).model_dump(), years=d.years, number_key=number_key(d.number, d.type),
                                status=status_out(searcher.index.validity(d.id)))
                    for d in (searcher.index.documents()[i] for i in ids)]

    @app.get("/documents/{doc_id}", response_model=DocumentOut, summary="One document with its full text",
             responses=errors(404, 422, 503))
    def document(doc_id: str) -> DocumentOut:
        index = service.get().index
        with index.reading():  # its metadata, text and passages from one generation
            doc = index.documents().get(doc_id)
            if doc is None:
                raise ApiError(404, "not_found", f"No document with the id {shortened(doc_id)}. See /documents for the list.")
            text = index.document_text(doc_id)
            passages = len(index.passage_ids([doc_id]))
            related = document_relations(index, doc_id)
        return DocumentOut(**doc_out(doc, root).model_dump(), years=doc.years, text=text, passages=passages,
                           number_key=related.number_key, effective_date=related.effective_date,
                           status=related.status, relations=related.relations)

    @app.get("/passages/{passage_id}", response_model=PassageOut, summary="One passage with its document",
             responses=errors(404, 422, 503))
    def passage(passage_id: int = FastAPIPath(ge=0, le=2**63 - 1)) -> PassageOut:
        """A passage by the id that search results give it: ids are never reused, so a link
        to a passage of a document since changed or removed finds nothing (404)."""
        index = service.get().index
        with index.reading():
            found = index.passages([passage_id]).get(passage_id)
            doc = index.documents().get(found.doc_id) if found else None
        if found is None or doc is None:
            raise ApiError(404, "not_found",
                           f"Passage {passage_id}: this passage no longer exists (the document was changed or removed).")
        return PassageOut(id=found.id, text=found.text, section=found.section, kind=found.kind, start=found.start,
                          end=found.end, doc=doc_out(doc, root), row=row_out(found.row))

    @app.get("/health", response_model=HealthOut, responses=errors(503))
    def health() -> HealthOut:
        if service.searcher is None:
            raise ApiError(503, "index_unavailable", "The index is still loading.")
        # The index searches use: reopened here too after `qa build/add/remove` elsewhere
        # (while another request reopens it, this one answers from the one before).
        index = service.get().index
        with index.reading():
            documents, passages = index.counts()
            lexical = index.lexical_engine()
        return HealthOut(
            status="ok", documents=documents, passages=passages, model=index.manifest.model,
            dense_index=index.manifest.dense_index, lexical_index=lexical, index=shown_path(settings.index),
        )

    return app


def add_error_handlers(app: FastAPI, settings: Settings) -> None:
    """Every error as ``ApiErrorOut``; the service goes on serving after any of them."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return error_response(422, validation_code(exc.errors()), validation_message(exc.errors()))

    @app.exception_handler(QueryError)
    async def query_error(request: Request, exc: QueryError):
        return error_response(422, query_error_code(exc), str(exc))

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError):
        return error_response(503, "index_unavailable", without_index_path(str(exc), settings.index))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # routing's own (an unknown path, a method the path does not take), or one with its code
        code = getattr(exc, "code", None) or {404: "not_found", 405: "method_not_allowed", 503: "index_unavailable"}.get(
            exc.status_code, "internal_error" if exc.status_code >= 500 else "invalid_parameter")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception):
        return error_response(500, "internal_error", "Something went wrong on the server; please try again.")


def without_index_path(message: str, index: Path) -> str:
    """A store error's message with the index folder as ``shown_path`` gives it."""
    # longest first: the resolved form may contain the other (a symlinked /tmp)
    for form in sorted({os.path.abspath(index), str(Path(index).resolve())}, key=len, reverse=True):
        message = message.replace(form, shown_path(index))
    return message
