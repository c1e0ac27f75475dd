"""Document numbers, relations between documents, their links and validity, on real documents.

The five district documents (corpus/) and the shared collection of 1,114 official
documents (../shared/corpora/vn-official-1114.jsonl.gz, read in place)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from qa.docnumbers import (
    NumberIndex, document_number, documents_named, find_numbers, matches, parse_number, query_numbers,
)
from qa.documents import Document, load_document
from qa.relations import (
    delete_relations, ensure_schema, extract_relations, link, load_graph, own_clauses, read_relations, validity,
    write_relations,
)
from qa.relations_eval import (
    SHARED_CORPUS, evaluate_lookup, evaluate_relations, load_documents, read_gold, read_queries,
)
from qa.text import fold

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
NQ21 = CORPUS / "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021.txt"
needs_shared = pytest.mark.skipif(not SHARED_CORPUS.is_file(), reason="shared corpus not beside the project")


@pytest.fixture(scope="module")
def nq21() -> Document:
    return load_document(NQ21)


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    return load_documents()


@pytest.fixture(scope="module")
def by_number(documents):
    """Documents by their own number as the collection records it (not by id)."""
    table: dict[str, list[Document]] = {}
    for d in documents:
        number = document_number(d.number, d.type) if d.number else None
        if number and d.type != "văn bản hợp nhất":
            table.setdefault(number.key, []).append(d)
    return table


def _one(by_number, number: str, kind: str = "") -> Document:
    """The one document of that number (and kind: the collection's metadata holds a few wrong numbers)."""
    found = [d for d in by_number[parse_number(number).key] if not kind or d.type == kind]
    assert len(found) == 1, [d.id for d in found]
    return found[0]


# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize("written", [
    "21/NQ-HĐND", "21/NQ-HDND", "21 / NQ - HĐND", "nq 21", "NQ số 21", "Nghị quyết số 21", "nghi quyet so 21",
    "nghi quyet 21 nq hdnd bac tu liem", "nghị quyết 21/2020", "Số: 21/NQ-HĐND",
])
def test_spellings_of_resolution_21_name_it(nq21, written):
    own = document_number(nq21.number, nq21.type)
    mentions = query_numbers(written)
    assert mentions, written
    assert matches(mentions[0].number, own, int(nq21.date[:4]))


@pytest.mark.parametrize("written", ["nd 21", "21/NQ-CP", "nghị quyết 21/2019", "nq 12", "QĐ số 21"])
def test_other_numbers_do_not_name_resolution_21(nq21, written):
    own = document_number(nq21.number, nq21.type)
    assert not any(matches(m.number, own, int(nq21.date[:4])) for m in query_numbers(written))


@pytest.mark.parametrize("a, b", [
    ("15/2020/NĐ-CP", "15/2020/nd-cp"), ("15/2020/NĐ-CP", "nghị định số 15/2020/NĐ-CP"),
    ("47/2019/QH14", "Luật số 47/2019/QH14"), ("21/2021/TT-BLĐTBXH", "21/2021/TT-\nBLĐTBXH"),
    ("1/NQ-HĐND", "01 /NQ-HĐND"),
])
def test_complete_spellings_share_one_key(a, b):
    assert query_numbers(a)[0].number.key == query_numbers(b)[0].number.key


@pytest.mark.parametrize("partial, complete", [
    ("NĐ 15/2020", "15/2020/NĐ-CP"), ("nd 15", "15/2020/NĐ-CP"), ("QĐ số 1955", "1955/QĐ-TTg"),
    ("luật 47/2019", "47/2019/QH14"), ("nq 21", "21/NQ-HĐND"),
])
def test_partial_forms_match_complete_numbers(partial, complete):
    assert matches(query_numbers(partial)[0].number, parse_number(complete))


def test_a_bare_year_is_not_a_number():
    assert query_numbers("kế hoạch 2021") == []
    assert query_numbers("ke hoach so 2021")  # "số" says it is one


def test_a_question_naming_a_resolution_by_number():
    index = NumberIndex.build(load_document(p) for p in sorted(CORPUS.glob("*.txt")))
    ids, spans = documents_named("chỉ tiêu BHYT nghị quyết 21/2020", index)
    assert ids == [NQ21.stem] and spans == [(14, 32)]
    assert documents_named("chi tieu bhyt nam 2021", index) == ([], [])
    assert documents_named("nq 01 bac tu liem", index)[0] == ["bac-tu-liem-nq-01-2020-6-thang-cuoi-nam-2020"]


def test_numbers_in_the_resolution_text_with_offsets(nq21):
    mentions = find_numbers(nq21.text)
    keys = [m.number.key for m in mentions]
    assert "21/NQ-HDND" in keys and "47/2019/QH14" in keys
    law = next(m for m in mentions if m.number.key == "47/2019/QH14")
    assert law.number.kind == "luật" and nq21.text[law.start : law.end] == law.text == "Luật số 47/2019/QH14"
    # dates and fractions are not numbers
    assert not any("/" in m.text and not any(c.isalpha() for c in m.text) for m in mentions)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_parses_without_error_and_offsets_stay_inside(text):
    for finder in (find_numbers, query_numbers):
        for m in finder(text):
            assert 0 <= m.start < m.end <= len(text)
            assert text[m.start : m.end] == m.text
    parse_number(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789/-. :;\n,NQĐCPHTTgVBsốngàyLuậtđịnhquyếtbãibỏthaythếsửađổi"))))
def test_number_like_text_parses_and_relations_never_raise(text):
    for m in find_numbers(text) + query_numbers(text):
        assert text[m.start : m.end] == m.text
    doc = Document(id="x", text=text, type="nghị quyết", number="21/NQ-HĐND")
    for r in extract_relations(doc):
        assert 0 <= r.start <= r.end <= len(text)


# ---------------------------------------------------------------- relations


def test_legal_bases_of_resolution_21(nq21):
    relations = extract_relations(nq21)
    bases = [r for r in relations if r.kind == "based_on"]
    law = next(r for r in bases if r.cited_number is None)
    assert fold(law.cited_title) == "luat to chuc chinh quyen dia phuong"
    assert (law.cited_date, law.cited_date_text) == ("2015-06-19", "ngày 19/6/2015")
    numbered = next(r for r in bases if r.cited_number)
    assert numbered.cited_number.key == "47/2019/QH14" and numbered.cited_date == "2019-11-22"
    assert numbered.cited_kind == "luật" and numbered.cited_issuer == "Quốc hội"
    for r in bases:  # the evidence is where the citation is written
        assert "Căn cứ" in nq21.text[max(0, r.start - 12) : r.start]
    # "Luật số 47/2019/QH14 ... sửa đổi, bổ sung ..." describes the law, not this resolution
    assert [r.kind for r in relations] == ["based_on", "based_on"]


@needs_shared
def test_law_cited_by_name_and_date_links_to_the_law(nq21, documents):
    links = link({nq21.id: extract_relations(nq21)}, documents)
    by_id = {d.id: d for d in documents}
    law = next(l for l in links if l.relation.cited_number is None)
    target = by_id[law.target]
    assert target.type == "luật" and fold(target.title) == "luat to chuc chinh quyen dia phuong"
    assert target.date == "2015-06-19" and law.method == "title+date"


@needs_shared
def test_an_amending_circular_links_both_ways_and_marks_the_amended_one(documents, by_number):
    """Thông tư 09/2026/TT-BNV amends Thông tư 21/2021/TT-BLĐTBXH; both are in the collection."""
    amending = _one(by_number, "09/2026/TT-BNV")
    amended = _one(by_number, "21/2021/TT-BLĐTBXH")
    relations = {amending.id: extract_relations(amending), amended.id: extract_relations(amended)}
    links = link(relations, documents)
    forward = [l for l in links if l.source == amending.id and l.target == amended.id]
    assert "amends" in {l.relation.kind for l in forward}
    incoming = [l for l in links if l.target == amended.id]
    assert {l.source for l in incoming} == {amending.id}
    status = validity(amended, relations[amended.id], incoming, {d.id: d for d in documents})
    assert status.status == "partly_amended"
    assert amending.id in {e.doc_id for e in status.evidence if e.kind == "amends"}
    own = validity(amending, relations[amending.id], [], today="2026-12-31")
    assert own.status == "in_force" and own.effective_date


@needs_shared
def test_a_replacing_law_marks_the_old_law_replaced(documents, by_number):
    """Luật Doanh nghiệp 59/2020/QH14 ends Luật Doanh nghiệp 68/2014/QH13 ("... hết hiệu lực")."""
    new = _one(by_number, "59/2020/QH14", "luật")
    old = _one(by_number, "68/2014/QH13", "luật")
    relations = {new.id: extract_relations(new)}
    links = link(relations, documents)
    incoming = [l for l in links if l.target == old.id]
    assert [(l.source, l.relation.kind, l.relation.partial) for l in incoming] == [(new.id, "replaces", False)]
    evidence = incoming[0].relation
    assert "68/2014/QH13" in new.text[evidence.start : evidence.end]
    status = validity(old, extract_relations(old), incoming, {d.id: d for d in documents})
    assert status.status == "replaced" and status.end_date == new.date


@needs_shared
def test_own_clause_effective_from_signing(by_number):
    doc = next(d for d in by_number[parse_number("1490/QĐ-UBND").key] if "kể từ ngày ký" in d.text)
    clauses = own_clauses(doc)
    assert clauses and clauses[0].kind == "effective"
    assert validity(doc, [], [], today="2026-12-31").effective_date == doc.date


# ---------------------------------------------------------------- persisting


@needs_shared
def test_relations_round_trip_through_sqlite(nq21, documents, by_number):
    docs = [nq21, _one(by_number, "09/2026/TT-BNV")]
    con = sqlite3.connect(":memory:")
    ensure_schema(con)
    extracted = {d.id: extract_relations(d) for d in docs}
    for d in docs:
        write_relations(con, d.id, extracted[d.id])
    assert read_relations(con) == extracted
    graph = load_graph(con, documents)
    assert graph.links == link(extracted, documents)
    delete_relations(con, docs[1].id)
    assert set(read_relations(con)) == {nq21.id}
    write_relations(con, nq21.id, extracted[nq21.id])  # writing again replaces, never duplicates
    assert read_relations(con)[nq21.id] == extracted[nq21.id]
    con.rollback()  # all of it inside the caller's transaction: nothing was committed behind its back
    assert read_relations(con) == {}


def test_load_graph_reads_the_store_documents_table(nq21):
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE documents (id TEXT PRIMARY KEY, title TEXT, type TEXT, number TEXT, issuer TEXT, date TEXT)")
    con.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?)",
                (nq21.id, nq21.title, nq21.type, nq21.number, nq21.issuer, nq21.date))
    write_relations(con, nq21.id, extract_relations(nq21))
    graph = load_graph(con)
    assert len(graph.relations[nq21.id]) == 2 and graph.links == []  # the laws it cites are not in this store


# ---------------------------------------------------------------- evaluation


@needs_shared
def test_extraction_and_linking_meet_their_targets_on_the_labelled_set(documents):
    gold = read_gold()
    assert len(gold) >= 80
    for split in ("dev", "heldout", "heldout2"):
        report = evaluate_relations([g for g in gold if g.split == split], documents)
        assert report.extraction.precision >= 0.90, (split, report.spurious)
        assert report.extraction.recall >= 0.80, (split, report.missed)
        assert report.linking.precision >= 0.90, (split, report.wrong_links)


@needs_shared
def test_number_lookup_hit_at_1(documents):
    queries = read_queries()
    assert len(queries) >= 40
    hit, failures = evaluate_lookup(queries, documents)
    assert hit >= 0.98, failures
