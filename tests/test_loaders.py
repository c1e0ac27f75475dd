"""qa.loaders: Markdown and Word read as the structure of the .txt documents, no markup;
files that do not load are reported. Documents are made in the test; the end-to-end
test indexes one with the real model."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.chunking import Passage, chunk_document
from qa.documents import Document, DocumentError, iter_documents, load_document
from qa.loaders import Heading
from qa.text import normalize

SUPPORTED = ".txt, .md, .docx, .pdf, .jsonl, .jsonl.gz"

# A plan as an editor exports it to Markdown: bold header lines, # headings, emphasis,
# a nested list, a numbered list, a pipe table with a sub-row, a link.
PLAN_MD = """**ỦY BAN NHÂN DÂN QUẬN TÂY HỒ**

Số: 12/KH-UBND

Tây Hồ, ngày 15 tháng 1 năm 2021

# KẾ HOẠCH

## Thực hiện nhiệm vụ phát triển kinh tế - xã hội năm 2021

Căn cứ Nghị quyết số 18/NQ-HĐND ngày 20/12/2020 của [HĐND quận Tây Hồ](https://tayho.hanoi.gov.vn);

## I. Mục tiêu

Hoàn thành **toàn diện** các chỉ tiêu năm 2021, giữ vững *an ninh trật tự* trên địa bàn quận.

## II. Nhiệm vụ trọng tâm

### Phát triển kinh tế

- Tập trung thu ngân sách, phấn đấu vượt dự toán được giao.
- Đẩy mạnh cải cách hành chính:
  - rút ngắn thời gian giải quyết thủ tục;
  - mở rộng dịch vụ công trực tuyến.

1. Rà soát các dự án chậm triển khai.
2. Hỗ trợ doanh nghiệp phục hồi sản xuất.

### Các chỉ tiêu chủ yếu

| TT | Chỉ tiêu | Đơn vị | KH năm 2021 |
|---:|---|---|---:|
| 1 | Thu ngân sách nhà nước trên địa bàn | Tỷ đồng | 2.150 |
| 2 | Tỷ lệ bao phủ **bảo hiểm y tế** | % | 92,5 |
|  | - Số người tham gia BHYT | Người | 150.000 |

Nơi nhận:

- Thường trực Quận ủy;
- Lưu: VT.

**TM. ỦY BAN NHÂN DÂN**

**CHỦ TỊCH**

Nguyễn Văn A
"""

TARGETS = "II. Nhiệm vụ trọng tâm › Các chỉ tiêu chủ yếu"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def find(passages: list[Passage], phrase: str, kind: str = "text") -> Passage:
    found = [p for p in passages if p.kind == kind and phrase in p.text]
    assert found, f"no {kind} passage with {phrase!r}"
    return found[0]


def assert_offsets(doc: Document, passages: list[Passage]) -> None:
    """Text passages are spans of the document's text; rows point at their row's line."""
    for p in passages:
        if p.kind == "text":
            assert p.text == doc.text[p.start:p.end]
        else:
            assert "\t" in doc.text[p.start:p.end].strip("\n")


# --------------------------------------------------------------------------- Markdown


@pytest.fixture
def plan(tmp_path: Path) -> Document:
    return load_document(write(tmp_path / "ke-hoach-tay-ho.md", PLAN_MD))


def test_markdown_text_has_no_markup(plan: Document) -> None:
    assert plan.text == normalize(plan.text)
    for markup in ("**", "#", "|", "](", "*an ninh", "---"):
        assert markup not in plan.text
    assert "Hoàn thành toàn diện các chỉ tiêu năm 2021, giữ vững an ninh trật tự trên địa bàn quận." in plan.text
    assert "Căn cứ Nghị quyết số 18/NQ-HĐND ngày 20/12/2020 của HĐND quận Tây Hồ;" in plan.text
    # lists as the .txt documents write them, nested items with "+"; table rows with TABs
    assert "- Đẩy mạnh cải cách hành chính:\n+ rút ngắn thời gian giải quyết thủ tục;\n" in plan.text
    assert "1. Rà soát các dự án chậm triển khai.\n2. Hỗ trợ doanh nghiệp" in plan.text
    assert "TT\tChỉ tiêu\tĐơn vị\tKH năm 2021\n1\tThu ngân sách nhà nước trên địa bàn\tTỷ đồng\t2.150\n" in plan.text
    assert "\n\t- Số người tham gia BHYT\tNgười\t150.000" in plan.text


def test_markdown_headings_are_kept_beside_the_text(plan: Document) -> None:
    marked = [(plan.text[h.start:h.end], h.level) for h in plan.headings]
    assert marked == [
        ("ỦY BAN NHÂN DÂN QUẬN TÂY HỒ", 0),  # a bold paragraph
        ("KẾ HOẠCH", 1),
        ("Thực hiện nhiệm vụ phát triển kinh tế - xã hội năm 2021", 2),
        ("I. Mục tiêu", 2),
        ("II. Nhiệm vụ trọng tâm", 2),
        ("Phát triển kinh tế", 3),
        ("Các chỉ tiêu chủ yếu", 3),
        ("TM. ỦY BAN NHÂN DÂN", 0),
        ("CHỦ TỊCH", 0),
    ]
    assert all(isinstance(h, Heading) for h in plan.headings)


def test_markdown_metadata_as_for_txt(plan: Document) -> None:
    assert (plan.type, plan.number, plan.date) == ("kế hoạch", "12/KH-UBND", "2021-01-15")
    assert (plan.issuer, plan.district) == ("UBND quận Tây Hồ", "Tây Hồ")
    assert (plan.period, plan.years) == ("2021", [2021])
    assert plan.title == "Kế hoạch thực hiện nhiệm vụ phát triển kinh tế - xã hội năm 2021"


def test_markdown_sections_lists_and_table_rows(plan: Document) -> None:
    passages = chunk_document(plan)
    assert_offsets(plan, passages)
    # the legal basis stays; the header, the title, "Nơi nhận" and the signature go
    assert passages[0].text == "Căn cứ Nghị quyết số 18/NQ-HĐND ngày 20/12/2020 của HĐND quận Tây Hồ;"
    assert passages[0].section == ""
    assert not any(w in p.text for p in passages for w in ("Số: 12", "KẾ HOẠCH", "Nơi nhận", "CHỦ TỊCH", "Nguyễn Văn A"))
    goal = find(passages, "Hoàn thành toàn diện")
    assert (goal.section, goal.text) == (
        "I. Mục tiêu", "I. Mục tiêu\n\nHoàn thành toàn diện các chỉ tiêu năm 2021, giữ vững an ninh trật tự trên địa bàn quận."
    )
    tasks = find(passages, "rút ngắn thời gian")
    assert tasks.section == "II. Nhiệm vụ trọng tâm › Phát triển kinh tế"
    assert "- Tập trung thu ngân sách" in tasks.text and "2. Hỗ trợ doanh nghiệp phục hồi sản xuất." in tasks.text
    rows = [p for p in passages if p.kind == "table_row"]
    assert [(p.section, p.text) for p in rows] == [
        (TARGETS, "Các chỉ tiêu chủ yếu — 1. Thu ngân sách nhà nước trên địa bàn — Đơn vị: Tỷ đồng — KH năm 2021: 2.150"),
        (TARGETS, "Các chỉ tiêu chủ yếu — 2. Tỷ lệ bao phủ bảo hiểm y tế — Đơn vị: % — KH năm 2021: 92,5"),
        (TARGETS, "Các chỉ tiêu chủ yếu — 2. Tỷ lệ bao phủ bảo hiểm y tế › Số người tham gia BHYT"
                  " — Đơn vị: Người — KH năm 2021: 150.000"),
    ]


def test_markdown_news_post_without_header(tmp_path: Path) -> None:
    """No formal header: the district the text talks about, sections from its headings."""
    post = load_document(write(tmp_path / "tin.md", (
        "# Quận Tây Hồ đẩy mạnh cải cách hành chính năm 2021\n\n"
        "Ngày 15/3/2021, **UBND quận Tây Hồ** tổ chức hội nghị triển khai nhiệm vụ cải cách hành chính "
        "năm 2021 với sự tham dự của lãnh đạo các phòng, ban, ngành và 8 phường trên địa bàn quận.\n\n"
        "## Kết quả năm 2020\n\n"
        "Năm 2020, quận **Tây Hồ** đã giải quyết đúng hạn *99%* hồ sơ thủ tục hành chính.\n"
    )))
    assert (post.issuer, post.district) == ("UBND quận Tây Hồ", "Tây Hồ")
    assert post.title == "Quận Tây Hồ đẩy mạnh cải cách hành chính năm 2021"
    passages = chunk_document(post)
    assert_offsets(post, passages)
    # small enough to be one passage: the lead, the heading and its text, no markup
    assert [p.text for p in passages] == [
        "Ngày 15/3/2021, UBND quận Tây Hồ tổ chức hội nghị triển khai nhiệm vụ cải cách hành chính năm 2021 "
        "với sự tham dự của lãnh đạo các phòng, ban, ngành và 8 phường trên địa bàn quận.\n\n"
        "Kết quả năm 2020\n\nNăm 2020, quận Tây Hồ đã giải quyết đúng hạn 99% hồ sơ thủ tục hành chính."
    ]


# ------------------------------------------------------------------------------ Word


def merged_header_table(document, caption_row: str = "") -> None:
    """TT, Nội dung and Đơn vị merged over two header rows; "Chỉ tiêu" merged over two
    columns with "KH năm 2020" and "KH năm 2021" under it. A title row across the
    table if ``caption_row``."""
    top = 1 if caption_row else 0
    table = document.add_table(rows=top + 5, cols=5)
    if caption_row:
        table.cell(0, 0).merge(table.cell(0, 4)).text = caption_row
    for c, value in enumerate(["TT", "Nội dung", "Đơn vị", "Chỉ tiêu"]):
        table.cell(top, c).text = value
    for c in range(3):
        table.cell(top, c).merge(table.cell(top + 1, c))
    table.cell(top, 3).merge(table.cell(top, 4))
    table.cell(top + 1, 3).text = "KH năm 2020"
    table.cell(top + 1, 4).text = "KH năm 2021"
    body = [["1", "Tỷ lệ bao phủ bảo hiểm y tế", "%", "90", "91,5"],
            ["2", "Thu ngân sách nhà nước", "Tỷ đồng", "2.000", "2.150"],
            ["", "Trong đó thu tiền sử dụng đất", "Tỷ đồng", "500", "600"]]
    for r, row in enumerate(body, start=top + 2):
        for c, value in enumerate(row):
            table.cell(r, c).text = value


def make_report(path: Path) -> Path:
    import docx

    document = docx.Document()
    header = document.add_table(rows=2, cols=2)  # the usual two-column header of a Word document
    header.cell(0, 0).text = "ỦY BAN NHÂN DÂN QUẬN TÂY HỒ"
    header.cell(0, 1).text = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    header.cell(1, 0).text = "Số: 15/BC-UBND"
    header.cell(1, 1).text = "Tây Hồ, ngày 10 tháng 12 năm 2021"
    document.add_paragraph().add_run("BÁO CÁO").bold = True
    document.add_paragraph().add_run("Kết quả thực hiện các chỉ tiêu năm 2021").bold = True
    document.add_heading("I. KẾT QUẢ THỰC HIỆN", level=1)
    document.add_paragraph("1. Về kinh tế: thu ngân sách trên địa bàn quận đạt kết quả tốt, vượt dự toán được giao.")
    document.add_heading("Các chỉ tiêu chủ yếu", level=2)
    document.add_paragraph("Bảng 1. Chỉ tiêu kinh tế - xã hội năm 2021", style="Caption")
    merged_header_table(document)
    document.add_heading("II. NHIỆM VỤ NĂM 2022", level=1)
    document.add_paragraph("Tiếp tục thực hiện các giải pháp phát triển kinh tế.")
    merged_header_table(document, caption_row="Biểu 2: Chỉ tiêu năm 2022")
    document.save(path)
    return path


HEADER_LINE = "TT\tNội dung\tĐơn vị\tChỉ tiêu › KH năm 2020\tChỉ tiêu › KH năm 2021"
TABLE_1 = "I. KẾT QUẢ THỰC HIỆN › Các chỉ tiêu chủ yếu › Bảng 1. Chỉ tiêu kinh tế - xã hội năm 2021"


def test_docx_merged_header_cells_make_one_header_row(tmp_path: Path) -> None:
    doc = load_document(make_report(tmp_path / "bao-cao.docx"))
    assert doc.text.count(HEADER_LINE) == 2
    assert "\nTT\t" not in doc.text.replace("\n" + HEADER_LINE, "")  # no second header row, "TT" once
    assert "Chỉ tiêu\tChỉ tiêu" not in doc.text
    assert f"{HEADER_LINE}\n1\tTỷ lệ bao phủ bảo hiểm y tế\t%\t90\t91,5\n" in doc.text
    assert "\n\tTrong đó thu tiền sử dụng đất\tTỷ đồng\t500\t600" in doc.text
    # a title row across the table becomes the caption line above it
    assert f"Biểu 2: Chỉ tiêu năm 2022\n\n{HEADER_LINE}" in doc.text


def test_docx_header_cell_across_two_columns_over_values_is_one_header_row(tmp_path: Path) -> None:
    """"Nội dung" across the label and sub-label columns: the row below holds values, not sub-headings."""
    import docx

    document = docx.Document()
    table = document.add_table(rows=3, cols=4)
    for c, value in enumerate(["TT", "Nội dung", "", "Kết quả"]):
        table.cell(0, c).text = value
    table.cell(0, 1).merge(table.cell(0, 2))
    for r, row in enumerate([["1", "Thu ngân sách", "Thuế", "1.200"], ["2", "Thu ngân sách", "Phí", "80"]], start=1):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    path = tmp_path / "bang.docx"
    document.save(path)
    assert load_document(path).text == "TT\tNội dung\t\tKết quả\n1\tThu ngân sách\tThuế\t1.200\n2\tThu ngân sách\tPhí\t80"


def test_docx_metadata_from_a_header_table(tmp_path: Path) -> None:
    doc = load_document(make_report(tmp_path / "bao-cao.docx"))
    assert (doc.type, doc.number, doc.date) == ("báo cáo", "15/BC-UBND", "2021-12-10")
    assert (doc.issuer, doc.district) == ("UBND quận Tây Hồ", "Tây Hồ")  # not "... Tây Hồ Cộng Hòa Xã Hội ..."
    assert doc.title == "Báo cáo kết quả thực hiện các chỉ tiêu năm 2021"


def test_docx_table_gets_its_heading_and_caption_not_the_numbered_paragraph(tmp_path: Path) -> None:
    doc = load_document(make_report(tmp_path / "bao-cao.docx"))
    passages = chunk_document(doc)
    assert_offsets(doc, passages)
    assert find(passages, "Về kinh tế").section == "I. KẾT QUẢ THỰC HIỆN › 1. Về kinh tế"
    rows = [p for p in passages if p.kind == "table_row"]
    assert [(p.section, p.text) for p in rows[:3]] == [
        (TABLE_1, "Bảng 1. Chỉ tiêu kinh tế - xã hội năm 2021 — 1. Tỷ lệ bao phủ bảo hiểm y tế — Đơn vị: %"
                  " — Chỉ tiêu › KH năm 2020: 90 — Chỉ tiêu › KH năm 2021: 91,5"),
        (TABLE_1, "Bảng 1. Chỉ tiêu kinh tế - xã hội năm 2021 — 2. Thu ngân sách nhà nước — Đơn vị: Tỷ đồng"
                  " — Chỉ tiêu › KH năm 2020: 2.000 — Chỉ tiêu › KH năm 2021: 2.150"),
        (TABLE_1, "Bảng 1. Chỉ tiêu kinh tế - xã hội năm 2021 — 2. Thu ngân sách nhà nước › Trong đó thu tiền"
                  " sử dụng đất — Đơn vị: Tỷ đồng — Chỉ tiêu › KH năm 2020: 500 — Chỉ tiêu › KH năm 2021: 600"),
    ]
    assert {p.section for p in rows[3:]} == {"II. NHIỆM VỤ NĂM 2022 › Biểu 2: Chỉ tiêu năm 2022"}
    assert len(rows) == 6
    assert find(passages, "Tiếp tục thực hiện").section == "II. NHIỆM VỤ NĂM 2022"


def test_docx_bold_paragraph_is_a_heading_as_in_txt(tmp_path: Path) -> None:
    """No Word heading styles: a paragraph all in bold heads the table, as a **…** line of a .txt does."""
    import docx

    document = docx.Document()
    document.add_paragraph("I. KẾT QUẢ")
    document.add_paragraph("1. Thu ngân sách trên địa bàn quận đạt kết quả tốt, vượt dự toán được giao.")
    document.add_paragraph().add_run("Kết quả thu ngân sách theo lĩnh vực").bold = True
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate([["TT", "Lĩnh vực", "Kết quả"], ["1", "Thuế", "1.200"], ["2", "Phí, lệ phí", "80"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    path = tmp_path / "thu-ngan-sach.docx"
    document.save(path)

    doc = load_document(path)
    assert [(doc.text[h.start:h.end], h.level) for h in doc.headings] == [("Kết quả thu ngân sách theo lĩnh vực", 0)]
    rows = [p for p in chunk_document(doc) if p.kind == "table_row"]
    assert [p.text for p in rows] == [
        "Kết quả thu ngân sách theo lĩnh vực — 1. Thuế — Kết quả: 1.200",
        "Kết quả thu ngân sách theo lĩnh vực — 2. Phí, lệ phí — Kết quả: 80",
    ]
    assert rows[0].section == (
        "I. KẾT QUẢ › 1. Thu ngân sách trên địa bàn quận đạt kết quả tốt, vượt dự toán được giao"
        " › Kết quả thu ngân sách theo lĩnh vực"
    )


def test_docx_automatic_numbering_is_written_into_the_text(tmp_path: Path) -> None:
    """Word numbers "1.", "2." and bullets itself; without them the numbered sections are lost."""
    import docx

    document = docx.Document()
    document.add_heading("I. KẾT QUẢ", level=1)
    document.add_paragraph("Về kinh tế: thu ngân sách trên địa bàn đạt kết quả tốt.", style="List Number")
    document.add_paragraph("thu thuế tăng so với cùng kỳ;", style="List Bullet")
    document.add_paragraph("Về xã hội: an sinh xã hội được bảo đảm.", style="List Number")
    path = tmp_path / "danh-so.docx"
    document.save(path)

    doc = load_document(path)
    assert doc.text == (
        "I. KẾT QUẢ\n\n1. Về kinh tế: thu ngân sách trên địa bàn đạt kết quả tốt.\n\n"
        "- thu thuế tăng so với cùng kỳ;\n\n2. Về xã hội: an sinh xã hội được bảo đảm."
    )
    sections = list(dict.fromkeys(p.section for p in chunk_document(doc, max_chars=100)))
    assert sections == ["I. KẾT QUẢ › 1. Về kinh tế: thu ngân sách trên địa bàn đạt kết quả tốt",
                        "I. KẾT QUẢ › 2. Về xã hội: an sinh xã hội được bảo đảm"]


# ---------------------------------------------------------------- files not loaded


def test_a_file_of_another_type_is_reported_from_a_folder_and_alone(tmp_path: Path) -> None:
    csv = write(tmp_path / "chi-tieu.csv", "TT,Chỉ tiêu\n1,Thu ngân sách\n")
    write(tmp_path / "a.txt", "Văn bản A.")
    write(tmp_path / "README", "no extension")
    write(tmp_path / "a.txt.meta.json", "{}")
    write(tmp_path / ".DS_Store", "")
    expected = f"{csv}: unsupported file type '.csv'; supported: {SUPPORTED}"

    errors: list[DocumentError] = []
    assert [d.id for d in iter_documents(tmp_path, errors)] == ["a"]
    assert [str(e) for e in errors] == [
        f"{tmp_path / 'README'}: no file extension, so its type is unknown; supported: {SUPPORTED}",
        expected,
    ]
    alone: list[DocumentError] = []
    assert list(iter_documents(csv, alone)) == []
    assert [str(e) for e in alone] == [expected]
    with pytest.raises(DocumentError) as info:
        load_document(csv)
    assert str(info.value) == expected


def test_empty_files_are_reported(tmp_path: Path) -> None:
    write(tmp_path / "empty.jsonl", "\n\n")
    write(tmp_path / "only-markup.md", "**  **\n\n---\n\n| |\n|-|\n")
    errors: list[DocumentError] = []
    assert list(iter_documents(tmp_path, errors)) == []
    assert [str(e) for e in errors] == [
        f"{tmp_path / 'empty.jsonl'}: empty (no records in it)",
        f"{tmp_path / 'only-markup.md'}: empty (no text in it)",
    ]


# -------------------------------------------------------------------- end to end


def test_indexed_markdown_answers_with_clean_text(tmp_path: Path, settings, embedder) -> None:
    from qa.search import Searcher
    from qa.store import Index, build_index

    folder = tmp_path / "docs"
    write(folder / "ke-hoach-tay-ho.md", PLAN_MD)
    csv = write(folder / "chi-tieu.csv", "TT,Chỉ tiêu\n")
    local = settings.model_copy(update={"corpus": folder, "index": tmp_path / "index"})

    report = build_index(folder, local, embedder=embedder, progress=False)
    assert [str(e) for e in report.errors] == [f"{csv}: unsupported file type '.csv'; supported: {SUPPORTED}"]
    index = Index.open(local, embedder)
    top = Searcher(index).search("chỉ tiêu thu ngân sách năm 2021", k=3).results[0]
    assert top.doc.id == "ke-hoach-tay-ho"
    assert top.passage.section == TARGETS
    assert "2.150" in top.answer and "2.150" in top.passage.text
    for markup in ("**", "|", "#"):
        assert markup not in top.answer and markup not in top.passage.text
    added = index.add(csv)  # qa add: the same rule
    assert [str(e) for e in added.errors] == [f"{csv}: unsupported file type '.csv'; supported: {SUPPORTED}"]
