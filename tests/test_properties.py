"""Arbitrary Unicode through the text normaliser, the query parser, the period parser
and the chunker (hypothesis): no exception but the documented QueryError, and every
offset stays inside the text it points into.

The searcher's lexicon is the real one of the corpus index, so query understanding
runs with the corpus's words, abbreviations, districts and document numbers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from qa.chunking import chunk_document
from qa.documents import Document
from qa.periods import find_periods
from qa.query import QueryError, understand
from qa.text import fold, normalize

# Vietnamese letters and document punctuation mixed with anything Unicode has.
VIETNAMESE = "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ"
pieces = st.one_of(
    st.text(alphabet=VIETNAMESE + VIETNAMESE.upper() + " 0123456789.,;:%/-–—()\n\t*#|", max_size=80),
    st.text(max_size=40),  # any code point, combining marks and surrogates' neighbours included
    st.sampled_from(["BHYT", "21/NQ-HĐND", "6 tháng đầu năm 2024", "năm 2021", "2020-2025", "quý III",
                     "I. MỤC TIÊU", "1. Chỉ tiêu", "\tTT\tChỉ tiêu\tĐơn vị\tKH năm 2021", "\t19\tTỷ lệ\t%\t91,5",
                     "Căn cứ Luật", "**đậm**", "## Tiêu đề", "- mục", "| a | b |", "\u0301", "\ufeff", "\u200b"]),
)
texts = st.lists(pieces, max_size=12).map("".join)
SETTINGS = hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(texts)
def test_normalize_and_fold_never_fail_and_are_stable(text):
    once = normalize(text)
    assert normalize(once) == once
    assert isinstance(fold(once), str)


@SETTINGS
@given(texts)
def test_periods_point_inside_the_text(text):
    folded = fold(normalize(text))
    for period in find_periods(folded):
        assert 0 <= period.start <= period.end <= len(folded)


@pytest.fixture(scope="module")
def lexicon(searcher):
    return searcher.lexicon


@SETTINGS
@given(text=texts)
def test_query_understanding_never_fails_but_with_a_plain_query_error(lexicon, text):
    try:
        q = understand(text, lexicon)
    except QueryError as exc:
        assert str(exc) and getattr(exc, "code", "bad_query")
        return
    assert isinstance(q.folded, str)
    for period in q.periods:
        assert 0 <= period.start <= period.end <= len(q.folded)


@SETTINGS
@given(texts, st.integers(min_value=100, max_value=1500))
def test_chunks_stay_inside_the_document_and_under_the_limit(text, max_chars):
    text = normalize(text)
    doc = Document(id="x", title="", text=text)
    for p in chunk_document(doc, max_chars=max_chars):
        assert 0 <= p.start <= p.end <= len(text)
        assert len(p.text) <= max_chars
        assert p.kind in ("text", "table_row")
