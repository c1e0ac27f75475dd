"""The tantivy lexical index against FTS5 on the real corpus: the same passages match,
the rankings agree, changes keep it in step, and whenever it is not of the generation a
search reads (deleted, behind after a crash, another process between its two commits)
searches use FTS5 and the index is rebuilt on open."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np

from qa.config import PROJECT_ROOT
from qa.lexical import FOLDER, LexicalIndex, LexicalQuery
from qa.query import understand
from qa.store import Index, build_index
from qa.text import fold
from tests.conftest import CORPUS
from tests.test_store import BHYT, REPORT_2024, TAY_HO, small_settings

QUERIES = [
    "chỉ tiêu BHYT năm 2021",
    "thu ngan sach 6 thang dau nam 2024",
    "tỷ lệ trường đạt chuẩn quốc gia",
    "giải phóng mặt bằng các dự án trọng điểm",
    "cấp giấy phép xây dựng",
    "nhiệm vụ 3 tháng cuối năm 2020 của quận Tây Hồ",
]
WEIGHTS = (1.0, 1.0, 0.3)


def both(index: Index, query: LexicalQuery, k: int = 100) -> tuple[list[int], list[int]]:
    tantivy = [pid for pid, _ in index.lexical(query, k, WEIGHTS)]
    fts5 = [pid for pid, _ in index.fts5(query.fts5(), k, WEIGHTS)]
    return tantivy, fts5


def test_tantivy_ranks_as_fts5_does_on_the_corpus(searcher):
    index = searcher.index
    assert index.lexical_engine() == "tantivy"
    overlaps, same_top = [], []
    for text in QUERIES:
        query = searcher.lexical_query(understand(text, searcher.lexicon))
        tantivy, fts5 = both(index, query, k=10_000)
        # the same passages match (every term of either engine is in the other's query) …
        assert set(tantivy) <= set(fts5), text
        # … and the best ten mostly agree (BM25 scored alike: qa.lexical._term)
        overlaps.append(len(set(tantivy[:10]) & set(fts5[:10])) / 10)
        same_top.append(tantivy[0] == fts5[0])
    assert np.mean(overlaps) >= 0.8, overlaps
    assert np.mean(same_top) >= 0.8, same_top


def test_filters_and_phrases(searcher):
    index = searcher.index
    allowed = index.passage_ids([BHYT])
    hits = index.lexical(LexicalQuery(folded=("bao hiem y te", "bhyt")), 50, WEIGHTS, allowed)
    assert hits and {pid for pid, _ in hits} <= set(allowed.tolist())
    assert index.lexical(LexicalQuery(folded=("bhyt",)), 50, WEIGHTS, np.zeros(0, np.int64)) == []
    assert index.lexical(LexicalQuery(folded=("?!",)), 50, WEIGHTS) == []
    # a phrase matches only where its syllables are adjacent, as in FTS5
    phrase = LexicalQuery(folded=("y te bao hiem",))
    assert set(both(index, phrase)[0]) == set(both(index, phrase)[1])


def test_changes_keep_tantivy_in_step(tmp_path, settings, embedder):
    s = small_settings(tmp_path, settings, [BHYT, TAY_HO])
    build_index(s.corpus, s, embedder=embedder, progress=False)
    index = Index.open(s, embedder)
    try:
        word = LexicalQuery(folded=("tay ho",))
        before = both(index, word)
        assert before[0] and set(before[0]) == set(before[1])
        extra = tmp_path / "extra"
        extra.mkdir()
        shutil.copy(CORPUS / f"{REPORT_2024}.txt", extra)
        index.add(extra)
        assert index.lexical_engine() == "tantivy"
        report = LexicalQuery(folded=("6 thang dau nam 2024",))
        tantivy, fts5 = both(index, report)
        assert tantivy and set(tantivy) == set(fts5)
        index.remove(TAY_HO)
        assert index.lexical_engine() == "tantivy"
        tantivy, fts5 = both(index, word)
        assert set(tantivy) == set(fts5) and len(tantivy) < len(before[0])
    finally:
        index.close()


def test_a_missing_or_stale_tantivy_index_falls_back_to_fts5_then_is_rebuilt(tmp_path, settings, embedder):
    s = small_settings(tmp_path, settings, [BHYT, TAY_HO])
    build_index(s.corpus, s, embedder=embedder, progress=False)
    folder = (s.index / "current").resolve()
    query = LexicalQuery(folded=("bhyt", "bao hiem y te"))

    shutil.rmtree(folder / FOLDER)  # a build made before tantivy, or its files lost
    index = Index(folder, s, embedder)  # opened without Index.open's repair
    assert index.lexical_engine() == "fts5"
    expected = [pid for pid, _ in index.lexical(query, 20, WEIGHTS)]
    assert expected == [pid for pid, _ in index.fts5(query.fts5(), 20, WEIGHTS)]
    index.repair_lexicon()
    assert index.lexical_engine() == "tantivy"
    assert set(pid for pid, _ in index.lexical(query, 1000, WEIGHTS)) == set(
        pid for pid, _ in index.fts5(query.fts5(), 1000, WEIGHTS))
    index.close()

    # tantivy a generation ahead (killed between its commit and SQLite's): not used, and
    # Index.open rebuilds it
    LexicalIndex(folder).write(7, remove=[1, 2, 3])
    stale = Index(folder, s, embedder)
    assert stale.lexical_engine() == "fts5"
    stale.close()
    index = Index.open(s, embedder)
    assert index.lexical_engine() == "tantivy"
    first = LexicalQuery(folded=tuple(fold(index.passages([1])[1].text).split()[:8]))
    assert 1 in {pid for pid, _ in index.lexical(first, 10_000, WEIGHTS)}  # removed by the stale commit, back
    index.close()


def test_another_process_s_change_is_searched_with_tantivy(tmp_path, settings, embedder):
    s = small_settings(tmp_path, settings, [BHYT, TAY_HO])
    build_index(s.corpus, s, embedder=embedder, progress=False)
    index = Index.open(s, embedder)
    try:
        assert index.lexical_engine() == "tantivy"
        extra = tmp_path / "extra"
        extra.mkdir()
        shutil.copy(CORPUS / f"{REPORT_2024}.txt", extra)
        code = (f"from pathlib import Path; from qa.config import Settings; from qa.store import Index; "
                f"i = Index.open(Settings(index=Path({str(s.index)!r}))); i.add(Path({str(extra)!r})); i.close()")
        env = {**os.environ, "QA_MODEL_CACHE": str(settings.model_cache)}
        run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             env=env, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        with index.reading():  # the new generation, with its tantivy snapshot
            assert REPORT_2024 in index.documents()
            assert index.lexical_engine() == "tantivy"
            tantivy, fts5 = both(index, LexicalQuery(folded=("6 thang dau nam 2024",)))
            assert tantivy and set(tantivy) == set(fts5)
    finally:
        index.close()


def test_the_fts5_setting_searches_fts5_only(tmp_path, settings, embedder):
    s = small_settings(tmp_path, settings, [TAY_HO]).model_copy(update={"lexical_engine": "fts5"})
    build_index(s.corpus, s, embedder=embedder, progress=False)
    assert not ((s.index / "current").resolve() / FOLDER).exists()
    index = Index.open(s, embedder)
    assert index.lexical_engine() == "fts5"
    assert index.lexical(LexicalQuery(folded=("tay ho",)), 5, WEIGHTS)
    index.close()
    assert json.loads(((s.index / "current").resolve() / "manifest.json").read_text())["passages"] > 0
