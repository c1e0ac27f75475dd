"""Staff document management over HTTP: upload, replace and delete documents as jobs,
read the jobs and the audit log, and the staff page at ``/admin``.

Every route here is closed (404) unless ``QA_ADMIN_TOKEN`` is set, and then needs
``Authorization: Bearer <token>``, compared in constant time. Reads (search, answer,
documents) stay public in ``qa.api``.

An upload is checked on the request thread (size, type by content, that it loads as a
document with text) so that a bad file is refused at once with a clear 4xx; the slow
part (chunking, embedding, writing the index) runs as a job (``qa.jobs``). The file is
kept in the documents folder (the corpus, so a later ``qa build`` keeps it); a replaced
or deleted file moves to ``<index>/removed/``: nothing is lost.
"""

from __future__ import annotations

import hmac
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel

from qa.documents import CORPUS_SUFFIXES, FILE_SUFFIXES, SIDECAR_SUFFIX, DocumentError, iter_documents, load_document
from qa.jobs import AuditEntry, Job, JobQueue

STATIC = Path(__file__).parent / "static"
UPLOAD_SUFFIXES = FILE_SUFFIXES + (".jsonl",)
_SAFE_NAME = re.compile(r"[^\w.\-]+", re.UNICODE)


class AdminError(HTTPException):
    """A refused staff request: the status, a plain message and a stable code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, detail=message)
        self.code = code


class JobOut(BaseModel):
    id: str
    action: Literal["add", "replace", "delete"]
    status: Literal["queued", "running", "done", "failed"]
    document_id: str | None = None
    filename: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    created: str
    started: str | None = None
    finished: str | None = None


class AuditOut(BaseModel):
    seq: int
    at: str
    action: str
    document_id: str | None = None
    job_id: str | None = None
    outcome: str
    detail: str | None = None


class StaffErrorOut(BaseModel):
    detail: str
    code: str


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the refusals a staff route can answer with."""
    why = {400: "Empty file or no file name", 401: "Missing or wrong staff token", 404: "No such document or job",
           409: "The document exists already", 413: "Over the size limit", 415: "Type not accepted, or the content is of another type",
           422: "Unreadable file, no text layer, bad metadata, or an invalid parameter"}
    return {code: {"model": StaffErrorOut, "description": why[code]} for code in statuses}


def job_out(job: Job) -> JobOut:
    return JobOut(**job.__dict__)


# --------------------------------------------------------------------- checks


def check_token(request: Request) -> None:
    """The staff token, or 404 when staff routes are closed (no token configured)."""
    token = request.app.state.service.settings.admin_token
    if token is None:
        raise AdminError(404, "not_found", "Not Found")
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    expected = token.get_secret_value().encode()
    # compare_digest on equal-length inputs is constant time; hashing first hides the length too
    ok = scheme.lower() == "bearer" and hmac.compare_digest(
        hmac.new(b"qa", given.strip().encode(), "sha256").digest(), hmac.new(b"qa", expected, "sha256").digest())
    if not ok:
        raise AdminError(401, "unauthorized", "A valid staff token is needed (Authorization: Bearer …).")


def _content_kind(data: bytes) -> str:
    """What the bytes are, whatever the file is called: pdf, docx, text or binary."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                return "docx" if "word/document.xml" in z.namelist() else "zip"
        except zipfile.BadZipFile:
            return "binary"
    if b"\x00" in data[:4096]:
        return "binary"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    return "text"


_EXPECTED = {".pdf": "pdf", ".docx": "docx", ".txt": "text", ".md": "text", ".jsonl": "text"}
_NAMES = {"pdf": "a PDF", "docx": "a Word (.docx) file", "text": "plain text", "zip": "a ZIP archive",
          "binary": "binary data"}


def check_upload(filename: str, data: bytes, max_bytes: int) -> str:
    """The file's suffix when it may be ingested; otherwise an AdminError saying why."""
    name = Path(filename or "").name
    suffix = ".jsonl" if name.lower().endswith(".jsonl") else Path(name).suffix.lower()
    if not name or name.startswith("."):
        raise AdminError(400, "bad_filename", "The file needs a name such as nghi-quyet-21.txt.")
    if suffix not in UPLOAD_SUFFIXES:
        raise AdminError(415, "unsupported_type",
                         f"Files of type {suffix or '(none)'} are not accepted; send one of: {', '.join(UPLOAD_SUFFIXES)}.")
    if len(data) > max_bytes:
        raise AdminError(413, "too_large", f"The file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB.")
    if not data.strip():
        raise AdminError(400, "empty_file", "The file is empty.")
    kind = _content_kind(data)
    if kind != _EXPECTED[suffix]:
        raise AdminError(415, "type_mismatch",
                         f"The file is named {suffix} but its content is {_NAMES[kind]}; send the file as it is, with its real type.")
    return suffix


def _stem(filename: str) -> str:
    name = Path(filename).name
    stem = name[: -len(".jsonl")] if name.lower().endswith(".jsonl") else Path(name).stem
    return _SAFE_NAME.sub("-", stem).strip("-.") or "tai-lieu"


def _metadata(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AdminError(422, "bad_metadata", f"metadata is not valid JSON ({exc.msg}).") from None
    if not isinstance(data, dict):
        raise AdminError(422, "bad_metadata", "metadata must be a JSON object of fields, e.g. {\"district\": \"Tây Hồ\"}.")
    return data


def _load_check(staged: Path) -> list[str]:
    """Load the staged file as the index would; the ids of its documents, or a 422 saying why not."""
    if staged.name.lower().endswith(tuple(CORPUS_SUFFIXES)):
        errors: list[DocumentError] = []
        ids = [d.id for d in iter_documents(staged, errors)]
        if errors or not ids:
            reason = "; ".join(e.message if hasattr(e, "message") else str(e) for e in errors[:3]) or "no documents in it"
            raise AdminError(422, "unreadable", f"The batch cannot be ingested: {reason}.")
        return ids
    try:
        return [load_document(staged).id]
    except DocumentError as exc:
        text = str(exc)
        if staged.suffix.lower() == ".pdf" and ("text layer" in text or "empty" in text):
            raise AdminError(422, "no_text_layer",
                             "The PDF has no text layer (a scan?): run it through OCR first, or send the .docx.") from None
        raise AdminError(422, "unreadable", f"The file cannot be read as a document: {text}") from None


# ------------------------------------------------------------------ the store


class DocumentFolder:
    """Where staff documents are kept: the corpus folder, and ``removed/`` beside the index."""

    def __init__(self, settings):
        corpus = Path(settings.corpus)
        self.folder = corpus if corpus.is_dir() else Path(settings.index) / "documents"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.removed = Path(settings.index) / "removed"
        self.staging = Path(settings.index) / "staging"

    def files_of(self, doc_id: str) -> list[Path]:
        found = [self.folder / f"{doc_id}{s}" for s in UPLOAD_SUFFIXES]
        return [p for p in found if p.is_file()]

    def stage(self, data: bytes, name: str, metadata: dict[str, Any]) -> Path:
        self.staging.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=self.staging))
        path = folder / name
        path.write_bytes(data)
        if metadata:
            (folder / (name + SIDECAR_SUFFIX)).write_text(json.dumps(metadata, ensure_ascii=False))
        return path

    def keep_aside(self, path: Path) -> None:
        """Move a replaced or deleted file (and its sidecar) to removed/, stamped: never deleted."""
        self.removed.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
        for p in (path, path.with_name(path.name + SIDECAR_SUFFIX)):
            if p.is_file():
                os.replace(p, self.removed / f"{stamp}-{p.name}")

    def place(self, staged: Path) -> Path:
        """Move a staged file (and sidecar) into the documents folder, atomically each."""
        target = self.folder / staged.name
        sidecar = staged.with_name(staged.name + SIDECAR_SUFFIX)
        if sidecar.is_file():
            os.replace(sidecar, self.folder / sidecar.name)
        os.replace(staged, target)
        return target


def _index_add(index, path: Path) -> list[str]:
    """Index the file; the ids changed (or already up to date). A document it cannot read fails the job."""
    report = index.add(path)
    if report.errors:
        raise RuntimeError("; ".join(str(e) for e in report.errors))
    index.warm()
    return report.changed + report.unchanged


def reconcile(interrupted: list[Job], folder: DocumentFolder, service) -> None:
    """Put the documents folder back in line with the index after a crash mid-job.

    The index is crash-safe by itself: it holds the state before the change or after it.
    A job killed after filing its file but before the index took it leaves the folder
    ahead of the index; the new file moves aside (kept, in removed/) and the replaced
    one comes back, so the folder and the index agree again. An upload still waiting in
    its staging folder is kept aside too."""
    for job in interrupted:
        work = Path(job.work_dir) if job.work_dir else None
        if work is None or not work.is_dir() or job.action not in ("add", "replace"):
            continue
        previous = work / "previous"
        names = {p.name for p in previous.iterdir()} if previous.is_dir() else set()
        placed = folder.files_of(job.document_id) if job.document_id else []
        index = service.get().index
        indexed = index.document_text(job.document_id) if job.document_id else None
        for path in placed:
            try:
                taken = indexed is not None and load_document(path).text == indexed
            except DocumentError:
                taken = False
            if not taken:
                folder.keep_aside(path)
        for name in names:
            if not (folder.folder / name).exists():
                os.replace(previous / name, folder.folder / name)
        for left in work.iterdir():  # never filed: the upload itself, kept aside like the rest
            if left.is_file() and not left.name.endswith(SIDECAR_SUFFIX):
                folder.keep_aside(left)
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------- routes


def admin_router(service) -> APIRouter:
    """The staff routes over ``service`` (qa.api.Service): its settings and open index."""
    settings = service.settings
    folder = DocumentFolder(settings)
    jobs = JobQueue(Path(settings.index) / "admin.sqlite")
    service.jobs = jobs
    reconcile(jobs.interrupted, folder, service)
    max_bytes = int(settings.max_upload_mb * 1_000_000)
    router = APIRouter(dependencies=[Depends(check_token)], tags=["staff"])

    async def read_upload(file: UploadFile) -> bytes:
        data = await file.read(max_bytes + 1)  # never more than the limit in memory
        if len(data) > max_bytes:
            raise AdminError(413, "too_large", f"The file is over the limit of {max_bytes / 1e6:.0f} MB.")
        return data

    def ingest(staged: Path, ids: list[str], replaces: list[Path]) -> dict[str, Any]:
        """The job: file the document, index it; on failure put the folder back as it was."""
        index = service.get().index
        target = folder.folder / staged.name
        originals = [p for p in (target, target.with_name(target.name + SIDECAR_SUFFIX)) if p.exists()]
        backup = staged.parent / "previous"
        backup.mkdir()
        for p in originals:  # a file of the same name is replaced: keep it until the index agrees
            shutil.copy2(p, backup / p.name)
        placed = folder.place(staged)
        try:
            changed = _index_add(index, placed)
        except Exception:
            for p in (placed, placed.with_name(placed.name + SIDECAR_SUFFIX)):
                p.unlink(missing_ok=True)
            for p in originals:
                os.replace(backup / p.name, p)
            raise
        else:
            for p in originals:
                folder.keep_aside(backup / p.name)
            for old in replaces:
                if old.name != placed.name:  # the replaced document had another type (.docx → .txt)
                    folder.keep_aside(old)
        finally:
            shutil.rmtree(staged.parent, ignore_errors=True)
        return {"document_id": ids[0] if len(ids) == 1 else None, "documents": ids, "changed": changed}

    def delete(doc_id: str) -> dict[str, Any]:
        index = service.get().index
        removed = index.remove(doc_id)
        for path in folder.files_of(doc_id):
            folder.keep_aside(path)
        index.warm()
        return {"document_id": doc_id, "passages_removed": removed}

    async def accept(action: str, file: UploadFile, metadata: str | None, doc_id: str | None) -> Job:
        data = await read_upload(file)
        try:
            suffix = check_upload(file.filename or "", data, max_bytes)
            meta = _metadata(metadata)
            name = f"{doc_id or _stem(file.filename or '')}{suffix}"
            known = service.get().index.documents()
            staged = folder.stage(data, name, meta)
            try:
                ids = _load_check(staged)
            except AdminError:
                shutil.rmtree(staged.parent, ignore_errors=True)
                raise
            clash = [i for i in ids if i in known]
            if action == "add" and clash:
                shutil.rmtree(staged.parent, ignore_errors=True)
                raise AdminError(409, "exists", f"A document with the id {clash[0]!r} is already indexed; "
                                                f"replace it with PUT /documents/{clash[0]}.")
        except AdminError as exc:
            jobs.audit(action, "refused", doc_id, None, f"{file.filename!r}: {exc.detail}")
            raise
        replaces = folder.files_of(doc_id) if doc_id else []
        return jobs.submit(action, lambda: ingest(staged, ids, replaces), document_id=doc_id or ids[0],
                           filename=Path(file.filename or name).name, work_dir=str(staged.parent))

    @router.post("/documents", status_code=202, response_model=JobOut, summary="Add a document (staff)",
                 responses=_errors(400, 401, 404, 409, 413, 415, 422))
    async def add_document(file: UploadFile = File(..., description=".txt, .md, .docx, .pdf or a .jsonl batch"),
                           metadata: str | None = Form(None, description="JSON object overriding extracted fields")) -> JobOut:
        return job_out(await accept("add", file, metadata, None))

    @router.put("/documents/{doc_id}", status_code=202, response_model=JobOut, summary="Replace a document (staff)",
                responses=_errors(400, 401, 404, 413, 415, 422))
    async def replace_document(doc_id: str, file: UploadFile = File(...),
                               metadata: str | None = Form(None)) -> JobOut:
        if doc_id not in service.get().index.documents():
            raise AdminError(404, "not_found", f"No document with the id {doc_id[:80]!r}; add it with POST /documents.")
        if file.filename and file.filename.lower().endswith(".jsonl"):
            raise AdminError(415, "unsupported_type", "A document is replaced by one file, not a .jsonl batch.")
        return job_out(await accept("replace", file, metadata, doc_id))

    @router.delete("/documents/{doc_id}", status_code=202, response_model=JobOut, summary="Delete a document (staff)",
                   responses=_errors(401, 404, 422))
    def delete_document(doc_id: str) -> JobOut:
        if doc_id not in service.get().index.documents():
            raise AdminError(404, "not_found", f"No document with the id {doc_id[:80]!r}.")
        return job_out(jobs.submit("delete", lambda: delete(doc_id), document_id=doc_id))

    @router.get("/jobs", response_model=list[JobOut], summary="Recent jobs (staff)", responses=_errors(401, 404, 422))
    def list_jobs(limit: int = 50) -> list[JobOut]:
        return [job_out(j) for j in jobs.recent(max(1, min(limit, 500)))]

    @router.get("/jobs/{job_id}", response_model=JobOut, summary="One job (staff)", responses=_errors(401, 404, 422))
    def get_job(job_id: str) -> JobOut:
        job = jobs.get(job_id)
        if job is None:
            raise AdminError(404, "not_found", f"No job with the id {job_id[:40]!r}.")
        return job_out(job)

    @router.get("/admin/log", response_model=list[AuditOut], summary="The audit log of changes (staff)",
                responses=_errors(401, 404, 422))
    def audit_log(limit: int = 200) -> list[AuditOut]:
        return [AuditOut(**e.__dict__) for e in jobs.log(max(1, min(limit, 5000)))]

    return router


def admin_page_router(service) -> APIRouter:
    """The staff page itself: public HTML (it asks for the token), 404 when staff routes are closed."""
    router = APIRouter()

    @router.get("/admin", include_in_schema=False)
    def admin_page():
        if service.settings.admin_token is None:
            raise AdminError(404, "not_found", "Not Found")
        return FileResponse(STATIC / "admin.html")

    return router


def install_admin(app: FastAPI, service) -> None:
    """The staff routes, the staff page and their error shape (``detail`` and a stable ``code``)."""

    @app.exception_handler(AdminError)
    async def admin_error(request: Request, exc: AdminError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail, "code": exc.code},
                            headers=headers)

    app.include_router(admin_router(service))
    app.include_router(admin_page_router(service))
