"""The development archive's constructed documents, on the real corpus."""

from __future__ import annotations

import re

import pytest

from qa.archive import SHARED_CORPUS, VARIANT_MARK, distractors, variants, year_variant
from qa.chunking import chunk_document
from qa.documents import iter_documents
from tests.conftest import CORPUS

DOCS = {d.id: d for d in iter_documents(CORPUS)}
NQ21 = DOCS["bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"]


def test_next_years_plan_moves_every_year_and_changes_the_figures():
    v = year_variant(NQ21, 1)
    assert v.document.id == "bac-tu-liem-nq-21-2021-ke-hoach-nam-2022" + VARIANT_MARK
    assert (v.document.period, v.document.district, v.document.type) == ("2022", "Bắc Từ Liêm", "nghị quyết")
    assert "năm 2022 của quận Bắc Từ Liêm" in v.document.title
    assert "91,5" not in v.document.text and "3.178,4" not in v.document.text
    assert v.translate("91,5") and v.translate("91,5")[0] != "91,5"
    assert v.translate("Tỷ lệ bao phủ bảo hiểm y tế") == ["Tỷ lệ bao phủ bảo hiểm y tế"]
    # structure kept: names of programmes, list markers and counts of indicators stay
    assert "Chương trình 02 của Quận ủy" in v.document.text
    assert "26 chỉ tiêu chủ yếu" in v.document.text


def test_a_version_keeps_the_structure_and_indicators():
    for original in DOCS.values():
        for v in variants([original]):
            before, after = chunk_document(original), chunk_document(v.document)
            assert len(before) == len(after), v.document.id
            assert [p.kind for p in before] == [p.kind for p in after]
            strip = lambda s: re.sub(r"\d", "", s)  # noqa: E731
            assert [strip(p.section) for p in before] == [strip(p.section) for p in after]


def test_translated_answers_are_in_the_version_at_the_same_place():
    v = year_variant(DOCS["bac-tu-liem-bao-cao-6-thang-dau-nam-2024"], -1)
    for answer in ("2.979 tỷ đồng", "863 GPXD", "thu ngân sách"):
        translated = v.translate(answer)
        assert translated, answer
        assert all(t in v.document.text for t in translated)
    assert v.document.period == "6 tháng đầu năm 2023"


def test_versions_are_reproducible_and_term_documents_move_by_a_term():
    programme = DOCS["tay-ho-tin-chuong-trinh-toan-khoa-2020-2025"]
    periods = sorted(v.document.period for v in variants([programme]))
    assert periods == ["2015-2020", "2025-2030"]
    assert year_variant(NQ21, 2).document.text == year_variant(NQ21, 2).document.text


@pytest.mark.skipif(not SHARED_CORPUS.is_file(), reason="the shared corpus is not beside the project")
def test_distractors_are_the_real_local_government_documents_and_national_ones():
    docs = distractors()
    assert len(docs) >= 300
    local = [d for d in docs if re.search(r"(hội đồng|ủy ban|uỷ ban) nhân dân|hđnd|ubnd", d.issuer, re.I)]
    assert len(local) >= 250
    assert len({d.id for d in docs}) == len(docs)


def test_a_question_that_names_no_year_is_answered_by_every_version(settings, embedder, tmp_path):
    """In the archive, the other years' versions of a document are relevant to a
    question that names no period (at the same place, with their own figures), and
    not to one that does."""
    from qa.archive import Archive
    from qa.evaluation import EvalQuery, accept_versions, passage_qrels
    from qa.store import Index, build_index

    archive = Archive([NQ21], variants([NQ21]), [])
    s = settings.model_copy(update={"index": tmp_path / "archive"})
    build_index(archive.documents(), s, embedder=embedder, progress=False)
    index = Index.open(s, embedder)
    loose = EvalQuery("a", "tỷ lệ bao phủ bảo hiểm y tế", doc_id=NQ21.id, answers=["91,5"], pinned=False)
    pinned = EvalQuery("b", "tỷ lệ bao phủ bảo hiểm y tế năm 2021", doc_id=NQ21.id, answers=["91,5"])
    accept_versions([loose, pinned], archive)
    assert len(loose.accepted) == 4 and set(pinned.accepted) == {NQ21.id}
    qrels = passage_qrels(index, [loose, pinned])
    docs_of = lambda ids: {index.passages([int(i)])[int(i)].doc_id for i in ids}  # noqa: E731
    assert docs_of(qrels["a"]) == {NQ21.id, *(v.document.id for v in archive.variants)}
    assert docs_of(qrels["b"]) == {NQ21.id}
