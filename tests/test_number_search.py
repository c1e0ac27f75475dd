"""Document numbers as a route of search, and validity in search, on real documents.

The five district documents (``searcher``) and, with the shared collection beside the
project, ``related_index``: the five plus four circulars each replacing the one before
and a Vĩnh Long resolution sharing the short number 21/NQ-HĐND (tests/conftest.py)."""

from __future__ import annotations

import pytest

from qa.relations import NOT_IN_FORCE
from qa.search import Filters, Searcher

NQ21 = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"
NQ01 = "bac-tu-liem-nq-01-2020-6-thang-cuoi-nam-2020"
VINH_LONG_21 = "tnt:40de74e605854414"
CIRCULARS = {  # pension adjustment: each replaces the one before; 01/2025 is in force
    "36/2021": "congbao:thong-tu-so-36-2021-tt-bldtbxh-36618", "01/2023": "congbao:thong-tu-so-01-2023-tt-bldtbxh-38752",
    "20/2023": "congbao:thong-tu-so-20-2023-tt-bldtbxh-41198", "01/2025": "congbao:thong-tu-so-01-2025-tt-bldtbxh-43956",
}
# Questions about the circulars that name no period: what applies now is asked.
PENSION_QUESTIONS = [
    "mức điều chỉnh tiền lương tháng đã đóng bảo hiểm xã hội", "hệ số điều chỉnh thu nhập tháng đã đóng BHXH",
    "đối tượng áp dụng điều chỉnh tiền lương đã đóng bảo hiểm xã hội",
    "tiền lương tháng đã đóng bhxh được điều chỉnh thế nào", "dieu chinh thu nhap thang da dong bao hiem xa hoi tu nguyen",
    "lương hưu tính trên tiền lương đã đóng được điều chỉnh theo hệ số nào",
    "người lao động đóng BHXH bắt buộc điều chỉnh tiền lương",
    "thông tư điều chỉnh tiền lương đã đóng bảo hiểm xã hội có hiệu lực khi nào",
]


@pytest.fixture(scope="module")
def related(related_index):
    return Searcher(related_index)


@pytest.mark.parametrize("written, expected", [
    ("21/NQ-HĐND", NQ21), ("21/NQ-HDND", NQ21), ("21 / NQ - HĐND", NQ21), ("nq 21", NQ21), ("NQ số 21", NQ21),
    ("Nghị quyết số 21", NQ21), ("nghi quyet so 21", NQ21), ("nghi quyet 21 nq hdnd bac tu liem", NQ21),
    ("nghị quyết 21/2020", NQ21), ("01/NQ-HĐND", NQ01), ("nq 01 bắc từ liêm", NQ01), ("Nghị quyết số 1", NQ01),
])
def test_a_number_written_any_way_finds_its_document_first(searcher, written, expected):
    response = searcher.search(written, k=3)
    assert response.results[0].doc.id == expected
    assert [d.id for d in response.named] == [expected]


@pytest.mark.parametrize("written", ["nq 21", "Nghị quyết số 21/NQ-HDND", "nghi quyet 21"])
def test_what_a_numbered_resolution_assigns_about_a_topic(searcher, written):
    top = searcher.search(f"{written} giao nhiệm vụ gì về vệ sinh môi trường", k=3).results[0]
    assert top.doc.id == NQ21 and "vệ sinh môi trường" in top.passage.text.lower()


def test_what_a_numbered_circular_says_about_a_topic(related):
    top = related.search("thông tư 01/2025 áp dụng cho đối tượng nào", k=3).results[0]
    assert top.doc.id == CIRCULARS["01/2025"] and "Đối tượng áp dụng" in top.passage.section


def test_a_number_no_document_has_is_no_route(searcher):
    response = searcher.search("Nghị định 15/2020/NĐ-CP xử phạt", k=3)
    assert response.named == [] and response.understood.documents == []
    assert 2020 not in response.understood.years  # the number's year is not a period asked about
    assert response.results


@pytest.mark.parametrize("query, expected, decided", [
    ("nghi quyet 21 nq hdnd bac tu liem", NQ21, True), ("nq 21 quận Bắc Từ Liêm chỉ tiêu BHYT", NQ21, True),
    ("nq 21 năm 2025", VINH_LONG_21, True),
    # no place, year or issuer code: both are named, and their passages' ranking decides
    ("nghị quyết 21 hỗ trợ trẻ em mầm non tỉnh Vĩnh Long", VINH_LONG_21, False),
    ("nghị quyết 21 chỉ tiêu hộ nghèo", NQ21, False),  # "hộ" folds to the "ho" of "hỗ trợ" in the other title
])
def test_the_other_words_decide_between_documents_sharing_a_short_number(related, query, expected, decided):
    response = related.search(query, k=3)
    assert response.results[0].doc.id == expected
    assert {d.id for d in response.named} == {NQ21, VINH_LONG_21}  # the response says which the number matched
    assert response.understood.documents == ([expected] if decided else [d.id for d in response.named])
    if decided:
        assert response.named[0].id == expected


@pytest.mark.parametrize("written", ["01/2023/TT-BLĐTBXH", "thông tư 01/2023/tt-bldtbxh", "TT 01/2023", "Thông tư số 01/2023"])
def test_a_named_document_comes_first_even_when_replaced(related, written):
    response = related.search(f"{written} điều chỉnh tiền lương", k=3)
    assert response.results[0].doc.id == CIRCULARS["01/2023"]
    assert response.results[0].status == "replaced"


def test_each_result_says_its_documents_status(related):
    with related.index.reading():
        statuses = {key: related.status(doc_id) for key, doc_id in CIRCULARS.items()}
        assert statuses == {"36/2021": "replaced", "01/2023": "replaced", "20/2023": "replaced", "01/2025": "in_force"}
        results = related.search(PENSION_QUESTIONS[0], k=10).results
    assert all(r.status == statuses[next(k for k, v in CIRCULARS.items() if v == r.doc.id)]
               for r in results if r.doc.id in CIRCULARS.values())


def test_questions_naming_no_period_prefer_documents_in_force(related):
    """The rule of RankingConfig.superseded_penalty, measured: how many questions get a
    passage of a document in force first, with the rule and without it."""
    def in_force_first(searcher) -> int:
        with searcher.index.reading():
            return sum(searcher.search(q, k=1).results[0].status not in NOT_IN_FORCE for q in PENSION_QUESTIONS)

    without = Searcher(related.index, related.config.model_copy(update={"superseded_penalty": 0.0}))
    with_rule, without_rule = in_force_first(related), in_force_first(without)
    assert with_rule == len(PENSION_QUESTIONS), with_rule
    assert without_rule < with_rule, without_rule


def test_status_filters(related):
    query = PENSION_QUESTIONS[0]
    with related.index.reading():
        kept = related.search(query, k=20, filters=Filters(include_expired=False)).results
        replaced = related.search(query, k=20, filters=Filters(status="replaced")).results
        in_force = related.search(query, k=20, filters=Filters(status="in_force")).results
    assert kept and all(r.status not in NOT_IN_FORCE for r in kept)
    assert {r.doc.id for r in replaced} <= {CIRCULARS[k] for k in ("36/2021", "01/2023", "20/2023")} and replaced
    assert in_force and all(r.status == "in_force" for r in in_force)
