"""Tests for qa.periods: Vietnamese time expressions in documents and questions."""

from __future__ import annotations

import doctest
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qa.periods
from qa.periods import (
    FIRST_YEAR,
    KINDS,
    LAST_YEAR,
    Period,
    document_period,
    find_periods,
    mentioned_periods,
    most_specific,
    same_period,
    years_of,
)
from qa.text import fold

REF = 2025

# (text, reference year, [(kind, label, the text the period covers)]); each text is
# also checked folded (no diacritics), where the covered text is folded too.
EXAMPLES = [
    # years
    ("chỉ tiêu BHYT năm 2021", None, [("year", "2021", "năm 2021")]),
    ("kế hoạch 2021 của quận", None, [("year", "2021", "2021")]),
    ("từ 1949 đến 2100 không phải năm", None, []),
    ("1950 và 2099", None, [("year", "1950", "1950"), ("year", "2099", "2099")]),
    # not years: document numbers, quantities
    ("Nghị quyết số 21/NQ-HĐND", None, []),
    ("Nghị quyết số 01/2020/NQ-HĐND", None, []),
    ("Luật số: 59/2020/QH14", None, []),
    ("Nghị định 84/2020 của Chính phủ", None, []),
    ("Thông tư liên tịch số 06/2018", None, []),
    ("Số 2021/QĐ-UBND", None, []),
    ("thu 2.020 tỷ đồng, tăng 2,5%", None, []),
    ("có 2025 người tham gia", None, []),
    # dates: a kind of their own, they count for their year
    ("ngày 13/11/2020", None, [("date", "ngày 13/11/2020", "ngày 13/11/2020")]),
    ("Ngày đăng 13/11/2020 | 15:51", None, [("date", "ngày 13/11/2020", "13/11/2020")]),
    ("Tây Hồ, ngày 18 tháng 6 năm 2020", None, [("date", "ngày 18/6/2020", "ngày 18 tháng 6 năm 2020")]),
    ("ban hành 2020-12-18", None, [("date", "ngày 18/12/2020", "2020-12-18")]),
    ("ngày 31/2/2020 không có", None, []),
    ("Nghị quyết số 01/2020/NQ-HĐND ngày 18/6/2020", None, [("date", "ngày 18/6/2020", "ngày 18/6/2020")]),
    # months of a year
    ("giải ngân đến hết tháng 6/2024", None, [("month", "tháng 6 năm 2024", "tháng 6/2024")]),
    ("kỳ chi trả tháng 12 năm 2025", None, [("month", "tháng 12 năm 2025", "tháng 12 năm 2025")]),
    ("lịch tiếp công dân tháng 7", REF, []),
    # ranges
    ("giai đoạn 2020-2025", None, [("range", "2020-2025", "giai đoạn 2020-2025")]),
    ("2020 – 2025", None, [("range", "2020-2025", "2020 – 2025")]),
    ("kế hoạch đầu tư công giai đoạn 2021 - 2025", None, [("range", "2021-2025", "giai đoạn 2021 - 2025")]),
    ("nhiệm kỳ 2020 - 2025", None, [("range", "2020-2025", "nhiệm kỳ 2020 - 2025")]),
    ("từ năm 2021 đến năm 2025", None, [("range", "2021-2025", "từ năm 2021 đến năm 2025")]),
    ("trung hạn 5 năm 2026 - 2030", None, [("range", "2026-2030", "năm 2026 - 2030")]),
    ("năm học 2023-2024", None, [("range", "2023-2024", "năm học 2023-2024")]),
    ("đầu tư giai đoạn 2026 - 2027", None, [("range", "2026-2027", "giai đoạn 2026 - 2027")]),
    ("2025-2020", None, [("year", "2025", "2025"), ("year", "2020", "2020")]),
    # halves
    ("6 tháng đầu năm 2024", None, [("half", "6 tháng đầu năm 2024", "6 tháng đầu năm 2024")]),
    ("Sáu tháng cuối năm 2020", None, [("half", "6 tháng cuối năm 2020", "Sáu tháng cuối năm 2020")]),
    ("chỉ tiêu 6 tháng cuối 2020", None, [("half", "6 tháng cuối năm 2020", "6 tháng cuối 2020")]),
    ("sáu tháng cuối năm", REF, [("half", "6 tháng cuối năm 2025", "sáu tháng cuối năm")]),
    ("sáu tháng cuối năm", None, [("half", "6 tháng cuối năm", "sáu tháng cuối năm")]),
    ("6 tháng đầu năm nay", 2024, [("half", "6 tháng đầu năm 2024", "6 tháng đầu năm nay")]),
    ("6 tháng đầu năm; phương hướng, nhiệm vụ 6 tháng cuối năm 2024", REF,
     [("half", "6 tháng đầu năm 2024", "6 tháng đầu năm"), ("half", "6 tháng cuối năm 2024", "6 tháng cuối năm 2024")]),
    ("Báo cáo 6 tháng đầu năm. Kế hoạch năm 2026", REF,  # another sentence: the reference year
     [("half", "6 tháng đầu năm 2025", "6 tháng đầu năm"), ("year", "2026", "năm 2026")]),
    ("trong 06 tháng đầu kể từ ngày ký", REF, []),
    ("nửa đầu 2024", None, [("half", "6 tháng đầu năm 2024", "nửa đầu 2024")]),
    ("nửa cuối năm nay", REF, [("half", "6 tháng cuối năm 2025", "nửa cuối năm nay")]),
    ("nua cuoi nam 2020", None, [("half", "6 tháng cuối năm 2020", "nua cuoi nam 2020")]),
    ("thêm nữa đầu năm 2021", None, [("year", "2021", "năm 2021")]),  # "nữa" (more) is not "nửa" (half)
    # quarters
    ("quý I năm 2021", None, [("quarter", "quý I năm 2021", "quý I năm 2021")]),
    ("quý 1/2021", None, [("quarter", "quý I năm 2021", "quý 1/2021")]),
    ("Quý II/2026", None, [("quarter", "quý II năm 2026", "Quý II/2026")]),
    ("quý 2 năm 2023", None, [("quarter", "quý II năm 2023", "quý 2 năm 2023")]),
    ("quý IV", REF, [("quarter", "quý IV năm 2025", "quý IV")]),
    ("quý IV", None, [("quarter", "quý IV", "quý IV")]),
    ("quý III năm nay", REF, [("quarter", "quý III năm 2025", "quý III năm nay")]),
    ("3 tháng cuối năm 2020", None, [("quarter", "3 tháng cuối năm 2020", "3 tháng cuối năm 2020")]),
    ("ba tháng đầu năm 2021", None, [("quarter", "3 tháng đầu năm 2021", "ba tháng đầu năm 2021")]),
    ("Quỹ 2 năm 2021", None, [("year", "2021", "năm 2021")]),  # a fund, not a quarter
    ("quý cuối năm 2020", None, [("quarter", "3 tháng cuối năm 2020", "quý cuối năm 2020")]),
    ("quý đầu năm nay", REF, [("quarter", "3 tháng đầu năm 2025", "quý đầu năm nay")]),
    ("quỹ đầu tư năm 2021", None, [("year", "2021", "năm 2021")]),
    # months from the start or the end of a year
    ("9 tháng đầu năm 2024", None, [("months", "9 tháng đầu năm 2024", "9 tháng đầu năm 2024")]),
    ("chín tháng đầu năm", REF, [("months", "9 tháng đầu năm 2025", "chín tháng đầu năm")]),
    ("số đơn thư 5 tháng đầu năm 2024", None, [("months", "5 tháng đầu năm 2024", "5 tháng đầu năm 2024")]),
    ("4 tháng cuối năm 2023", None, [("months", "4 tháng cuối năm 2023", "4 tháng cuối năm 2023")]),
    # relative years
    ("kết quả năm nay", REF, [("year", "2025", "năm nay")]),
    ("so với năm trước", REF, [("year", "2024", "năm trước")]),
    ("năm ngoái", REF, [("year", "2024", "năm ngoái")]),
    ("Năm qua, quận đã", REF, [("year", "2024", "Năm qua")]),
    ("kế hoạch năm tới", REF, [("year", "2026", "năm tới")]),
    ("dự toán năm sau", REF, [("year", "2026", "năm sau")]),
    ("kết quả năm nay", None, []),
    ("trong những năm qua", REF, []),
    ("5 năm qua", REF, []),
    ("Việt Nam qua các thời kỳ", REF, []),
    ("Nam nay đã về", REF, []),
    # the same period a year earlier
    ("6 tháng đầu năm 2024 tăng 5% so với cùng kỳ năm trước", REF,
     [("half", "6 tháng đầu năm 2024", "6 tháng đầu năm 2024"), ("half", "6 tháng đầu năm 2023", "cùng kỳ năm trước")]),
    ("quý II năm 2022 so với cùng kỳ", REF,
     [("quarter", "quý II năm 2022", "quý II năm 2022"), ("quarter", "quý II năm 2021", "cùng kỳ")]),
    ("3 tháng cuối năm 2020 so với cùng kỳ năm 2019", None,
     [("quarter", "3 tháng cuối năm 2020", "3 tháng cuối năm 2020"), ("quarter", "3 tháng cuối năm 2019", "cùng kỳ năm 2019")]),
    ("tăng 3% so với cùng kỳ năm trước", REF, [("year", "2024", "cùng kỳ năm trước")]),
    ("năm 2024\ntăng so với cùng kỳ năm trước", REF,  # another line: not its context
     [("year", "2024", "năm 2024"), ("year", "2024", "cùng kỳ năm trước")]),
    ("tờ khai cùng kỳ", REF, []),
    ("hai bên cùng ký kết", REF, []),
    # every year; until
    ("kiểm tra hằng năm", None, [("annual", "hằng năm", "hằng năm")]),
    ("báo cáo hàng năm", None, [("annual", "hằng năm", "hàng năm")]),
    ("tầm nhìn đến năm 2030", None, [("until", "đến năm 2030", "đến năm 2030")]),
    ("hoàn thành đến hết năm 2025", None, [("until", "đến năm 2025", "đến hết năm 2025")]),
    ("giai đoạn 2021-2030, tầm nhìn đến năm 2050", None,
     [("range", "2021-2030", "giai đoạn 2021-2030"), ("until", "đến năm 2050", "đến năm 2050")]),
]


def covered(text: str, periods: list[Period]) -> list[tuple[str, str, str]]:
    return [(p.kind, p.label, text[p.start:p.end]) for p in periods]


@pytest.mark.parametrize("text, reference, expected", EXAMPLES)
def test_find_periods(text: str, reference: int | None, expected: list) -> None:
    assert covered(text, find_periods(text, reference)) == expected


@pytest.mark.parametrize("text, reference, expected", EXAMPLES)
def test_find_periods_without_diacritics(text: str, reference: int | None, expected: list) -> None:
    folded = fold(text)
    if folded in {"quy 2 nam 2021", "them nua dau nam 2021", "nam nay da ve", "hai ben cung ky ket", "to khai cung ky"}:
        pytest.skip("only the accents tell these apart")  # "Quỹ 2", "Nam", "cùng ký"
    assert covered(folded, find_periods(folded, reference)) == [(k, l, fold(t)) for k, l, t in expected]


def test_offsets_refer_to_decomposed_text() -> None:
    text = unicodedata.normalize("NFD", "Kết quả quý IV năm 2020 và sáu tháng đầu năm 2021")
    assert len(text) > len(unicodedata.normalize("NFC", text))
    found = find_periods(text)
    assert [p.label for p in found] == ["quý IV năm 2020", "6 tháng đầu năm 2021"]
    assert [unicodedata.normalize("NFC", text[p.start:p.end]) for p in found] == ["quý IV năm 2020", "sáu tháng đầu năm 2021"]


def test_structure() -> None:
    half, quarter, months, range_, until, annual, date = (find_periods(t, REF)[0] for t in (
        "6 tháng cuối năm 2020", "3 tháng cuối năm 2020", "9 tháng đầu năm 2024", "2020-2025",
        "đến năm 2030", "hằng năm", "ngày 13/11/2020"))
    assert (half.kind, half.first_year, half.last_year, half.part, half.first_month, half.last_month) == (
        "half", 2020, 2020, 2, 7, 12)
    assert (quarter.kind, quarter.part, quarter.first_month, quarter.last_month) == ("quarter", 4, 10, 12)
    assert (months.kind, months.part, months.first_month, months.last_month) == ("months", 9, 1, 9)
    assert range_.years == frozenset(range(2020, 2026))
    assert (until.first_year, until.last_year, until.years) == (None, 2030, frozenset({2030}))
    assert (annual.first_year, annual.years, annual.located) == (None, frozenset(), False)
    assert (date.part, date.first_month, date.years) == (13, 11, frozenset({2020}))
    assert str(half) == "6 tháng cuối năm 2020"
    with pytest.raises(ValueError):
        Period("week", 2020, 2020)


def test_contains_overlaps_same() -> None:
    p = Period.from_label
    assert p("2020").contains(p("6 tháng cuối năm 2020")) and not p("6 tháng cuối năm 2020").contains(p("2020"))
    assert p("2020-2025").contains(p("quý I năm 2021")) and p("2020-2025").contains(p("2020-2025"))
    assert p("6 tháng cuối năm 2020").contains(p("quý IV năm 2020"))
    assert p("6 tháng cuối năm 2020").contains(p("ngày 13/11/2020"))
    assert not p("6 tháng đầu năm 2020").contains(p("ngày 13/11/2020"))
    assert p("đến năm 2030").contains(p("2021-2025")) and not p("đến năm 2030").contains(p("2025-2031"))
    assert p("2020-2025").overlaps(p("2025-2030")) and not p("2020-2024").overlaps(p("2025-2030"))
    assert p("9 tháng đầu năm 2024").overlaps(p("6 tháng cuối năm 2024"))
    assert not p("6 tháng đầu năm 2024").overlaps(p("6 tháng cuối năm 2024"))
    assert p("quý IV năm 2020").same(p("3 tháng cuối năm 2020")) and p("quý I năm 2021").same(p("3 tháng đầu năm 2021"))
    assert p("12 tháng đầu năm 2024").same(p("2024")) and p("2024-2024").same(p("2024"))
    assert p("quý II năm 2023").same(p("quý 2 năm 2023"))
    assert not p("6 tháng đầu năm 2024").same(p("6 tháng đầu năm 2023"))
    assert p("hằng năm").same(p("hằng năm")) and p("6 tháng đầu năm").same(p("6 tháng đầu năm"))
    assert not p("hằng năm").overlaps(p("2024")) and not p("6 tháng đầu năm").contains(p("6 tháng đầu năm"))
    # the same period named twice is equal (offsets are not compared)
    first, second = find_periods("năm 2021 ... năm 2021")
    assert first == second and (first.start, second.start) == (0, 13)
    assert p("6 tháng đầu năm 2024").shifted(-1) == p("6 tháng đầu năm 2023")
    assert p("3 tháng cuối năm 2020").shifted(1).label == "3 tháng cuối năm 2021"


LABELS = sorted({label for _, _, found in EXAMPLES for _, label, _ in found} | {
    "2021", "6 tháng cuối năm 2020", "quý I năm 2021", "2020-2025", "đến năm 2025", "6 tháng đầu năm",
    "quý IV", "3 tháng cuối năm", "hằng năm", "12 tháng đầu năm 2024"})


@pytest.mark.parametrize("label", LABELS)
def test_labels_round_trip(label: str) -> None:
    period = Period.from_label(label)
    assert period.label == label
    assert Period.from_label(period.label) == period
    assert (period.start, period.end) == (0, len(label))


@pytest.mark.parametrize("old, label", [("quý 2 năm 2023", "quý II năm 2023"), ("Quý IV năm 2020", "quý IV năm 2020"),
                                        ("6 tháng đầu 2024", "6 tháng đầu năm 2024")])
def test_older_spellings_of_labels_parse(old: str, label: str) -> None:
    assert Period.from_label(old).label == label


@pytest.mark.parametrize("bad", ["", "năm", "2021 và 2022", "kế hoạch năm 2021", "năm nay", "cùng kỳ năm trước"])
def test_from_label_refuses_what_is_not_one_period(bad: str) -> None:
    with pytest.raises(ValueError):
        Period.from_label(bad)


def test_years_of_labels() -> None:
    assert years_of("2020-2025") == [2020, 2021, 2022, 2023, 2024, 2025]
    assert years_of("6 tháng cuối năm 2020") == [2020]
    assert years_of("đến năm 2030") == [2030]
    assert years_of("2021-2022") == [2021, 2022]
    assert years_of("kỳ họp năm 2021 và năm 2022") == [2021, 2022]  # free-form (a sidecar's)
    assert years_of("") == [] and years_of("hằng năm") == []


# ------------------------------------------------------------ documents and passages


@pytest.mark.parametrize("title, reference, label", [
    # the titles of the five corpus documents
    ("Nghị quyết về kế hoạch phát triển kinh tế - xã hội năm 2021 của quận Bắc Từ Liêm", 2020, "2021"),
    ("Nghị quyết về nhiệm vụ phát triển kinh tế - xã hội, đảm bảo quốc phòng, an ninh 6 tháng cuối năm 2020",
     2020, "6 tháng cuối năm 2020"),
    ("Nhiệm vụ và giải pháp trọng tâm phát triển kinh tế 3 tháng cuối năm 2020", 2020, "3 tháng cuối năm 2020"),
    (("Báo cáo tóm tắt kết quả thực hiện kế hoạch phát triển kinh tế- xã hội, đảm bảo quốc phòng, an ninh 6 tháng "
      "đầu năm; phương hướng, nhiệm vụ 6 tháng cuối năm 2024"), None, "6 tháng đầu năm 2024"),
    (("Kết quả triển khai Nghị quyết Đại hội Đảng bộ Quận lần thứ VI và 06 Chương trình công tác toàn khóa của BCH "
      "Đảng bộ quận giai đoạn 2020-2025"), 2020, "2020-2025"),
    # relative words are read in the document's year
    ("Kế hoạch phát triển kinh tế - xã hội năm tới", 2020, "2021"),
    ("Báo cáo kết quả quý IV", 2024, "quý IV năm 2024"),
    ("Báo cáo 6 tháng đầu năm", None, "6 tháng đầu năm"),
    # a date or a document number is not what the document is about
    ("Sửa đổi Nghị quyết số 27/2019/NQ-HĐND ngày 16 tháng 12 năm 2019", 2020, ""),
    ("Sửa đổi Nghị quyết số 27/2019/NQ-HĐND ngày 16/12/2019 về dự toán năm 2020", 2020, "2020"),
    ("Hướng dẫn Nghị định số 289/2025/NĐ-CP ngày 06 tháng 11 tháng 2025", 2025, ""),
])
def test_document_period(title: str, reference: int | None, label: str) -> None:
    period = document_period(title, reference_year=reference)
    assert (period.label if period else "") == label


def test_document_period_reads_the_year_from_the_documents_date() -> None:
    text = "ỦY BAN NHÂN DÂN QUẬN TÂY HỒ\nTây Hồ, ngày 3 tháng 2 năm 2021\nKẾ HOẠCH\nThực hiện nhiệm vụ năm nay\n"
    assert document_period("Kế hoạch thực hiện nhiệm vụ năm nay", text).label == "2021"
    assert document_period("Kế hoạch thực hiện nhiệm vụ năm nay", text, reference_year=2022).label == "2022"
    assert document_period("Kế hoạch thực hiện nhiệm vụ năm nay") is None


def test_mentioned_periods_each_once_in_order() -> None:
    text = "Năm 2020, ... 6 tháng đầu năm 2021 ... năm 2020 ... năm nay"
    found = mentioned_periods(text, reference_year=2021)
    assert [p.label for p in found] == ["2020", "6 tháng đầu năm 2021", "2021"]
    assert found[0].start == 0


def test_most_specific_is_what_a_question_asks_for() -> None:
    def asked(text: str) -> str:
        best = most_specific(find_periods(text, REF))
        return best.label if best else ""

    assert asked("kết quả giai đoạn 2020-2025 và 6 tháng cuối năm 2020") == "6 tháng cuối năm 2020"
    assert asked("6 tháng đầu năm 2024 so với cùng kỳ năm trước") == "6 tháng đầu năm 2024"
    assert asked("giai đoạn 2021-2025, tầm nhìn đến năm 2030") == "2021-2025"
    assert asked("chỉ tiêu năm 2021") == ""                      # a bare year is not a period asked for
    assert asked("giải ngân đến hết tháng 6/2024") == ""         # nor a month or a date
    assert asked("tốc độ tăng hàng năm") == ""


def test_doctests() -> None:
    assert doctest.testmod(qa.periods).failed == 0


# ------------------------------------------------------------------------ properties

_VIETNAMESE = st.sampled_from([
    "năm", "nam", "tháng", "thang", "quý", "quy", "đầu", "cuối", "sáu", "6", "3", "9", "I", "IV", "nay", "trước",
    "ngoái", "tới", "sau", "cùng", "kỳ", "hằng", "đến", "hết", "giai đoạn", "nhiệm kỳ", "từ", "ngày", "2020", "2025",
    "1949", "2100", "13/11/2020", "01/2020/NQ-HĐND", "6/2024", "-", "–", "/", " ", "\n", ".", ",",
])
_TEXTS = st.one_of(st.text(), st.lists(st.one_of(_VIETNAMESE, st.text(max_size=3)), max_size=30).map(" ".join))


@settings(max_examples=400, deadline=None)
@given(_TEXTS, st.one_of(st.none(), st.integers(min_value=1900, max_value=2200)))
def test_any_text(text: str, reference: int | None) -> None:
    found = find_periods(text, reference)
    last_start = -1
    for p in found:
        assert p.kind in KINDS
        assert 0 <= p.start < p.end <= len(text)
        assert p.start >= last_start
        last_start = p.start
        assert all(FIRST_YEAR <= y <= LAST_YEAR for y in p.years)
        for year in (p.first_year, p.last_year):
            assert year is None or FIRST_YEAR <= year <= LAST_YEAR
        assert Period.from_label(p.label).same(p)
    assert find_periods(fold(text), reference) is not None


def test_a_questions_part_of_a_year_without_its_year_stays_without_one() -> None:
    """ "nhiệm vụ 6 tháng cuối năm" asks about the second half of any year; "năm nay" still
    takes the reference year."""
    found = find_periods("nhiem vu 6 thang cuoi nam", 2026, parts_take_reference=False)
    assert [(p.label, p.years) for p in found] == [("6 tháng cuối năm", frozenset())]
    assert [p.label for p in find_periods("6 tháng cuối năm nay", 2026, parts_take_reference=False)] == [
        "6 tháng cuối năm 2026"]


@pytest.mark.parametrize("asked, label, same", [
    ("6 tháng cuối năm", "6 tháng cuối năm 2020", True),
    ("6 tháng cuối năm", "6 tháng đầu năm 2020", False),
    ("6 tháng cuối năm 2021", "6 tháng cuối năm 2020", False),
    ("quý IV năm 2020", "3 tháng cuối năm 2020", True),
    ("3 tháng cuối năm", "quý IV năm 2020", True),
    ("2021", "2021", True),
    ("2021", "2020-2025", False),
    ("", "2021", False),
    ("6 tháng cuối năm", "", False),
])
def test_same_period(asked: str, label: str, same: bool) -> None:
    assert same_period(asked, label) is same
