"""Queries that cannot be searched: error codes, queries with nothing to search for, empty filters."""

from __future__ import annotations

import pytest

from qa.query import NO_CONTENT, QueryError, has_content, searchable_words, validate
from qa.search import Filters, confident

NQ21 = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"

# Nothing a document is written in: symbols, punctuation, emoji, other scripts, headings' markers.
NO_CONTENT_QUERIES = [
    "*", "...", "?!", "-- / --", "“”", "…", "😀", "👍🏻🙏", "→ ★ ©", "你好", "税收 预算", "Привет", "Бюджет района",
    "مرحبا", "こんにちは", "III.", "IV", "II. a)", "XII -", "a)", "b.", "ở", "___",
]
# What people type: with and without diacritics, abbreviations, numbers, document numbers.
ORDINARY_QUERIES = [
    "chỉ tiêu BHYT năm 2021", "chi tieu bhyt nam 2021", "BHYT", "bhyt", "21/NQ-HĐND", "21/NQ-HDND", "nq 21",
    "2021", "863", "5", "GPXD BTL cap dc bn", "thu ngân sách 6 tháng đầu năm 2024", "Tây Hồ", "ý kiến cử tri",
    "KT-XH", "CCHC", "COVID-19", "２０２１", "Привет BHYT", "你好 ngân sách",
]


@pytest.mark.parametrize("raw, code", [
    ("", "empty_query"), ("   \n", "empty_query"), ("x" * 1001, "query_too_long"),
    ("thu\x00ngân sách", "control_characters"), ("ngân\x1bsách", "control_characters"),
])
def test_validation_errors_carry_their_code(raw, code):
    with pytest.raises(QueryError) as raised:
        validate(raw)
    assert raised.value.code == code
    assert str(raised.value)  # and a message in plain words


def test_a_query_error_has_a_default_code():
    assert QueryError("something").code == "bad_query"
    assert QueryError("something", code="unknown_mode").code == "unknown_mode"


def test_search_errors_carry_their_code(searcher):
    with pytest.raises(QueryError) as raised:
        searcher.search("ngân sách", mode="fuzzy")
    assert raised.value.code == "unknown_mode" and "hybrid" in str(raised.value)
    for filters in (Filters(district="Atlantis"), Filters(type="sắc lệnh")):
        with pytest.raises(QueryError) as raised:
            searcher.search("ngân sách", filters=filters)
        assert raised.value.code == "unknown_filter" and "Known values" in str(raised.value)
    with pytest.raises(QueryError) as raised:
        searcher.search("  ")
    assert raised.value.code == "empty_query"


@pytest.mark.parametrize("raw", NO_CONTENT_QUERIES)
def test_what_has_no_content(raw):
    assert not has_content(raw), searchable_words(raw)


@pytest.mark.parametrize("raw", ORDINARY_QUERIES)
def test_what_has_content(raw):
    assert has_content(raw)


def test_searchable_words_keep_words_and_numbers_as_typed():
    assert searchable_words("III. Chỉ tiêu BHYT năm 2021 😀") == ["Chỉ", "tiêu", "BHYT", "năm", "2021"]
    assert searchable_words("21/NQ-HĐND") == ["21", "NQ", "HĐND"]
    # a Roman numeral is a heading's number in capitals only: "vi" is "vì" typed without diacritics
    assert searchable_words("vi sao") == ["vi", "sao"] and searchable_words("VI") == []


@pytest.mark.parametrize("raw", ["*", "III.", "你好", "Привет", "😀", "?!", "a)"])
def test_no_content_gets_no_results_and_a_plain_message(searcher, raw):
    for mode in ("hybrid", "lexical", "dense"):
        response = searcher.search(raw, k=10, mode=mode)
        assert response.results == [] and response.total == 0
        assert response.declined == NO_CONTENT and "words or numbers" in response.message
        assert not confident(response)  # /answer: null
        assert response.also == []


@pytest.mark.parametrize("raw", ["chỉ tiêu BHYT năm 2021", "chi tieu bhyt nam 2021", "21/NQ-HĐND", "2021", "BHYT"])
def test_ordinary_queries_still_search(searcher, raw):
    response = searcher.search(raw, k=5)
    assert len(response.results) == 5 and response.total >= 5
    assert response.message == "" and response.declined != NO_CONTENT


def test_bhyt_still_answers_from_its_table(searcher):
    for raw in ("chỉ tiêu BHYT năm 2021", "chi tieu bhyt nam 2021"):
        response = searcher.search(raw, k=5)
        assert response.results[0].doc.id == NQ21 and confident(response)


def test_empty_filters_are_no_filters(searcher):
    plain = [(r.passage.id, r.score) for r in searcher.search("nhiệm vụ trọng tâm", k=10).results]
    for filters in (Filters(district=""), Filters(type=""), Filters(district="", type="  "), Filters("", None, "")):
        assert not filters.active()
        got = [(r.passage.id, r.score) for r in searcher.search("nhiệm vụ trọng tâm", k=10, filters=filters).results]
        assert got == plain
    # an empty district beside a real filter leaves that filter alone
    results = searcher.search("nhiệm vụ trọng tâm", k=20, filters=Filters(district="", type="nghị quyết")).results
    assert results and {r.doc.type for r in results} == {"nghị quyết"}
    # a value with stray spaces is the value
    results = searcher.search("nhiệm vụ trọng tâm", k=20, filters=Filters(district=" Tây Hồ ")).results
    assert results and {r.doc.district for r in results} == {"Tây Hồ"}


def test_a_part_of_a_year_named_without_its_year_is_any_years(searcher):
    """ "6 tháng cuối năm" without a year is not this year's second half: the resolution on
    the tasks of the second half of 2020 answers it, and is not declined as another year."""
    from qa.query import understand

    q = understand("nhiệm vụ 6 tháng cuối năm về quản lý tài nguyên nước", searcher.lexicon)
    assert q.years == set() and q.period == "6 tháng cuối năm"
    response = searcher.search("nhiệm vụ 6 tháng cuối năm về quản lý tài nguyên nước")
    assert response.results[0].doc.id == "bac-tu-liem-nq-01-2020-6-thang-cuoi-nam-2020"
    assert response.declined != "another year"


def test_this_year_is_the_archives_present(searcher):
    """ "năm nay" is the year of the newest document (the 2024 report), not the calendar's."""
    from qa.query import present_year, understand

    assert searcher.lexicon.present_year == 2024
    assert understand("thu ngân sách 6 tháng đầu năm nay", searcher.lexicon).period == "6 tháng đầu năm 2024"
    docs = list(searcher.index.documents().values())
    import datetime as dt

    assert present_year(docs, today=dt.date(2022, 5, 1)) == 2022  # never in the future
    assert present_year([]) is None
