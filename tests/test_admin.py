"""Staff document management over HTTP (qa.admin, qa.jobs) on the real engine: a real
index of two corpus documents in a temporary folder, the real model, FastAPI's test
client. Uploads are real files: text, Markdown, Word (python-docx), PDF (fpdf2)."""

from __future__ import annotations

import io
import json
import shutil
import time

import pytest
from fastapi.testclient import TestClient

from tests.conftest import CORPUS

TOKEN = "to-ken-for-the-tests"
STAFF = {"Authorization": f"Bearer {TOKEN}"}
KEPT = ["bac-tu-liem-bao-cao-6-thang-dau-nam-2024", "tay-ho-tin-nhiem-vu-3-thang-cuoi-nam-2020"]
MADE_UP = """UBND QUẬN TÂY HỒ
THÔNG BÁO
Về việc trồng cây hoa sưa tại phường Nhật Tân năm 2021

Năm 2021, UBND quận Tây Hồ trồng 4.321 cây hoa sưa dọc đường Nhật Chiêu, phường Nhật Tân, để làm đẹp cảnh quan ven hồ.
Kinh phí trồng cây là 1.234 triệu đồng từ ngân sách quận.
"""
QUESTION = "quận Tây Hồ trồng bao nhiêu cây hoa sưa ở Nhật Tân"


def make_app(settings, embedder):
    from qa.api import create_app

    return create_app(settings, embedder=embedder)


@pytest.fixture(scope="module")
def staff_settings(settings, embedder, tmp_path_factory):
    from qa.store import build_index

    root = tmp_path_factory.mktemp("staff")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in KEPT:
        shutil.copy(CORPUS / f"{name}.txt", corpus)
    s = settings.model_copy(update={"corpus": corpus, "index": root / "index", "admin_token": TOKEN,
                                    "max_upload_mb": 1.0})
    build_index(corpus, s, embedder=embedder, progress=False)
    return s


@pytest.fixture(scope="module")
def client(staff_settings, embedder):
    from pydantic import SecretStr

    s = staff_settings.model_copy(update={"admin_token": SecretStr(TOKEN)})
    with TestClient(make_app(s, embedder)) as c:
        yield c


def wait(client, job: dict, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = client.get(f"/jobs/{job['id']}", headers=STAFF).json()
    return job


def documents(client) -> list[str]:
    return [d["id"] for d in client.get("/documents").json()]


# ------------------------------------------------------------------ access


def test_staff_routes_are_closed_when_no_token_is_configured(settings, embedder, staff_settings):
    s = staff_settings.model_copy(update={"admin_token": None})
    with TestClient(make_app(s, embedder)) as c:
        assert c.post("/documents", files={"file": ("a.txt", b"x")}).status_code == 404
        assert c.delete(f"/documents/{KEPT[0]}").status_code == 404
        assert c.get("/admin/log").status_code == 404
        assert c.get("/admin").status_code == 404
        assert c.get("/documents").status_code == 200  # reads stay public


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "])
def test_a_missing_or_wrong_token_is_refused_and_nothing_changes(client, header):
    before = documents(client)
    headers = {"Authorization": header} if header else {}
    r = client.post("/documents", files={"file": ("hoa-sua.txt", MADE_UP.encode())}, headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert client.delete(f"/documents/{KEPT[0]}", headers=headers).status_code == 401
    assert client.get("/admin/log", headers=headers).status_code == 401
    assert documents(client) == before


# ----------------------------------------------------------- add and delete


def test_an_uploaded_fact_becomes_searchable_and_a_deleted_one_disappears(client, staff_settings):
    assert client.get("/answer", params={"q": QUESTION}).json()["answer"] is None or \
        "4.321" not in client.get("/answer", params={"q": QUESTION}).json()["answer"]["text"]
    r = client.post("/documents", files={"file": ("hoa-sua.txt", MADE_UP.encode())},
                    data={"metadata": json.dumps({"type": "thông báo"})}, headers=STAFF)
    assert r.status_code == 202, r.text
    job = wait(client, r.json())
    assert job["status"] == "done", job
    assert job["document_id"] == "hoa-sua"
    answer = client.get("/answer", params={"q": QUESTION}).json()["answer"]
    assert answer is not None and "4.321" in answer["text"] and answer["doc"]["id"] == "hoa-sua"
    assert (staff_settings.corpus / "hoa-sua.txt").is_file()  # kept where a rebuild finds it

    r = client.delete("/documents/hoa-sua", headers=STAFF)
    assert r.status_code == 202
    assert wait(client, r.json())["status"] == "done"
    assert "hoa-sua" not in documents(client)
    results = client.get("/search", params={"q": QUESTION}).json()["results"]
    assert all(res["doc"]["id"] != "hoa-sua" for res in results)
    assert not (staff_settings.corpus / "hoa-sua.txt").exists()
    kept_aside = list((staff_settings.index / "removed").glob("*hoa-sua.txt"))
    assert kept_aside, "a deleted file is kept aside, not destroyed"

    log = client.get("/admin/log", headers=STAFF).json()
    done = [(e["action"], e["document_id"]) for e in log if e["outcome"] == "done"]
    assert ("delete", "hoa-sua") in done and ("add", "hoa-sua") in done


def test_a_document_is_replaced_in_place(client):
    from docx import Document as Docx

    r = client.post("/documents", files={"file": ("thong-bao-le-hoi.txt", MADE_UP.replace("4.321", "1.111").encode())},
                    headers=STAFF)
    assert wait(client, r.json())["status"] == "done"
    word = Docx()
    for line in MADE_UP.replace("4.321", "2.222").splitlines():
        word.add_paragraph(line)
    data = io.BytesIO()
    word.save(data)
    r = client.put("/documents/thong-bao-le-hoi", files={"file": ("le-hoi.docx", data.getvalue())}, headers=STAFF)
    assert r.status_code == 202, r.text
    assert wait(client, r.json())["status"] == "done"
    text = client.get("/documents/thong-bao-le-hoi").json()["text"]
    assert "2.222" in text and "1.111" not in text
    assert documents(client).count("thong-bao-le-hoi") == 1
    r = client.delete("/documents/thong-bao-le-hoi", headers=STAFF)
    assert wait(client, r.json())["status"] == "done"


def test_adding_an_id_that_exists_is_refused_with_the_way_to_replace_it(client):
    r = client.post("/documents", files={"file": (f"{KEPT[1]}.txt", MADE_UP.encode())}, headers=STAFF)
    assert r.status_code == 409 and r.json()["code"] == "exists"
    assert f"PUT /documents/{KEPT[1]}" in r.json()["detail"]


# ------------------------------------------------------------------- limits


def _pdf_without_text() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60)  # a drawing, no text: what a scan without OCR looks like to a reader
    return bytes(pdf.output())


@pytest.mark.parametrize("name, data, status, code", [
    ("bang.csv", b"a,b\n1,2\n", 415, "unsupported_type"),
    ("khong-ten", b"text", 415, "unsupported_type"),
    ("rong.txt", b"", 400, "empty_file"),
    ("trang.txt", b"  \n\t\n", 400, "empty_file"),
    ("gia.pdf", "Đây là chữ, không phải PDF".encode(), 415, "type_mismatch"),
    ("gia.docx", b"plain text named docx", 415, "type_mismatch"),
    ("anh.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 415, "type_mismatch"),
    ("latin1.txt", "Nghị quyết".encode("utf-16"), 415, "type_mismatch"),
    ("qua-lon.txt", b"a" * 1_100_000, 413, "too_large"),
    ("scan.pdf", None, 422, "no_text_layer"),
    (".an.txt", b"text", 400, "bad_filename"),
])
def test_bad_files_are_refused_with_a_plain_reason(client, name, data, status, code):
    before = documents(client)
    data = _pdf_without_text() if data is None else data
    r = client.post("/documents", files={"file": (name, data)}, headers=STAFF)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["detail"]
    assert documents(client) == before
    assert client.get("/health").status_code == 200


def test_bad_metadata_is_refused(client):
    for raw in ("{not json", "[1, 2]"):
        r = client.post("/documents", files={"file": ("a.txt", MADE_UP.encode())}, data={"metadata": raw}, headers=STAFF)
        assert r.status_code == 422 and r.json()["code"] == "bad_metadata"


def test_replacing_or_deleting_an_unknown_document_is_a_404(client):
    assert client.delete("/documents/khong-co", headers=STAFF).status_code == 404
    r = client.put("/documents/khong-co", files={"file": ("a.txt", MADE_UP.encode())}, headers=STAFF)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert client.get("/jobs/khong-co", headers=STAFF).status_code == 404


def test_a_jsonl_batch_adds_every_document(client):
    records = [{"id": f"lo-{i}", "title": f"Thông báo số {i}", "text": MADE_UP.replace("4.321", f"{i}.000")}
               for i in (7, 8)]
    batch = "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()
    r = client.post("/documents", files={"file": ("lo.jsonl", batch)}, headers=STAFF)
    job = wait(client, r.json())
    assert job["status"] == "done" and sorted(job["result"]["documents"]) == ["lo-7", "lo-8"]
    assert {"lo-7", "lo-8"} <= set(documents(client))
    for doc_id in ("lo-7", "lo-8"):
        assert wait(client, client.delete(f"/documents/{doc_id}", headers=STAFF).json())["status"] == "done"


def test_the_staff_page_is_served_in_vietnamese(client):
    r = client.get("/admin")
    assert r.status_code == 200 and "Quản lý văn bản" in r.text
    assert "script-src" in r.headers["content-security-policy"]


# ------------------------------------------------------- jobs after a restart


def test_a_job_interrupted_by_a_restart_is_reported_failed(tmp_path):
    from qa.jobs import INTERRUPTED, JobQueue

    path = tmp_path / "admin.sqlite"
    first = JobQueue(path)
    started = []

    def never_finishes():  # the process "dies" while this runs: close() abandons the thread
        started.append(True)
        time.sleep(3)
        return {}

    job = first.submit("add", never_finishes, document_id="x")
    queued = first.submit("delete", lambda: {}, document_id="y")
    while not started:
        time.sleep(0.01)
    second = JobQueue(path)  # what the restarted service opens
    for j in (job, queued):
        got = second.get(j.id)
        assert got.status == "failed" and got.error == INTERRUPTED
    assert [e.outcome for e in second.log() if e.job_id == job.id] == ["failed"]
