"""qa.chunking on the real corpus: sections, table rows, furniture, splitting, offsets."""

from __future__ import annotations

import gzip
import itertools
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

from qa.chunking import MAX_CHARS, Passage, chunk_document
from qa.documents import Document, Heading
from qa.text import normalize

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHARED_CORPUS = ROOT.parent / "shared" / "corpora" / "vn-official-1114.jsonl.gz"

NQ21 = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"
NQ01 = "bac-tu-liem-nq-01-2020-6-thang-cuoi-nam-2020"
BAO_CAO = "bac-tu-liem-bao-cao-6-thang-dau-nam-2024"
TIN_TOAN_KHOA = "tay-ho-tin-chuong-trinh-toan-khoa-2020-2025"
TIN_3_THANG = "tay-ho-tin-nhiem-vu-3-thang-cuoi-nam-2020"
ALL_DOCS = (NQ21, NQ01, BAO_CAO, TIN_TOAN_KHOA, TIN_3_THANG)

CAPTION = "Chỉ tiêu kinh tế- xã hội năm 2021 của quận Bắc Từ Liêm"


@lru_cache(maxsize=None)
def load(doc_id: str) -> Document:
    path = CORPUS / f"{doc_id}.txt"
    return Document(id=path.stem, text=normalize(path.read_text(encoding="utf-8")), title=path.stem)


@lru_cache(maxsize=None)
def passages(doc_id: str) -> tuple[Passage, ...]:
    return tuple(chunk_document(load(doc_id)))


def find(doc_id: str, phrase: str, kind: str = "text") -> Passage:
    """The first passage of ``kind`` containing ``phrase``."""
    found = [p for p in passages(doc_id) if p.kind == kind and phrase in p.text]
    assert found, f"no {kind} passage with {phrase!r} in {doc_id}"
    return found[0]


def rows(doc_id: str) -> list[Passage]:
    return [p for p in passages(doc_id) if p.kind == "table_row"]


def row_line(p: Passage) -> str:
    return load(p.doc_id).text[p.start:p.end]


# --------------------------------------------------------------------------
# The 2021 targets table (appendix of NQ 21)


def test_bhyt_rows_are_passages_with_caption_unit_and_value():
    coverage = find(NQ21, "91,5", kind="table_row")
    assert coverage.text == f"{CAPTION} — 19. Tỷ lệ bao phủ bảo hiểm y tế — Đơn vị: % — KH năm 2021: 91,5"
    assert coverage.section == f"PHỤ LỤC › {CAPTION} › CHỈ TIÊU XÃ HỘI"
    assert row_line(coverage) == "19\tTỷ lệ bao phủ bảo hiểm y tế\t%\t91,5"

    insured = find(NQ21, "259.195", kind="table_row")
    assert insured.text == (
        f"{CAPTION} — 20. Số người đóng bảo hiểm xã hội, bảo hiểm y tế, bảo hiểm thất nghiệp"
        " › Số người đóng bảo hiểm y tế — Đơn vị: Người — KH năm 2021: 259.195"
    )
    assert row_line(insured) == "\tSố người đóng bảo hiểm y tế\tNgười\t259.195"
    assert insured.ordinal != coverage.ordinal
    # each passage is one row: the neighbouring values are not in it
    assert "44.129" not in insured.text and "41.391" not in insured.text


def test_sub_rows_keep_their_parent_label():
    services = [p for p in rows(NQ21) if "Dịch vụ - thương mại" in p.text]
    assert [p.text.split(" — ")[1] for p in services] == [
        "1. Tốc độ tăng tổng giá trị sản xuất trên địa bàn của một số ngành chủ yếu (giá so sánh)"
        " › Dịch vụ - thương mại",
        "2. Cơ cấu kinh tế do Quận quản lý › Dịch vụ - thương mại",
    ]
    # a sub-row after the page break still belongs to row 11
    after_break = find(NQ21, "93,1", kind="table_row")
    assert " — 11. Số cơ quan, đơn vị, doanh nghiệp đạt chuẩn văn hóa › Tỷ lệ cơ quan" in after_break.text
    # "+" inside a label is text, not a bullet
    assert "Trong đó thu tiền sử dụng đất + đấu giá" in find(NQ21, "1.191", kind="table_row").text


def test_header_number_and_group_rows_are_not_passages():
    table = rows(NQ21)
    lines = [row_line(p) for p in table]
    assert not any(line.startswith("TT\t") for line in lines)          # both header rows
    assert "1\t2\t3\t4" not in lines                                    # both numbering rows
    assert not any(line.startswith("*\t") for line in lines)            # group rows
    assert not any(p.text.endswith(("CÁC CHỈ TIÊU KINH TẾ", "CHỈ TIÊU XÃ HỘI")) for p in table)
    # 26 targets: rows 2 and 20 have no value of their own, their sub-rows carry them
    numbers = {int(m.group(1)) for p in table if (m := re.search(r" — (\d+)\. ", p.text))}
    assert numbers == set(range(1, 27))
    assert len(table) == 39
    # group rows label the rows below them
    assert find(NQ21, "Tỷ lệ hộ dân được cung cấp nước sạch", kind="table_row").section == (
        f"PHỤ LỤC › {CAPTION} › CHỈ TIÊU VỀ XÂY DỰNG ĐÔ THỊ, BẢO VỆ MÔI TRƯỜNG"
    )
    # the caption lines were consumed by the table, not left as a text passage
    assert not any("Ban hành kèm theo" in p.text for p in passages(NQ21))


# --------------------------------------------------------------------------
# Limits and furniture


FURNITURE = ("View count", "Album Ảnh", "Tìm kiếm", "Các chuyên mục", "Ngày đăng", "Nơi nhận")


@pytest.mark.parametrize("doc_id", ALL_DOCS)
def test_limits_order_and_no_furniture(doc_id):
    ps = passages(doc_id)
    assert ps
    assert [p.ordinal for p in ps] == list(range(len(ps)))
    assert all(p.doc_id == doc_id and p.kind in ("text", "table_row") for p in ps)
    assert all(0 < len(p.text) <= MAX_CHARS for p in ps)
    assert all(a.start <= b.start for a, b in itertools.pairwise(ps))     # document order
    for p in ps:
        for word in FURNITURE:
            assert word not in p.text, (word, p.text[:80])


def test_signatures_distribution_lists_and_header_are_dropped():
    everything = {doc_id: "\n".join(p.text for p in passages(doc_id)) for doc_id in ALL_DOCS}
    assert "Nguyễn Hữu Tuyên" not in everything[NQ21] + everything[NQ01]
    assert "CHỦ TỊCH" not in everything[NQ21] + everything[NQ01]
    assert "Lưu: VT" not in everything[NQ21] + everything[NQ01]
    assert "ỦY BAN NHÂN DÂN QUẬN BẮC TỪ LIÊM" not in everything[BAO_CAO]
    assert "Ban biên tập" not in everything[TIN_TOAN_KHOA]
    assert "VP HĐND&UBND quận" not in everything[TIN_3_THANG]
    assert "Kinh tế - chính trị" not in everything[TIN_3_THANG]
    for doc_id in (NQ21, NQ01):
        text = everything[doc_id]
        assert "Số:" not in text and "NGHỊ QUYẾT" not in text and "QUYẾT NGHỊ" not in text
    # the legal basis is kept, as one top-level passage
    basis = passages(NQ21)[0]
    assert basis.section == "" and basis.text.startswith("Căn cứ Luật Tổ chức chính quyền địa phương")
    assert basis.text.endswith("ý kiến của các đại biểu HĐND Quận.")


def test_news_post_keeps_its_lead_and_ending():
    lead, *_, last = passages(TIN_TOAN_KHOA)
    assert lead.section == "" and lead.text.startswith("Nhằm quán triệt sâu sắc Nghị quyết Đại hội")
    assert last.text.endswith("văn hóa của Thủ đô./.")
    # the post's title is metadata, not a passage of its own
    assert not any(p.text.startswith("Kết quả triển khai Nghị quyết Đại hội") for p in passages(TIN_TOAN_KHOA))


# --------------------------------------------------------------------------
# Section paths


SECTIONS = [
    (NQ21, "Phát triển hệ thống an sinh xã hội, nâng cao phúc lợi xã hội",
     "Điều 1 › II. Nhiệm vụ và giải pháp trọng tâm › 4. Các lĩnh vực về văn hóa, xã hội › e)"),
    (NQ21, "Thực hiện tốt chức năng quản lý nhà nước trong mọi lĩnh vực",
     "Điều 1 › I. Mục tiêu và các chỉ tiêu chủ yếu › 1. Mục tiêu tổng quát"),
    (NQ21, "Đa dạng hóa các loại hình thương mại dịch vụ",
     "Điều 1 › II. Nhiệm vụ và giải pháp trọng tâm › 2. Đẩy mạnh phát triển kinh tế"
     " › d) Thực hiện các giải pháp phát triển thương mại, dịch vụ"),
    (NQ21, "Giao UBND Quận triển khai thực hiện Nghị quyết", "Điều 2. Tổ chức thực hiện"),
    (NQ01, "Tổ chức các giải thi đấu cấp Quận",
     "Điều 1 › II. Các nhiệm vụ và giải pháp cụ thể › 2. Xây dựng và phát triển văn hóa, con người"
     " đáp ứng yêu cầu phát triển đất nước… › 2.1. Về văn hóa xã hội, thể dục thể thao"),
    (NQ01, "ngăn chặn và xử lý tình trạng vi phạm pháp luật đất đai",
     "Điều 1 › II. Các nhiệm vụ và giải pháp cụ thể › 3. Tăng cường công tác quy hoạch, quản lý xây dựng,"
     " phát triển đô thị › 3.2. Công tác quản lý tài nguyên và bảo vệ môi trường"
     " › a. Tăng cường công tác quản lý nhà nước về đất đai"),
    (NQ01, "Chỉ đạo sản xuất vụ Mùa và vụ Đông năm 2020",
     "Điều 1 › II. Các nhiệm vụ và giải pháp cụ thể › 1. Về phát triển kinh tế"),
    (BAO_CAO, "Toàn Quận có 66 trường",
     "I. KẾT QUẢ PHÁT TRIỂN KINH TẾ- XÃ HỘI 6 THÁNG ĐẦU NĂM › 3. Lĩnh vực văn hóa - xã hội"
     " › 3.2. Công tác giáo dục và đào tạo"),
    (BAO_CAO, "Vi phạm đất đai, trật tự xây dựng còn phát sinh",
     "II. ĐÁNH GIÁ CHUNG › 2. Tồn tại hạn chế và nguyên nhân › 2.1. Tồn tại, hạn chế"),
    (BAO_CAO, "đã cấp được 863 GPXD",
     "I. KẾT QUẢ PHÁT TRIỂN KINH TẾ- XÃ HỘI 6 THÁNG ĐẦU NĂM › 2. Thực hiện tốt công tác quản lý quy hoạch,"
     " quản lý đô thị, trật tự xây dựng… › 2.2. Công tác quản lý hoạt động xây dựng, trật tự xây dựng"),
    (TIN_TOAN_KHOA, "kết nạp 90 đảng viên mới",
     "I - Chương trình nâng cao năng lực lãnh đạo, sức chiến đấu của Đảng bộ quận"),
    (TIN_TOAN_KHOA, "xôi Phú Thượng",
     "II - Chương trình số 02 “Tăng cường công tác quản lý Nhà nước về kinh tế” › 2. Chỉ tiêu"),
    (TIN_TOAN_KHOA, "Xóa mù bơi cho học sinh tiểu học",
     "III- Chương trình 03 “Phát triển toàn diện sự nghiệp văn hóa xã hội” › 3. Triển khai thực hiện các Đề án"),
    (TIN_3_THANG, "Hội chợ OCOP", "1. Đẩy mạnh phát triển kinh tế"),
    (TIN_3_THANG, "Trường TH Chu Văn An A", "3. Phát triển văn hóa, xã hội"),
    (TIN_3_THANG, "ngõ 612 Lạc Long Quân",
     "2. Đẩy nhanh tiến độ các dự án đầu tư xây dựng cơ bản, đẩy mạnh đầu tư công…"),
]


@pytest.mark.parametrize(("doc_id", "phrase", "section"), SECTIONS)
def test_section_paths(doc_id, phrase, section):
    assert find(doc_id, phrase).section == section


def test_a_heading_goes_with_its_text():
    # "4. Các lĩnh vực …" has no text of its own: it opens the passage of a)
    first = find(NQ21, "4. Các lĩnh vực về văn hóa, xã hội.")
    assert first.text.startswith("4. Các lĩnh vực về văn hóa, xã hội.\n\na) Triển khai thực hiện Chương trình 03")
    assert first.section.endswith("› 4. Các lĩnh vực về văn hóa, xã hội › a)")
    # a short article fits whole: heading, its items and the closing lines together
    article = find(NQ21, "Điều 2. Tổ chức thực hiện")
    assert "1. Giao UBND Quận" in article.text and "thông qua ngày 18/12/2020." in article.text
    # a long heading line in a news post still heads the text below it
    assert find(TIN_3_THANG, "Điều chỉnh, rà soát cân đối nguồn vốn").text.startswith("2. Đẩy nhanh tiến độ")


def test_unrelated_sections_are_not_glued():
    for p in passages(BAO_CAO):
        top = re.findall(r"^(?:I|II|III)\. [A-ZĐ]", p.text, flags=re.M)
        assert len(top) <= 1, p.text[:120]
    assert not any("Điều 1." in p.text and "Điều 2." in p.text for p in passages(NQ21))


# --------------------------------------------------------------------------
# Long paragraphs


def test_long_paragraph_split_at_sentences_with_overlap():
    doc = load(BAO_CAO)
    paragraph_start = doc.text.index("Triển khai các phương án đảm bảo điện, nước")
    paragraph_end = doc.text.index("\n", paragraph_start)
    assert paragraph_end - paragraph_start > MAX_CHARS      # a real 2,000-char paragraph
    pieces = [p for p in passages(BAO_CAO) if p.start < paragraph_end and p.end > paragraph_start]
    assert len(pieces) == 2
    first, second = pieces
    assert first.text.startswith("3.3. Công tác đảm bảo an sinh xã hội\n\nTriển khai")   # heading goes along
    assert first.section == second.section
    for piece in pieces:
        assert piece.text == doc.text[piece.start:piece.end]
        assert piece.text[-1] == "."                                   # ends a sentence
    assert second.start < first.end                                    # overlap ...
    overlap = doc.text[second.start:first.end]
    assert first.text.endswith(overlap) and second.text.startswith(overlap)
    assert overlap.count(". ") == 0 and overlap.endswith(".")          # ... of exactly one sentence
    assert second.end == paragraph_end


def _synthetic(text: str, doc_id: str = "synthetic") -> Document:
    return Document(id=doc_id, text=normalize(text), title="")


def test_split_falls_back_to_semicolons_commas_and_words_never_mid_word():
    clauses = [f"nội dung thứ {i} được thực hiện theo kế hoạch của phường" for i in range(60)]
    text = "I. Nhiệm vụ\n\n" + "; ".join(clauses[:20]) + ", " + ", ".join(clauses[20:]) + " " + " ".join(
        ["rà soát"] * 400
    )
    doc = _synthetic(text)
    ps = chunk_document(doc, max_chars=400)
    assert len(ps) > 4
    for p in ps:
        assert len(p.text) <= 400 and p.text == doc.text[p.start:p.end]
        assert p.start == 0 or doc.text[p.start - 1].isspace()               # starts at a word
        assert p.end == len(doc.text) or not doc.text[p.end].isalnum()       # ends at a word
        assert p.section == "I. Nhiệm vụ"
    # semicolons are preferred to commas: the first piece ends at a ";" clause
    assert ps[0].text.endswith("theo kế hoạch của phường;")
    assert sum(p.text.endswith(",") for p in ps) >= 1 and ps[-1].text.endswith("rà soát")
    # consecutive pieces overlap
    assert all(b.start < a.end for a, b in itertools.pairwise(ps))


def test_other_table_layouts():
    doc = _synthetic(
        "I. Kết quả thực hiện\n\n"
        "Kết quả thu, chi ngân sách năm 2023\n"
        "STT\tNội dung\tĐơn vị\tThực hiện\n"
        "I\tThu ngân sách\t\t\n"
        "1\tThu thuế\tTỷ đồng\t120\n"
        "\t- Thuế thu nhập cá nhân\tTỷ đồng\t20\n"
        "II\tChi ngân sách\t\t\n"
        "2\tChi thường xuyên\tTỷ đồng\t90\n"
    )
    ps = chunk_document(doc)
    assert [(p.kind, p.section, p.text) for p in ps] == [
        ("table_row", "I. Kết quả thực hiện › Kết quả thu, chi ngân sách năm 2023 › Thu ngân sách",
         "Kết quả thu, chi ngân sách năm 2023 — 1. Thu thuế — Đơn vị: Tỷ đồng — Thực hiện: 120"),
        ("table_row", "I. Kết quả thực hiện › Kết quả thu, chi ngân sách năm 2023 › Thu ngân sách",
         "Kết quả thu, chi ngân sách năm 2023 — 1. Thu thuế › Thuế thu nhập cá nhân — Đơn vị: Tỷ đồng"
         " — Thực hiện: 20"),
        ("table_row", "I. Kết quả thực hiện › Kết quả thu, chi ngân sách năm 2023 › Chi ngân sách",
         "Kết quả thu, chi ngân sách năm 2023 — 2. Chi thường xuyên — Đơn vị: Tỷ đồng — Thực hiện: 90"),
    ]


# --------------------------------------------------------------------------
# Offsets


@pytest.mark.parametrize("doc_id", ALL_DOCS)
def test_text_passages_are_exact_spans(doc_id):
    doc = load(doc_id)
    for p in passages(doc_id):
        if p.kind == "text":
            assert doc.text[p.start:p.end] == p.text


def test_dropped_lines_inside_a_passage_become_a_line_break():
    doc = _synthetic(
        "Điều 1. Phạm vi điều chỉnh\n"
        "Nghị định này quy định về việc chào bán trái phiếu doanh\n"
        "Ký bởi: Cổng Thông tin điện tử Chính phủ\n"
        "Email: thongtinchinhphu@chinhphu.vn\n"
        "Thời gian ký: 28.12.2020 10:41:05 +07:00\n"
        "nghiệp riêng lẻ trên phạm vi lãnh thổ nước Cộng hòa xã hội chủ nghĩa Việt Nam.\n"
    )
    (p,) = chunk_document(doc)
    span = doc.text[p.start:p.end]
    assert "Ký bởi" in span and "Ký bởi" not in p.text and "Email" not in p.text
    assert p.text == (
        "Điều 1. Phạm vi điều chỉnh\nNghị định này quy định về việc chào bán trái phiếu doanh\n"
        "nghiệp riêng lẻ trên phạm vi lãnh thổ nước Cộng hòa xã hội chủ nghĩa Việt Nam."
    )
    pos = 0
    for line in p.text.split("\n"):            # every line is an exact piece of the span, in order
        pos = span.index(line, pos) + len(line)
    assert p.section == "Điều 1. Phạm vi điều chỉnh"


# --------------------------------------------------------------------------
# Unseen documents


def test_law_structure():
    doc = _synthetic(
        "QUỐC HỘI\n\nLuật số: 77/2015/QH13\nHà Nội, ngày 19 tháng 06 năm 2015\nLUẬT\n"
        "TỔ CHỨC CHÍNH QUYỀN ĐỊA PHƯƠNG\n"
        "Căn cứ Hiến pháp nước Cộng hòa xã hội chủ nghĩa Việt Nam;\n"
        "Quốc hội ban hành Luật tổ chức chính quyền địa phương.\n"
        "Chương I\nNHỮNG QUY ĐỊNH CHUNG\n"
        "Điều 1. Phạm vi điều chỉnh\n"
        "Luật này quy định về đơn vị hành chính và tổ chức, hoạt động của chính quyền địa phương.\n"
        "Điều 2. Đơn vị hành chính\nCác đơn vị hành chính gồm có:\n"
        "1. Tỉnh, thành phố trực thuộc trung ương (sau đây gọi chung là cấp tỉnh);\n"
        "2. Xã, phường, thị trấn (sau đây gọi chung là cấp xã).\n"
        "Chương II\nCHÍNH QUYỀN ĐỊA PHƯƠNG Ở NÔNG THÔN\n"
        "Mục 1. CHÍNH QUYỀN ĐỊA PHƯƠNG Ở TỈNH\n"
        "Điều 16. Chính quyền địa phương ở tỉnh\n"
        "Chính quyền địa phương ở tỉnh gồm có Hội đồng nhân dân tỉnh và Ủy ban nhân dân tỉnh.\n"
        "CHỦ TỊCH QUỐC HỘI\nNguyễn Sinh Hùng\n"
    )
    ps = chunk_document(doc, max_chars=200)
    sections = {p.section for p in ps}
    assert ps[0].section == "" and ps[0].text.startswith("Căn cứ Hiến pháp")
    assert "Chương I. NHỮNG QUY ĐỊNH CHUNG › Điều 1. Phạm vi điều chỉnh" in sections
    assert "Chương I. NHỮNG QUY ĐỊNH CHUNG › Điều 2. Đơn vị hành chính" in sections
    assert ("Chương II. CHÍNH QUYỀN ĐỊA PHƯƠNG Ở NÔNG THÔN › Mục 1. CHÍNH QUYỀN ĐỊA PHƯƠNG Ở TỈNH"
            " › Điều 16. Chính quyền địa phương ở tỉnh") in sections
    everything = "\n".join(p.text for p in ps)
    assert "Nguyễn Sinh Hùng" not in everything and "Luật số" not in everything
    assert all(len(p.text) <= 200 for p in ps)


def test_empty_and_tiny_documents():
    assert chunk_document(_synthetic("")) == []
    assert chunk_document(_synthetic("\n \n")) == []
    (p,) = chunk_document(_synthetic("Một đoạn văn ngắn."))
    assert (p.text, p.section, p.start, p.end) == ("Một đoạn văn ngắn.", "", 0, 18)


@pytest.mark.skipif(not SHARED_CORPUS.exists(), reason="shared corpus not available")
def test_sample_of_the_shared_collection():
    with gzip.open(SHARED_CORPUS, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in itertools.islice(f, 0, 1114, 37)]
    for record in records:
        doc = Document(id=record["id"], text=normalize(record["text"]), title=record["title"])
        ps = chunk_document(doc)
        assert all(len(p.text) <= MAX_CHARS for p in ps), doc.id
        assert [p.ordinal for p in ps] == list(range(len(ps)))
        for p in ps:
            assert 0 <= p.start < p.end <= len(doc.text)
            if p.kind == "text" and "\n" not in p.text:
                assert doc.text[p.start:p.end] == p.text


# --------------------------------------------------------------------------
# Headings marked beside the text (Markdown, Word: Document.headings)


def _marked(blocks: list[tuple[str, int | None]], joiner: str = "\n\n") -> Document:
    """A document of (text, heading level or None) blocks, the headings beside its text."""
    text, headings = "", []
    for body, level in blocks:
        text += joiner if text else ""
        if level is not None:
            headings.append(Heading(len(text), len(text) + len(body), level))
        text += body
    return Document(id="marked", text=text, headings=headings)


def test_marked_headings_nest_by_level_above_numbered_ones():
    doc = _marked([
        ("Tổng quan", 1),
        ("Năm 2021, quận tập trung thực hiện các nhiệm vụ phát triển kinh tế - xã hội trong bối cảnh dịch bệnh.", None),
        ("Kết quả", 2),
        ("1. Về kinh tế: thu ngân sách trên địa bàn quận đạt kết quả tốt, vượt dự toán được giao.", None),
        ("Các khoản thu lớn đều tăng so với cùng kỳ năm trước.", None),
        ("Bảng số liệu", 3),
        ("TT\tChỉ tiêu\tKết quả\n1\tThu ngân sách\t2.979\n2\tChi ngân sách\t1.200", None),
        ("Phương hướng", 2),
        ("tiếp tục đẩy mạnh cải cách hành chính, thu hút đầu tư và phát triển dịch vụ thương mại trên địa bàn.", None),
    ])
    ps = chunk_document(doc, max_chars=150)
    assert [(p.kind, p.section) for p in ps] == [
        ("text", "Tổng quan"),
        ("text", "Tổng quan › Kết quả › 1. Về kinh tế"),
        # the table belongs to its heading, not to the numbered paragraph above it
        ("table_row", "Tổng quan › Kết quả › Bảng số liệu"),
        ("table_row", "Tổng quan › Kết quả › Bảng số liệu"),
        ("text", "Tổng quan › Phương hướng"),
    ]
    assert ps[2].text == "Bảng số liệu — 1. Thu ngân sách — Kết quả: 2.979"
    assert ps[4].text.startswith("Phương hướng\n\ntiếp tục")


def test_a_marked_heading_is_not_joined_with_the_line_below():
    """Unmarked, a lower-case line continues the line above (a wrapped sentence)."""
    blocks = [("Phương hướng", 2), ("tiếp tục đẩy mạnh cải cách hành chính trên địa bàn.", None)]
    (marked,) = chunk_document(_marked(blocks, joiner="\n"))
    assert marked.section == "Phương hướng"
    (plain,) = chunk_document(Document(id="plain", text="Phương hướng\ntiếp tục đẩy mạnh cải cách hành chính trên địa bàn."))
    assert plain.section == ""


def test_a_bold_marked_line_reads_as_a_bold_txt_line():
    rows = "TT\tLĩnh vực\tKết quả\n1\tThuế\t1.200\n2\tPhí, lệ phí\t80"
    lead = "I. KẾT QUẢ\n\n1. Thu ngân sách trên địa bàn quận đạt kết quả tốt, vượt dự toán được giao.\n\n"
    txt = chunk_document(Document(id="txt", text=f"{lead}**Thu theo lĩnh vực**\n\n{rows}"))
    start = len(lead)
    marked = chunk_document(Document(
        id="md", text=f"{lead}Thu theo lĩnh vực\n\n{rows}", headings=[Heading(start, start + 17, 0)]
    ))
    assert [(p.kind, p.section, p.text) for p in marked] == [(p.kind, p.section, p.text) for p in txt]
    assert marked[-1].section.endswith(" › Thu theo lĩnh vực")
