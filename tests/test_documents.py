"""Tests for qa.documents: loaders, JSONL corpora, errors, sidecars, metadata extraction."""

from __future__ import annotations

import gzip
import inspect
import json
import logging
from pathlib import Path

import pytest

from qa.documents import (
    Document,
    DocumentError,
    extract_metadata,
    iter_documents,
    load_document,
)
from qa.text import normalize

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

# The real metadata of the five district documents, read off their text by hand.
EXPECTED = {
    "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021": dict(
        type="nghị quyết",
        number="21/NQ-HĐND",
        issuer="HĐND quận Bắc Từ Liêm",
        district="Bắc Từ Liêm",
        date="2020-12-18",
        period="2021",
        years=[2021],
        title="Nghị quyết về kế hoạch phát triển kinh tế - xã hội năm 2021 của quận Bắc Từ Liêm",
    ),
    "bac-tu-liem-nq-01-2020-6-thang-cuoi-nam-2020": dict(
        type="nghị quyết",
        number="01/NQ-HĐND",  # written "01 /NQ-HĐND" in the text
        issuer="HĐND quận Bắc Từ Liêm",
        district="Bắc Từ Liêm",
        date="2020-06-18",
        period="6 tháng cuối năm 2020",
        years=[2020],
        title="Nghị quyết về nhiệm vụ phát triển kinh tế - xã hội, đảm bảo quốc phòng, an ninh "
        "6 tháng cuối năm 2020",
    ),
    "tay-ho-tin-nhiem-vu-3-thang-cuoi-nam-2020": dict(
        type="tin bài",
        number="",
        issuer="UBND quận Tây Hồ",  # "UBND quận đề ra nhiệm vụ ..." in the post
        district="Tây Hồ",
        date="2020-11-13",
        period="3 tháng cuối năm 2020",
        years=[2020],
        title="Nhiệm vụ và giải pháp trọng tâm phát triển kinh tế 3 tháng cuối năm 2020",
    ),
    "bac-tu-liem-bao-cao-6-thang-dau-nam-2024": dict(
        type="báo cáo",
        number="",  # the summary report carries neither a number nor a date
        issuer="UBND quận Bắc Từ Liêm",  # signature block
        district="Bắc Từ Liêm",
        date="",
        period="6 tháng đầu năm 2024",
        years=[2024],
        title="Báo cáo tóm tắt kết quả thực hiện kế hoạch phát triển kinh tế- xã hội, đảm bảo quốc "
        "phòng, an ninh 6 tháng đầu năm; phương hướng, nhiệm vụ 6 tháng cuối năm 2024",
    ),
    "tay-ho-tin-chuong-trinh-toan-khoa-2020-2025": dict(
        type="tin bài",
        number="",
        issuer="",  # the post names no author body (it reports on the Quận ủy; "Ban biên tập")
        district="Tây Hồ",
        date="2020-11-13",
        period="2020-2025",
        years=[2020, 2021, 2022, 2023, 2024, 2025],
        title="Kết quả triển khai Nghị quyết Đại hội Đảng bộ Quận lần thứ VI và 06 Chương trình "
        "công tác toàn khóa của BCH Đảng bộ quận giai đoạn 2020-2025",
    ),
}

# A small official document (Markdown flavoured, as exported from an editor).
PLAN = """**ỦY BAN NHÂN DÂN QUẬN TÂY HỒ**

Số: 05 /KH-UBND

Tây Hồ, ngày 3 tháng 2 năm 2021

**KẾ HOẠCH**

**Thực hiện nhiệm vụ phát triển kinh tế - xã hội năm 2021**

Căn cứ Nghị quyết số 18/NQ-HĐND ngày 20/12/2020 của HĐND quận Tây Hồ;

1. Mục tiêu: hoàn thành các chỉ tiêu năm 2021.
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def metadata(doc: Document) -> dict:
    return {key: getattr(doc, key) for key in EXPECTED[doc.id]}


# ------------------------------------------------------------------ the real corpus


@pytest.mark.parametrize("doc_id", sorted(EXPECTED))
def test_real_documents_metadata(doc_id: str) -> None:
    path = CORPUS / f"{doc_id}.txt"
    doc = load_document(path)
    assert doc.id == doc_id
    assert doc.source == str(path)
    assert metadata(doc) == EXPECTED[doc_id]


def test_corpus_folder_loads_all_five_sorted_with_normalised_text() -> None:
    errors: list[DocumentError] = []
    docs = list(iter_documents(CORPUS, errors))
    assert errors == []
    assert [d.id for d in docs] == sorted(EXPECTED)
    for doc in docs:
        assert doc.text == normalize(doc.text)
        assert len(doc.text) > 5000


# ------------------------------------------------------------------------ file types


def test_md_loads_with_text_and_metadata(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "ke-hoach.md", PLAN))
    assert doc.id == "ke-hoach"
    assert "hoàn thành các chỉ tiêu năm 2021" in doc.text
    assert (doc.type, doc.number, doc.date) == ("kế hoạch", "05/KH-UBND", "2021-02-03")
    assert (doc.issuer, doc.district) == ("UBND quận Tây Hồ", "Tây Hồ")
    assert (doc.period, doc.years) == ("2021", [2021])
    assert doc.title == "Kế hoạch thực hiện nhiệm vụ phát triển kinh tế - xã hội năm 2021"


def test_text_is_normalised(tmp_path: Path) -> None:
    # decomposed (NFD) input and new-style tone placement "hoá"
    path = tmp_path / "nfd.txt"
    path.write_bytes("Văn hoá\u00a0xã hội".encode("utf-8").replace("ă".encode(), "a\u0306".encode()))
    assert load_document(path).text == normalize("Văn hoá xã hội") == "Văn hóa xã hội"


def test_docx_paragraphs_and_tables_in_order(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    for line in ["Số: 12/BC-UBND", "Bắc Từ Liêm, ngày 9 tháng 7 năm 2024", "BÁO CÁO",
                 "Kết quả công tác 6 tháng đầu năm 2024"]:
        document.add_paragraph(line)
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate([["TT", "Chỉ tiêu", "Kết quả"], ["1", "Thu ngân sách", "2.979"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    merged = table.cell(2, 0).merge(table.cell(2, 2))
    merged.text = "Ghi chú chung"
    document.add_paragraph("Sau bảng.")
    document.add_paragraph("ỦY BAN NHÂN DÂN QUẬN BẮC TỪ LIÊM")
    path = tmp_path / "bao-cao.docx"
    document.save(path)

    doc = load_document(path)
    assert "TT\tChỉ tiêu\tKết quả\n1\tThu ngân sách\t2.979\nGhi chú chung" in doc.text
    assert doc.text.index("Kết quả công tác") < doc.text.index("TT\t") < doc.text.index("Sau bảng.")
    assert (doc.type, doc.number, doc.date) == ("báo cáo", "12/BC-UBND", "2024-07-09")
    assert (doc.issuer, doc.period) == ("UBND quận Bắc Từ Liêm", "6 tháng đầu năm 2024")


def test_pdf_with_text_layer(tmp_path: Path) -> None:
    fpdf = pytest.importorskip("fpdf")
    if not DEJAVU.is_file():
        pytest.skip(f"no Unicode TTF font at {DEJAVU} (Debian package fonts-dejavu-core)")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.add_font("DejaVu", fname=str(DEJAVU))
    pdf.set_font("DejaVu", size=12)
    for line in ["Số: 07/NQ-HĐND", "Tây Hồ, ngày 5 tháng 7 năm 2021", "NGHỊ QUYẾT",
                 "Về nhiệm vụ 6 tháng cuối năm 2021", "HỘI ĐỒNG NHÂN DÂN QUẬN TÂY HỒ"]:
        pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    path = tmp_path / "nq-07.pdf"
    pdf.output(str(path))

    doc = load_document(path)
    assert "Về nhiệm vụ 6 tháng cuối năm 2021" in doc.text
    assert (doc.type, doc.number, doc.date) == ("nghị quyết", "07/NQ-HĐND", "2021-07-05")
    assert (doc.issuer, doc.district) == ("HĐND quận Tây Hồ", "Tây Hồ")
    assert doc.title == "Nghị quyết về nhiệm vụ 6 tháng cuối năm 2021"


# ---------------------------------------------------------------------- JSONL corpora


def jsonl(records: list) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records)


RECORDS = [
    {"_id": "doc-a", "title": "", "text": PLAN},
    "{not json",
    {"_id": "doc-b", "title": "Tiêu đề B", "text": "Văn bản B.", "number": "9/TB-UBND", "type": "Thông báo"},
    {"title": "no id", "text": "Có nội dung."},
    {"_id": "doc-empty", "text": "   "},
    {"id": "doc-c", "text": "Văn bản C không có tiêu đề rõ ràng."},
]


@pytest.mark.parametrize("name", ["corpus.jsonl", "corpus.jsonl.gz"])
def test_jsonl_corpus_records_and_bad_lines(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    data = jsonl(RECORDS).encode("utf-8")
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)

    errors: list[DocumentError] = []
    docs = {d.id: d for d in iter_documents(path, errors)}

    assert list(docs) == ["doc-a", "doc-b", "doc-c"]  # the record ids, "_id" or "id"
    assert [(e.path, e.line) for e in errors] == [(str(path), 2), (str(path), 4), (str(path), 5)]
    assert str(errors[0]).startswith(f"{path} line 2: invalid JSON")
    assert "no \"_id\" or \"id\"" in str(errors[1]) and "no text" in str(errors[2])
    # metadata read from the text where the record has none ...
    assert (docs["doc-a"].number, docs["doc-a"].type, docs["doc-a"].date) == ("05/KH-UBND", "kế hoạch", "2021-02-03")
    assert docs["doc-a"].source == f"{path}:1"
    # ... and the record's own non-empty fields where it has them
    assert (docs["doc-b"].title, docs["doc-b"].number, docs["doc-b"].type) == ("Tiêu đề B", "9/TB-UBND", "thông báo")


def test_jsonl_is_streamed(tmp_path: Path) -> None:
    """The first documents come out before the rest of the file is read."""
    path = tmp_path / "big.jsonl.gz"
    good = jsonl([{"_id": f"d{i}", "text": f"Văn bản số {i}."} for i in range(3)]).encode()
    path.write_bytes(gzip.compress(good)[:-8])  # truncated: the gzip trailer is missing

    errors: list[DocumentError] = []
    documents = iter_documents(path, errors)
    assert inspect.isgenerator(documents)
    assert next(documents).id == "d0"
    assert errors == []  # nothing read past the first record yet
    rest = list(documents)
    assert [d.id for d in rest] == ["d1", "d2"]
    assert len(errors) == 1 and str(errors[0]).startswith(str(path))


def test_non_utf8_jsonl_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"_id": "x", "text": "caf\xe9"}\n{"_id": "y", "text": "ok"}\n')
    errors: list[DocumentError] = []
    assert [d.id for d in iter_documents(path, errors)] == ["y"]
    assert str(errors[0]) == f"{path} line 1: not UTF-8 text (byte 0xe9 at position 25); save it as UTF-8"


# ------------------------------------------------------------------------- bad input


def make_bad_folder(folder: Path) -> None:
    write(folder / "good.txt", PLAN)
    write(folder / "empty.txt", "")
    write(folder / "blank.md", " \n\t\n")
    (folder / "latin1.txt").write_bytes("Số: 5/QĐ-UBND\n".encode("utf-8") + b"caf\xff")
    (folder / "broken.docx").write_bytes(b"this is not a zip file")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    with open(folder / "scan.pdf", "wb") as fh:
        writer.write(fh)


def test_bad_files_are_reported_and_the_others_still_load(tmp_path: Path) -> None:
    make_bad_folder(tmp_path)
    errors: list[DocumentError] = []
    docs = list(iter_documents(tmp_path, errors))

    assert [d.id for d in docs] == ["good"]
    messages = {Path(e.path).name: str(e) for e in errors}
    assert set(messages) == {"empty.txt", "blank.md", "latin1.txt", "broken.docx", "broken.pdf", "scan.pdf"}
    for name, message in messages.items():
        assert message.startswith(str(tmp_path / name) + ": ")
    assert "empty" in messages["empty.txt"] and "empty" in messages["blank.md"]
    assert messages["latin1.txt"].endswith(": not UTF-8 text (byte 0xff at position 20); save it as UTF-8")
    assert messages["scan.pdf"].endswith(": the PDF has no text layer (scanned?); run OCR first")
    assert "not a readable .docx file" in messages["broken.docx"]
    assert "not a readable PDF" in messages["broken.pdf"]


def test_load_document_raises_document_error(tmp_path: Path) -> None:
    make_bad_folder(tmp_path)
    with pytest.raises(DocumentError, match="no text layer") as info:
        load_document(tmp_path / "scan.pdf")
    assert isinstance(info.value, ValueError) and info.value.path == str(tmp_path / "scan.pdf")
    with pytest.raises(DocumentError, match=r"unsupported file type '\.rtf'"):
        load_document(write(tmp_path / "x.rtf", "text"))
    with pytest.raises(DocumentError, match="no such file"):
        load_document(tmp_path / "missing.txt")


def test_errors_are_logged_when_no_list_is_given(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path / "a.txt", PLAN)
    write(tmp_path / "b.txt", "")
    with caplog.at_level(logging.WARNING, logger="qa.documents"):
        assert [d.id for d in iter_documents(tmp_path)] == ["a"]
    assert f"{tmp_path / 'b.txt'}: empty" in caplog.text


def test_folder_walk_is_recursive_sorted_and_reports_files_of_other_types(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", "Văn bản B.")
    write(tmp_path / "sub" / "a.md", "Văn bản A.")
    write(tmp_path / ".hidden.txt", "ẩn")
    write(tmp_path / ".git" / "c.txt", "ẩn")
    write(tmp_path / "~$b.docx", "Word's lock file")
    write(tmp_path / "notes.rtf", "không hỗ trợ")
    write(tmp_path / "b.txt.meta.json", "{}")
    errors: list[DocumentError] = []
    assert [d.id for d in iter_documents(tmp_path, errors)] == ["b", "a"]  # sorted by path: b.txt < sub/a.md
    # hidden files, lock files and sidecars are not documents; a file of another type is reported
    assert [str(e) for e in errors] == [
        f"{tmp_path / 'notes.rtf'}: unsupported file type '.rtf'; supported: .txt, .md, .docx, .pdf, .jsonl, .jsonl.gz"
    ]


def test_duplicate_ids_are_reported(tmp_path: Path) -> None:
    write(tmp_path / "x.txt", "Một.")
    write(tmp_path / "x.md", "Hai.")
    errors: list[DocumentError] = []
    assert [d.text for d in iter_documents(tmp_path, errors)] == ["Hai."]  # x.md sorts first
    assert "duplicate document id 'x'" in str(errors[0]) and str(errors[0]).startswith(str(tmp_path / "x.txt"))


# --------------------------------------------------------------------------- sidecars


@pytest.mark.parametrize("sidecar", ["ke-hoach.txt.meta.json", "ke-hoach.meta.json"])
def test_sidecar_overrides_extracted_fields(tmp_path: Path, sidecar: str) -> None:
    path = write(tmp_path / "ke-hoach.txt", PLAN)
    write(tmp_path / sidecar, json.dumps({"issuer": "UBND quận Ba Đình", "period": "2021-2022", "date": "2021-02-04"}))
    doc = load_document(path)
    assert (doc.issuer, doc.district) == ("UBND quận Ba Đình", "Ba Đình")  # district follows the issuer
    assert (doc.period, doc.years, doc.date) == ("2021-2022", [2021, 2022], "2021-02-04")
    assert (doc.number, doc.type) == ("05/KH-UBND", "kế hoạch")  # the other fields stay extracted


@pytest.mark.parametrize(
    "content, message",
    [
        ("{oops", "invalid JSON"),
        ('["a list"]', "must hold a JSON object"),
        ('{"isuer": "UBND"}', "unknown field(s) isuer"),
        ('{"years": "2021"}', "field 'years'"),
        ('{"date": "tháng 2"}', "field 'date'"),
    ],
)
def test_malformed_sidecar_is_reported_and_the_document_loads_without_it(
    tmp_path: Path, content: str, message: str
) -> None:
    write(tmp_path / "ke-hoach.txt", PLAN)
    sidecar = write(tmp_path / "ke-hoach.meta.json", content)
    errors: list[DocumentError] = []
    docs = list(iter_documents(tmp_path, errors))
    assert [(d.id, d.issuer, d.period) for d in docs] == [("ke-hoach", "UBND quận Tây Hồ", "2021")]
    assert len(errors) == 1 and errors[0].path == str(sidecar) and message in str(errors[0])


# ------------------------------------------------------------------ metadata extraction


def test_header_split_over_lines_with_markdown_and_table_pipes() -> None:
    """Web-page exports wrap header lines anywhere and keep table pipes."""
    text = normalize(
        "|\n**ỦY BAN NHÂN\nDÂN **\nTHÀNH PHỐ HÀ\nNỘI\n-------\n|\n**CỘNG HÒA XÃ HỘI\nCHỦ NGHĨA VIỆT NAM**\n"
        "|\nSố:\n71/2025/QĐ-UBND\n|\n*Hà Nội, ngày 26 tháng\n11 năm 2025*\n|\n\n**QUYẾT\nĐỊNH**\n\n"
        "VỀ VIỆC BAN HÀNH QUY CHẾ XÉT TẶNG DANH HIỆU\n“CÔNG DÂN THỦ ĐÔ ƯU TÚ”\n\n*Căn cứ Luật ...*\n"
    )
    meta = extract_metadata(text)
    assert (meta["type"], meta["number"], meta["date"]) == ("quyết định", "71/2025/QĐ-UBND", "2025-11-26")
    assert (meta["issuer"], meta["district"]) == ("UBND thành phố Hà Nội", "")
    assert meta["title"] == "Quyết định về việc ban hành quy chế xét tặng danh hiệu “công dân thủ đô ưu tú”"


@pytest.mark.parametrize(
    "title_line, period, years",
    [
        ("Về kế hoạch đầu tư công giai đoạn 2021 - 2025", "2021-2025", [2021, 2022, 2023, 2024, 2025]),
        ("Về dự toán ngân sách năm 2022", "2022", [2022]),
        ("Về công tác quý II năm 2023", "quý II năm 2023", [2023]),
        ("Về chương trình phát triển đến năm 2030", "đến năm 2030", [2030]),
        # a date or a document number in the title is not what the document is about
        ("Sửa đổi Nghị quyết số 27/2019/NQ-HĐND ngày 16 tháng 12 năm 2019", "", []),
    ],
)
def test_period_comes_from_the_title(title_line: str, period: str, years: list[int]) -> None:
    text = f"Số: 3/NQ-HĐND\n\nNGHỊ QUYẾT\n\n{title_line}\n\nCăn cứ Luật năm 2015;\n\nNăm 2019 và năm 2018 ..."
    meta = extract_metadata(text)
    assert (meta["period"], meta["years"]) == (period, years)


def test_central_bodies_and_laws() -> None:
    text = (
        "QUỐC HỘI -------\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM Độc lập - Tự do - Hạnh phúc ---------------\n"
        "Luật số: 59/2020/QH14\nHà Nội, ngày 17 tháng 6 năm 2020\nLUẬT\nDOANH NGHIỆP\nCăn cứ Hiến pháp ...\n"
    )
    meta = extract_metadata(text)
    assert (meta["type"], meta["number"], meta["date"]) == ("luật", "59/2020/QH14", "2020-06-17")
    assert (meta["issuer"], meta["title"]) == ("Quốc hội", "Luật Doanh nghiệp")


def test_unknown_text_gives_empty_metadata() -> None:
    meta = extract_metadata("Một đoạn văn ngắn không có tiêu đề.")
    assert {k: v for k, v in meta.items() if k != "title"} == dict(
        type="", number="", issuer="", district="", date="", period="", years=[]
    )
