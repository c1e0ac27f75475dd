"""GET /documents/{id} (number, validity, relations both ways), GET /documents?number=,
and the status filters of /search and /answer, over real indexes through the test client."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.store import build_index
from tests.conftest import CORPUS

NQ21 = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"
NQ01 = "bac-tu-liem-nq-01-2020-6-thang-cuoi-nam-2020"
CIRCULAR_2023 = "congbao:thong-tu-so-20-2023-tt-bldtbxh-41198"
CIRCULAR_2025 = "congbao:thong-tu-so-01-2025-tt-bldtbxh-43956"
CIRCULAR_JAN_2023 = "congbao:thong-tu-so-01-2023-tt-bldtbxh-38752"

# Two resolutions written for these tests, as the district would write them: one amends a
# target of 21/NQ-HĐND, the other replaces 01/NQ-HĐND.
AMENDING = """HỘI ĐỒNG NHÂN DÂN
QUẬN BẮC TỪ LIÊM

Số: 05/NQ-HĐND

Bắc Từ Liêm, ngày 30 tháng 6 năm 2021

NGHỊ QUYẾT

Về việc điều chỉnh một số chỉ tiêu kế hoạch phát triển kinh tế - xã hội năm 2021

HỘI ĐỒNG NHÂN DÂN QUẬN BẮC TỪ LIÊM

Căn cứ Luật Tổ chức chính quyền địa phương ngày 19/6/2015;

QUYẾT NGHỊ:

Điều 1. Sửa đổi, bổ sung chỉ tiêu 19 Mục I Điều 1 Nghị quyết số 21/NQ-HĐND ngày 18/12/2020 của HĐND Quận về kế \
hoạch phát triển kinh tế - xã hội năm 2021 như sau: tỷ lệ bao phủ bảo hiểm y tế đạt 92%.

Điều 2. Nghị quyết này có hiệu lực kể từ ngày ký.
"""
REPLACING = """HỘI ĐỒNG NHÂN DÂN
QUẬN BẮC TỪ LIÊM

Số: 09/NQ-HĐND

Bắc Từ Liêm, ngày 15 tháng 7 năm 2020

NGHỊ QUYẾT

Về nhiệm vụ trọng tâm 6 tháng cuối năm 2020 (điều chỉnh)

HỘI ĐỒNG NHÂN DÂN QUẬN BẮC TỪ LIÊM

Căn cứ Luật Tổ chức chính quyền địa phương ngày 19/6/2015;

QUYẾT NGHỊ:

Điều 1. Thông qua nhiệm vụ trọng tâm 6 tháng cuối năm 2020: hoàn thành giải phóng mặt bằng các dự án trọng điểm, \
nâng cao chất lượng dịch vụ công trực tuyến.

Điều 2. Nghị quyết này có hiệu lực kể từ ngày ký và thay thế Nghị quyết số 01/NQ-HĐND ngày 18/6/2020 của HĐND Quận \
về nhiệm vụ phát triển kinh tế - xã hội 6 tháng cuối năm 2020.
"""


@pytest.fixture(scope="module")
def client(built_index, settings, embedder):
    with TestClient(create_app(settings, embedder)) as c:
        yield c


@pytest.fixture(scope="module")
def changed(settings, embedder, tmp_path_factory):
    """The two Bắc Từ Liêm resolutions and the two written above, indexed together."""
    folder = tmp_path_factory.mktemp("changed")
    corpus = folder / "corpus"
    corpus.mkdir()
    for doc_id in (NQ21, NQ01):
        shutil.copy(CORPUS / f"{doc_id}.txt", corpus)
    (corpus / "bac-tu-liem-nq-05-2021-dieu-chinh.txt").write_text(AMENDING, encoding="utf-8")
    (corpus / "bac-tu-liem-nq-09-2020-thay-the.txt").write_text(REPLACING, encoding="utf-8")
    s = settings.model_copy(update={"corpus": corpus, "index": folder / "index"})
    build_index(s.corpus, s, embedder=embedder, progress=False)
    with TestClient(create_app(s, embedder)) as c:
        yield c


@pytest.fixture(scope="module")
def related(related_index, embedder):
    with TestClient(create_app(related_index.settings, embedder)) as c:
        yield c


# ------------------------------------------------------------------ the five documents


def test_a_document_carries_its_number_status_and_legal_bases(client):
    doc = client.get(f"/documents/{NQ21}").json()
    assert doc["number"] == "21/NQ-HĐND" and doc["number_key"] == "21/NQ-HDND"
    assert doc["status"]["status"] == "unknown" and doc["status"]["label"] == "Chưa rõ"
    outgoing = doc["relations"]["outgoing"]
    assert {r["kind"] for r in outgoing} == {"based_on"} and doc["relations"]["incoming"] == []
    by_name = next(r for r in outgoing if not r["cited_number"])
    assert by_name["cited_title"] == "Luật Tổ chức chính quyền địa phương" and by_name["cited_date"] == "ngày 19/6/2015"
    assert by_name["cited_iso_date"] == "2015-06-19" and by_name["linked_id"] is None  # the law is not indexed
    numbered = next(r for r in outgoing if r["cited_number"])
    assert numbered["cited_number"] == "47/2019/QH14" and numbered["cited_number_key"] == "47/2019/QH14"
    evidence = numbered["evidence"]
    assert evidence["doc_id"] == NQ21 and "47/2019/QH14" in doc["text"][evidence["start"] : evidence["end"]]
    assert "Quốc hội" in evidence["passage"]


@pytest.mark.parametrize("written", ["21/NQ-HĐND", "21/NQ-HDND", "21 / nq - hdnd", "nq 21", "Nghị quyết số 21",
                                     "nghi quyet so 21", "NQ 21/2020"])
def test_documents_by_number_written_any_way(client, written):
    found = client.get("/documents", params={"number": written})
    assert found.status_code == 200
    assert [d["id"] for d in found.json()] == [NQ21]
    assert found.json()[0]["number_key"] == "21/NQ-HDND" and found.json()[0]["status"]["status"] == "unknown"


def test_documents_by_number_none_and_errors(client):
    assert client.get("/documents", params={"number": "15/2020/NĐ-CP"}).json() == []
    assert len(client.get("/documents", params={"number": ""}).json()) == 5  # an empty filter is none
    for bad in ("bảo hiểm y tế", "x" * 300):
        response = client.get("/documents", params={"number": bad})
        assert response.status_code == 422 and response.json()["code"] == "invalid_parameter"
        assert set(response.json()) == {"detail", "code"}
    missing = client.get("/documents/no-such-document")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_search_results_say_their_status_and_the_numbers_documents(client):
    body = client.get("/search", params={"q": "nghi quyet 21 nq hdnd bac tu liem", "k": 3}).json()
    assert body["results"][0]["doc"]["id"] == NQ21
    assert all(r["status"] == "unknown" for r in body["results"])
    assert [(n["doc"]["id"], n["chosen"]) for n in body["named"]] == [(NQ21, True)]
    assert client.get("/search", params={"q": "chỉ tiêu BHYT năm 2021"}).json()["named"] == []


def test_status_filter_errors(client):
    for route in ("/search", "/answer"):
        bad = client.get(route, params={"q": "BHYT", "status": "cancelled"})
        assert bad.status_code == 422 and bad.json()["code"] == "unknown_filter"
        assert client.get(route, params={"q": "BHYT", "status": ""}).status_code == 200
        wrong = client.get(route, params={"q": "BHYT", "include_expired": "maybe"})
        assert wrong.status_code == 422 and wrong.json()["code"] == "invalid_parameter"


# ------------------------------------------------------------------ documents that change others


def test_an_amending_resolution_links_both_ways_and_marks_the_amended_one(changed):
    amended = changed.get(f"/documents/{NQ21}").json()
    assert amended["status"]["status"] == "partly_amended" and amended["status"]["label"] == "Sửa đổi một phần"
    incoming = amended["relations"]["incoming"]
    amending_id = "bac-tu-liem-nq-05-2021-dieu-chinh"
    assert [(r["kind"], r["linked_id"], r["partial"]) for r in incoming] == [("amends", amending_id, True)]
    assert incoming[0]["linked_number"] == "05/NQ-HĐND" and incoming[0]["direction"] == "incoming"
    evidence = next(e for e in amended["status"]["evidence"] if e["kind"] == "amends")
    assert evidence["doc_id"] == amending_id and "Sửa đổi, bổ sung" in evidence["passage"]
    amending = changed.get(f"/documents/{amending_id}").json()
    out = next(r for r in amending["relations"]["outgoing"] if r["kind"] == "amends")
    assert out["linked_id"] == NQ21 and out["cited_number"] == "21/NQ-HĐND" and out["cited_date"] == "ngày 18/12/2020"
    assert "21/NQ-HĐND" in amending["text"][out["evidence"]["start"] : out["evidence"]["end"]]
    assert amending["status"]["status"] == "in_force" and amending["effective_date"] == "2021-06-30"


def test_a_replacing_resolution_marks_the_old_one_replaced_and_search_prefers_the_new(changed):
    old = changed.get(f"/documents/{NQ01}").json()
    assert old["status"]["status"] == "replaced" and old["status"]["end_date"] == "2020-07-15"
    assert [(r["kind"], r["linked_id"]) for r in old["relations"]["incoming"]] == [
        ("replaces", "bac-tu-liem-nq-09-2020-thay-the")]
    query = {"q": "nhiệm vụ trọng tâm 6 tháng cuối năm 2020 giải phóng mặt bằng", "k": 10}
    statuses = {r["doc"]["id"]: r["status"] for r in changed.get("/search", params=query).json()["results"]}
    assert statuses.get(NQ01) == "replaced"
    kept = changed.get("/search", params={**query, "include_expired": "false"}).json()["results"]
    assert kept and NQ01 not in {r["doc"]["id"] for r in kept}
    only = changed.get("/answer", params={**query, "status": "replaced"}).json()["results"]
    assert only and {r["doc"]["id"] for r in only} == {NQ01}


def test_real_circulars_replacing_one_another_link_both_ways(related):
    doc = related.get(f"/documents/{CIRCULAR_2023}").json()
    assert doc["number_key"] == "20/2023/TT-BLDTBXH" and doc["effective_date"] == "2024-02-15"
    assert doc["status"]["status"] == "replaced" and doc["status"]["end_date"] == "2025-01-10"
    replaced_by = [(r["kind"], r["linked_id"]) for r in doc["relations"]["incoming"]]
    replaces = [(r["kind"], r["linked_id"]) for r in doc["relations"]["outgoing"] if r["linked_id"]]
    assert replaced_by == [("replaces", CIRCULAR_2025)] and replaces == [("replaces", CIRCULAR_JAN_2023)]
    newest = related.get(f"/documents/{CIRCULAR_2025}").json()
    assert newest["status"]["status"] == "in_force" and newest["status"]["label"] == "Còn hiệu lực"
    numbered = related.get("/documents", params={"number": "nq 21"}).json()
    assert {d["id"] for d in numbered} == {NQ21, "tnt:40de74e605854414"}


def test_answer_says_which_documents_a_shared_number_matched(related):
    body = related.get("/answer", params={"q": "nghị quyết 21 hỗ trợ trẻ em mầm non Vĩnh Long"}).json()
    # no place, year or issuer code tells them apart: both are named, the passages decide
    assert [(n["doc"]["id"], n["chosen"]) for n in body["named"]] == [("tnt:40de74e605854414", True), (NQ21, True)]
    assert body["results"][0]["doc"]["id"] == "tnt:40de74e605854414"
    body = related.get("/answer", params={"q": "nghị quyết 21 quận Bắc Từ Liêm chỉ tiêu BHYT"}).json()
    assert [(n["doc"]["id"], n["chosen"]) for n in body["named"]] == [(NQ21, True), ("tnt:40de74e605854414", False)]
