"""The lexical benchmark's 1M-passage part at a tiny size: its structure, and that both
engines answer (no timing assertions)."""

import pytest

from qa.archive import SHARED_CORPUS
from qa.bench_lexical import agreement, at_synthetic, corpus_sentences, interleaved, synthetic_passages
from qa.lexical import LexicalQuery, pair_tokens

pytestmark = pytest.mark.skipif(not SHARED_CORPUS.exists(), reason="the shared corpus is not here")


def _query(folded: str) -> LexicalQuery:
    syllables = folded.split()
    return LexicalQuery(folded=tuple(syllables + [" ".join(p) for p in zip(syllables, syllables[1:])]),
                        context=tuple(syllables))


def test_synthetic_part_at_tiny_size(tmp_path):
    sentences, titles = corpus_sentences(documents=15)
    assert sentences and titles
    lengths, per_doc = [150, 400, 700, 1200], [5, 40, 120]
    passages = list(synthetic_passages(50, sentences, titles, lengths, per_doc))
    assert len(passages) == 50 and all(text and "\t" not in text and "\n" not in text for text, _ in passages)
    assert passages == list(synthetic_passages(50, sentences, titles, lengths, per_doc))  # seeded
    queries = [_query(q) for q in ("ngan sach nha nuoc", "bao hiem xa hoi", "ke hoach dau tu cong",
                                   "thong tu huong dan", "uy ban nhan dan tinh")]
    result = at_synthetic(2000, queries, (1.0, 1.0, 0.3), sentences, titles, lengths, per_doc,
                          fts5_queries=5, rounds=1, folder=tmp_path, sources=["a", "a", "b", "b", "b"])
    assert result["passages"] == 2000
    for engine in ("tantivy_build", "fts5_build"):
        assert result[engine]["seconds"] >= 0 and result[engine]["size_mb"] > 0
    assert result["tantivy"]["queries"] == 5 and result["tantivy"]["empty"] == 0
    assert result["sample"]["queries"] >= 2 and result["sample"]["fts5"]["empty"] == 0
    for key in ("agreement", "agreement_at_100"):
        overlap = next(v for k, v in result[key].items() if k.startswith("overlap"))
        assert 0.0 <= overlap <= 1.0 and 0.0 <= result[key]["same_top1"] <= 1.0
    for name in ("tantivy_counted_phrases", "tantivy_no_pairs"):
        assert result[name]["queries"] == 5
        for other in ("with_fts5", "with_tantivy"):
            assert 0.0 <= result["variants"][name][other]["overlap_at_10"] <= 1.0
    assert result["tantivy_counted_phrases"]["empty"] == 0
    update = result["update"]
    assert update["tantivy_passages_after"] == update["fts5_passages_after"] == 2000
    assert update["tantivy_generation_after"] == 3
    assert list(tmp_path.iterdir()) == []  # the temporary folder is gone


def test_interleaved_and_agreement():
    times, results = interleaved({"a": ([0, 1], lambda i: [(i, 1.0)]), "b": ([1], lambda i: [(9, 1.0)])}, rounds=2)
    assert set(times["a"]) == {0, 1} and set(times["b"]) == {1}
    calls = []
    interleaved({"a": ([0, 1], lambda i: calls.append(("a", i))), "slow": ([0, 1, 2], lambda i: calls.append(("s", i)))},
                rounds=3, warm_limit={"slow": 1}, timed_rounds={"slow": 1})
    assert calls.count(("a", 0)) == 4  # the untimed round and 3 timed
    assert sum(name == "s" for name, _ in calls) == 1 + 3  # 1 untimed, then only the first timed round
    assert agreement({0: [(1, 1.0), (2, 0.5)]}, {0: [(2, 1.0), (1, 0.5)]}) == {
        "overlap_at_10": 1.0, "same_top1": 0.0, "queries": 1}
    assert agreement({0: []}, {0: []})["queries"] == 0


def test_pair_tokens():
    assert pair_tokens("Ke hoach, nam 2021") == "ke_hoach hoach_nam nam_2021"
    assert pair_tokens("mot") == ""
