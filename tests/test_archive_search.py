"""Search and answers in an archive: other years' versions of the same district
documents beside the five real ones (real model, real index, trained ranker)."""

from __future__ import annotations

import pytest

from qa.search import confident

NQ21 = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"
NQ21_2022 = "bac-tu-liem-nq-21-2021-ke-hoach-nam-2022--nam-khac"
BC2024 = "bac-tu-liem-bao-cao-6-thang-dau-nam-2024"


@pytest.mark.parametrize("year, doc_id", [(2021, NQ21), (2022, NQ21_2022)])
def test_the_year_asked_for_wins_over_the_same_districts_other_years(archive_searcher, year, doc_id):
    response = archive_searcher.search(f"chỉ tiêu tỷ lệ bao phủ bảo hiểm y tế năm {year}", k=5)
    top = response.results[0]
    assert top.doc.id == doc_id and "Tỷ lệ bao phủ bảo hiểm y tế" in top.passage.text
    assert confident(response)


def test_the_report_of_the_half_year_asked_for_wins(archive_searcher):
    response = archive_searcher.search("thu ngân sách 6 tháng đầu năm 2025", k=5)
    assert response.results[0].doc.period == "6 tháng đầu năm 2025"
    response = archive_searcher.search("thu ngân sách 6 tháng đầu năm 2024", k=5)
    assert response.results[0].doc.id == BC2024


def test_without_a_year_the_other_periods_are_listed_newest_first(archive_searcher):
    response = archive_searcher.search("tỷ lệ bao phủ bảo hiểm y tế của quận Bắc Từ Liêm", k=5)
    top = response.results[0]
    assert "Tỷ lệ bao phủ bảo hiểm y tế" in top.passage.text
    periods = [r.doc.period for r in response.also]
    assert len(periods) >= 2 and top.doc.period not in periods
    years = [max(r.doc.years) for r in response.also]
    assert years == sorted(years, reverse=True)
    assert all("Tỷ lệ bao phủ bảo hiểm y tế" in r.passage.text for r in response.also)


@pytest.mark.parametrize("query, why", [
    ("chỉ tiêu tỷ lệ bao phủ bảo hiểm y tế năm 2012 của quận Bắc Từ Liêm", "a year the archive has no plan for"),
    ("thu ngân sách quận Cầu Giấy 6 tháng đầu năm 2024", "another district"),
    ("kết quả thu ngân sách quý III năm 2024 của Bắc Từ Liêm", "a period no document is about"),
    ("số ca mắc sốt xuất huyết của quận Bắc Từ Liêm 6 tháng đầu năm 2024", "a fact that is not there"),
    ("công thức nấu phở bò ngon tại nhà", "nothing to do with local government"),
    ("kết quả trận bóng đá Việt Nam Thái Lan tối qua", "nothing to do with local government"),
])
def test_near_miss_questions_get_no_answer(archive_searcher, query, why):
    assert not confident(archive_searcher.search(query, k=5)), why


def test_a_question_naming_a_district_also_searches_within_it(archive_searcher):
    """The district's own passages join the candidates (``Searcher.scope``), without a rank
    in the whole lists: a national or other-district passage cannot crowd them out."""
    from qa.query import understand

    q = understand("tây hồ còn hộ nghèo không", archive_searcher.lexicon)
    scope = archive_searcher.scope(q, None)
    docs = archive_searcher.index.documents()
    scoped = archive_searcher.index.passages(scope.tolist())
    assert scoped and {docs[p.doc_id].district for p in scoped.values()} == {"Tây Hồ"}
    candidates = archive_searcher.retrieve(q, "hybrid", archive_searcher.config.candidates, None)
    extra = [pid for pid, (rank, _) in candidates.lexical.items() if rank is None]
    assert extra and all(docs[archive_searcher.index.passages([pid])[pid].doc_id].district == "Tây Hồ"
                         for pid in extra)
    # a question naming no district has no scope
    assert archive_searcher.scope(understand("tỷ lệ hộ nghèo", archive_searcher.lexicon), None) is None
