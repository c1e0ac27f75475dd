"""Targets and reported figures (qa.numbers, qa.targets, qa.targets_eval) on the real documents."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.archive import year_variant
from qa.chunking import chunk_document
from qa.numbers import find_quantities, parse_number, parse_quantity
from qa.periods import Period
from qa.targets import (TargetBook, TargetRecord, delete_targets, extract_targets, group_indicators, indicator_key,
                        load_records, write_targets)
from qa.targets_eval import DATASETS, Label, evaluate_targets, load_labels, run_set
from qa.text import fold
from tests.conftest import CORPUS

NQ21 = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"
REPORT = "bac-tu-liem-bao-cao-6-thang-dau-nam-2024"
PROGRAMME = "tay-ho-tin-chuong-trinh-toan-khoa-2020-2025"


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("written, value", [
    ("3.178,4", 3178.4), ("259.195", 259195.0), ("12,56", 12.56), ("91,5", 91.5), ("-1,95", -1.95),
    ("94.27", 94.27), ("1.356,82", 1356.82), ("17.915.980.000", 17915980000.0), ("90", 90.0),
])
def test_parse_number_reads_vietnamese_separators(written, value):
    assert parse_number(written) == pytest.approx(value)


@pytest.mark.parametrize("text, written, value, high, comparator, unit", [
    ("Tỷ lệ tham gia Bảo hiểm y tế toàn dân đạt 95%.", "95", 95.0, None, "=", "%"),
    ("kết nạp 90 đảng viên mới trở lên", "90", 90.0, None, ">=", "đảng viên"),
    ("đạt 75% trở lên", "75", 75.0, None, ">=", "%"),
    ("tăng trưởng từ 7,5% đến 8%", "7,5 - 8", 7.5, 8.0, "range", "%"),
    ("tăng 7,5 - 8%", "7,5 - 8", 7.5, 8.0, "range", "%"),
    ("Tỷ suất sinh thô dưới 12,37%o", "12,37", 12.37, None, "<", "%o"),
    ("không quá 5%", "5", 5.0, None, "<=", "%"),
    ("tối thiểu 30 ha", "30", 30.0, None, ">=", "ha"),
    ("tăng ít nhất 02 bậc", "02", 2.0, None, ">=", "bậc"),
    ("≥ 95%", "95", 95.0, None, ">=", "%"),
    ("thu ngân sách ước đạt 2.979 tỷ đồng", "2.979", 2979.0, None, "=", "tỷ đồng"),
    ("đạt trên 93,5%", "93,5", 93.5, None, ">", "%"),
])
def test_find_quantities_reads_comparator_range_and_unit(text, written, value, high, comparator, unit):
    q = find_quantities(text)[0]
    assert (q.written, q.value, q.high, q.comparator, q.unit) == (written, value, high, comparator, unit)
    assert text[q.value_start:q.value_end].lstrip("-")[:1].isdigit()


def test_years_dates_and_document_numbers_are_not_figures():
    text = "Nghị quyết số 21/NQ-HĐND ngày 18/12/2020, Chỉ thị 08-CT/TU, Chương trình 02, kỳ họp thứ 17 năm 2021"
    assert find_quantities(text) == []


def test_a_fraction_keeps_its_denominator_and_a_map_scale_is_no_figure():
    q = find_quantities("Số trường công lập đã đạt chuẩn quốc gia là: 44/50 trường")[0]
    assert (q.written, q.value, q.denominator, q.unit) == ("44/50", 44.0, 50.0, "trường")
    assert find_quantities("phê duyệt phương án tuyến, tỷ lệ 1/500") == []


@pytest.mark.parametrize("cell, value, comparator", [
    (">50", 50.0, ">"), ("-1,95", -1.95, "="), ("≥ 95", 95.0, ">="), ("3.178,4", 3178.4, "="), ("91,5", 91.5, "="),
])
def test_parse_quantity_reads_a_table_cell(cell, value, comparator):
    q = parse_quantity(cell)
    assert (q.value, q.comparator) == (value, comparator)


def test_parse_quantity_refuses_a_cell_that_is_not_one_figure():
    assert parse_quantity("Phường 1") is None
    assert parse_quantity("") is None
    assert parse_quantity("%") is None


# characters of figures and of the words around them, mixed with any character at all
_FIGURE_CHARS = list("0123456789.,;:-–%/ ≥≤<>()đĐăâêôơưạảấầẩẫậ tỷ lệ năm trên dưới trở lên\n\t")
_VIETNAMESE = st.text(alphabet=st.sampled_from(_FIGURE_CHARS) | st.characters(), max_size=120)


@settings(max_examples=300, deadline=None)
@given(_VIETNAMESE)
def test_find_quantities_never_raises_and_offsets_stay_in_the_text(text):
    for q in find_quantities(text):
        assert 0 <= q.start <= q.value_start < q.value_end <= q.end <= len(text)
        written = text[q.value_start:q.value_end]
        assert parse_number(written) == pytest.approx(q.value)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_parse_quantity_never_raises(cell):
    q = parse_quantity(cell)
    assert q is None or isinstance(q.value, float)


# --------------------------------------------------------------------------- records of the real documents


@pytest.fixture(scope="module")
def documents():
    from qa.documents import iter_documents

    return {d.id: d for d in iter_documents(CORPUS)}


@pytest.fixture(scope="module")
def records(documents):
    return {doc_id: extract_targets(doc, chunk_document(doc)) for doc_id, doc in documents.items()}


def _one(records: list[TargetRecord], value: str, words: str) -> TargetRecord:
    found = [r for r in records if r.value_written == value and words in fold(r.indicator)]
    assert len(found) == 1, [(r.value_written, r.indicator) for r in found]
    return found[0]


def _written_at(documents, r: TargetRecord) -> str:
    return documents[r.doc_id].text[r.start:r.end]


def test_bhyt_coverage_plan_2021_from_the_resolution_table(records, documents):
    r = _one(records[NQ21], "91,5", "bao phu bao hiem y te")
    assert r.indicator == "Tỷ lệ bao phủ bảo hiểm y tế"          # the "19." numbering dropped
    assert (r.value, r.unit, r.kind, r.period_label, r.district) == (91.5, "%", "plan", "2021", "Bắc Từ Liêm")
    assert r.period == Period.from_label("2021") and r.period_written == "KH năm 2021"
    assert _written_at(documents, r) == "91,5"
    passage = chunk_document(documents[NQ21])[r.passage]
    assert passage.row is not None and passage.row.labels == ("19. Tỷ lệ bao phủ bảo hiểm y tế",)
    assert r.section == passage.section and passage.start <= r.start < passage.end


def test_sub_rows_keep_their_parent_people_with_health_and_social_insurance(records, documents):
    bhyt = _one(records[NQ21], "259.195", "so nguoi dong bao hiem y te")
    bhxh = _one(records[NQ21], "44.129", "so nguoi dong bao hiem xa hoi")
    for r, value in ((bhyt, 259195.0), (bhxh, 44129.0)):
        assert r.indicator.startswith("Số người đóng bảo hiểm xã hội, bảo hiểm y tế, bảo hiểm thất nghiệp › ")
        assert (r.value, r.unit, r.kind, r.period_label) == (value, "Người", "plan", "2021")
        assert _written_at(documents, r) == r.value_written
    assert bhyt.key != bhxh.key


def test_budget_revenue_plan_2021(records, documents):
    r = _one(records[NQ21], "3.178,4", "thu ngan sach nha nuoc tren dia ban")
    assert (r.value, r.unit, r.kind, r.period_label) == (3178.4, "Tỷ đồng", "plan", "2021")
    assert _written_at(documents, r) == "3.178,4"


def test_budget_revenue_estimate_of_the_half_year_report_and_its_comparisons(records, documents):
    rs = records[REPORT]
    estimate = _one(rs, "2.979", "thu ngan sach")
    assert (estimate.value, estimate.unit, estimate.kind) == (2979.0, "tỷ đồng", "estimate")
    assert estimate.period_label == "6 tháng đầu năm 2024" and estimate.period_written == "6 tháng đầu năm"
    assert _written_at(documents, estimate) == "2.979 tỷ đồng"
    share = _one(rs, "56", "thu ngan sach")
    assert (share.kind, share.compares_to, share.unit, share.period_label) == (
        "comparison", "dự toán", "%", "6 tháng đầu năm 2024")
    growth = _one(rs, "148", "thu ngan sach")
    assert (growth.kind, growth.compares_to) == ("comparison", "cùng kỳ")
    assert estimate.key == share.key == growth.key
    assert "6 tháng đầu năm, thu ngân sách ước đạt 2.979 tỷ đồng" in estimate.quote


def test_tay_ho_programme_targets(records, documents):
    rs = records[PROGRAMME]
    bhyt = _one(rs, "95", "bao hiem y te toan dan")
    assert (bhyt.unit, bhyt.kind, bhyt.period_label, bhyt.district) == ("%", "plan", "2020-2025", "Tây Hồ")
    assert _written_at(documents, bhyt) == "95%"
    members = _one(rs, "90", "ket nap dang vien")
    assert (members.comparator, members.comparator_written, members.unit) == (">=", "trở lên", "đảng viên")
    assert (members.kind, members.period_label) == ("plan", "hằng năm")
    assert _written_at(documents, members) == "90 đảng viên mới trở lên"


# The appendix of resolution 21/NQ-HĐND as district appendices often lay it out, with the
# previous year's estimate and a comparison column beside the plan (the corpus's own
# appendix has the plan column only).
_APPENDIX = """PHỤ LỤC

Chỉ tiêu kinh tế - xã hội năm 2021 của quận Bắc Từ Liêm

TT\tChỉ tiêu\tĐơn vị\tƯớc TH 2020\tKH năm 2021\tSo sánh KH 2021/ƯTH 2020 (%)
1\t2\t3\t4\t5\t6
19\tTỷ lệ bao phủ bảo hiểm y tế\t%\t90,2\t91,5\t101,4
20\tSố người tham gia BHXH\t\t\t\t
\t+ bắt buộc\tNgười\t43.000\t44.129\t102,6
"""


def test_table_columns_say_kind_and_period():
    from qa.documents import Document

    doc = Document(id="appendix", text=_APPENDIX, title="Nghị quyết về kế hoạch phát triển kinh tế - xã hội năm 2021",
                   type="nghị quyết", district="Bắc Từ Liêm", period="2021", years=[2021])
    got = [(r.indicator, r.value_written, r.kind, r.period_label, r.unit, r.compares_to)
           for r in extract_targets(doc, chunk_document(doc))]
    assert got == [
        ("Tỷ lệ bao phủ bảo hiểm y tế", "90,2", "estimate", "2020", "%", ""),
        ("Tỷ lệ bao phủ bảo hiểm y tế", "91,5", "plan", "2021", "%", ""),
        ("Tỷ lệ bao phủ bảo hiểm y tế", "101,4", "comparison", "2021", "%", "ước thực hiện"),
        ("Số người tham gia BHXH › bắt buộc", "43.000", "estimate", "2020", "Người", ""),
        ("Số người tham gia BHXH › bắt buộc", "44.129", "plan", "2021", "Người", ""),
        ("Số người tham gia BHXH › bắt buộc", "102,6", "comparison", "2021", "%", "ước thực hiện"),
    ]
    assert indicator_key("Số người tham gia BHXH › bắt buộc") == "so nguoi tham gia bao hiem xa hoi bat buoc"


def test_indicator_keys_know_abbreviations_and_numbering():
    assert indicator_key("19. Tỷ lệ bao phủ BHYT") == indicator_key("Tỷ lệ bao phủ bảo hiểm y tế")
    assert indicator_key("Tỷ lệ tham gia Bảo hiểm y tế toàn dân") == indicator_key("Tỷ lệ bao phủ bảo hiểm y tế")
    assert indicator_key("Số người đóng BHXH") != indicator_key("Số người đóng BHYT")


# --------------------------------------------------------------------------- indicators, timelines, search


@pytest.fixture(scope="module")
def book(records):
    return TargetBook([r for rs in records.values() for r in rs])


def test_health_insurance_timeline_shows_both_districts_with_sources(book):
    found = book.search("bảo hiểm y tế")
    assert found, "no indicator for bảo hiểm y tế"
    timeline = book.timeline(found[0].id)
    by_place = {(e.district, e.period.label): e for e in timeline.entries}
    btl, th = by_place[("Bắc Từ Liêm", "2021")], by_place[("Tây Hồ", "2020-2025")]
    assert [(r.value_written, r.doc_id) for r in btl.plans] == [("91,5", NQ21)]
    assert [(r.value_written, r.doc_id) for r in th.plans] == [("95", PROGRAMME)]
    assert btl.plans[0].section.startswith("PHỤ LỤC") and th.plans[0].section.startswith("III- Chương trình 03")
    data = json.loads(json.dumps(timeline.to_json(), ensure_ascii=False))
    entry = next(e for e in data["entries"] if e["district"] == "Tây Hồ")
    assert entry["period"] == "2020-2025" and entry["plans"][0]["source"]["doc_id"] == PROGRAMME


def test_search_reads_the_query_like_search_does(book):
    for query in ("chỉ tiêu BHYT năm 2021", "chi tieu bhyt nam 2021", "tỷ lệ bao phủ bảo hiểm y tế"):
        top = book.search(query)[0]
        assert top.id == book.search("bảo hiểm y tế")[0].id, query
    only_tay_ho = book.search("bảo hiểm y tế", district="Tây Hồ")[0]
    assert {r.district for r in only_tay_ho.records} == {"Tây Hồ"}
    assert book.search("bảo hiểm y tế", year=2030) == [] or all(
        r.period is None or not r.period.located or 2030 in r.period.years
        for ind in book.search("bảo hiểm y tế", year=2030) for r in ind.records)
    assert book.search("xyzzy quokka") == []


def test_indicator_lookup_by_id(book):
    ind = book.search("kết nạp đảng viên")[0]
    assert book.indicator(ind.id).key == ind.key
    assert book.indicator("no-such-indicator") is None and book.timeline("no-such-indicator") is None


def test_a_plan_is_linked_to_the_later_report_of_its_period(documents, records):
    """The resolution's other-year version (qa.archive: the 2024 plan of the same district)
    and the 2024 half-year report: the report's estimate sits beside the year's plan."""
    plan_2024 = year_variant(documents[NQ21], 3).document
    assert plan_2024.period == "2024"
    book = TargetBook([r for rs in records.values() for r in rs]
                      + extract_targets(plan_2024, chunk_document(plan_2024)))
    timeline = book.timeline(book.search("thu ngân sách")[0].id)
    half = next(e for e in timeline.entries if e.period is not None and e.period.label == "6 tháng đầu năm 2024")
    assert [r.value_written for r in half.estimates] == ["2.979"]
    assert [r.doc_id for r in half.linked_plans] == [plan_2024.id]
    assert any(e.period.label == "2021" and e.plans[0].value_written == "3.178,4" for e in timeline.entries)


def test_group_indicators_merges_wordings_across_documents_only(records):
    groups = group_indicators([r for rs in records.values() for r in rs])
    of = {(r.doc_id, r.start): g.id for g in groups for r in g.records}
    revenue_plan = _one(records[NQ21], "3.178,4", "thu ngan sach")
    revenue_estimate = _one(records[REPORT], "2.979", "thu ngan sach")
    assert of[(NQ21, revenue_plan.start)] == of[(REPORT, revenue_estimate.start)]
    spending_plan = _one(records[NQ21], "1.356,82", "chi ngan sach")
    assert of[(NQ21, spending_plan.start)] != of[(NQ21, revenue_plan.start)]


# --------------------------------------------------------------------------- persistence


def test_targets_table_round_trip_and_delete(records, tmp_path):
    empty = sqlite3.connect(tmp_path / "old-index.sqlite")
    empty.execute("CREATE TABLE documents (id TEXT)")
    empty.commit()
    read_only = sqlite3.connect(f"file:{tmp_path / 'old-index.sqlite'}?mode=ro", uri=True)
    assert load_records(read_only) == []          # an index built before targets were kept
    con = sqlite3.connect(":memory:")
    for doc_id, rs in records.items():
        write_targets(con, doc_id, rs)
    loaded = load_records(con)
    assert sorted(loaded, key=lambda r: (r.doc_id, r.start)) == sorted(
        [r for rs in records.values() for r in rs], key=lambda r: (r.doc_id, r.start))
    assert TargetBook.load(con).search("bảo hiểm y tế")[0].id == TargetBook(loaded).search("bảo hiểm y tế")[0].id
    delete_targets(con, NQ21)
    assert load_records(con, NQ21) == [] and load_records(con, REPORT) == records[REPORT]
    write_targets(con, REPORT, records[REPORT][:3])   # replacing a document's records
    assert load_records(con, REPORT) == records[REPORT][:3]


# --------------------------------------------------------------------------- evaluation


def test_labelled_sets_are_big_enough_and_well_formed():
    corpus, heldout = load_labels(DATASETS / "corpus.jsonl"), load_labels(DATASETS / "heldout.jsonl")
    assert len(corpus) >= 60 and len(heldout) >= 20
    assert not {lab.doc for lab in heldout} & {lab.doc for lab in corpus}
    for lab in corpus + heldout:
        assert parse_quantity(lab.value) is not None, lab
        assert lab.kind in ("plan", "estimate", "result", "comparison"), lab
        if lab.period:
            Period.from_label(lab.period)


def test_corpus_precision_and_recall(documents):
    result, records, labels = run_set("corpus", list(documents.values()))
    assert result["labels"] == len(labels) >= 60
    for field in ("value", "unit", "period", "kind"):
        assert result[field]["precision"] >= 0.9 and result[field]["recall"] >= 0.9, (field, result[field])
    assert result["grouping"]["precision"] >= 0.85 and result["grouping"]["recall"] >= 0.8, result["grouping"]


def test_evaluation_counts_a_wrong_label_as_missed(records):
    rs = records[NQ21]
    right = Label(NQ21, "Tỷ lệ bao phủ bảo hiểm y tế", "91,5", "%", "2021", "plan")
    wrong_value = Label(NQ21, "Tỷ lệ bao phủ bảo hiểm y tế", "92,5", "%", "2021", "plan")
    wrong_period = Label(NQ21, "Tỷ lệ bao phủ bảo hiểm y tế", "91,5", "%", "2022", "plan")
    assert evaluate_targets(rs, [right])["value"]["recall"] == 1.0
    assert evaluate_targets(rs, [wrong_value])["value"]["recall"] == 0.0
    got = evaluate_targets(rs, [wrong_period])
    assert got["value"]["recall"] == 1.0 and got["period"]["recall"] == 0.0
    assert got["value"]["precision"] == pytest.approx(1 / len(rs), abs=1e-3)
