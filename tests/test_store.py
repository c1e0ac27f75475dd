"""The on-disk index: build, reopen, add / remove / replace, refusals, atomic switch,
snapshots and read-only connections per thread, pruning that spares builds in use."""

from __future__ import annotations

import shutil
import sqlite3
import threading

import faiss
import numpy as np
import pytest

from qa.chunking import chunk_document
from qa.config import Settings
from qa.documents import iter_documents
from qa.store import Index, Manifest, StoreError, build_index, index_is_current
from tests.conftest import CORPUS

BHYT = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"
TAY_HO = "tay-ho-tin-nhiem-vu-3-thang-cuoi-nam-2020"


def small_settings(tmp_path, settings, names) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in names:
        shutil.copy(CORPUS / f"{name}.txt", corpus)
    return settings.model_copy(update={"corpus": corpus, "index": tmp_path / "index"})


def lexical_hits(index: Index, word: str) -> list[int]:
    return [pid for pid, _ in index.lexical(f'folded : "{word}"', 50, (1.0, 1.0, 1.0))]


def test_build_counts_and_manifest(built_index, settings):
    expected = sum(len(chunk_document(d)) for d in iter_documents(CORPUS))
    assert built_index.counts() == (5, expected)
    manifest = Manifest.read(settings.index / "current")
    assert (manifest.documents, manifest.passages) == (5, expected)
    assert manifest.model == settings.model and manifest.dimension == 384
    assert manifest.dense_index == "flat"
    assert built_index.dense.ntotal == expected
    assert index_is_current(settings)


def test_reopened_index_finds_the_same(built_index, settings, embedder):
    again = Index.open(settings, embedder)
    vector = embedder.encode_query("tỷ lệ bao phủ bảo hiểm y tế")
    assert again.dense_search(vector, 5) == built_index.dense_search(vector, 5)
    assert lexical_hits(again, "bhyt") == lexical_hits(built_index, "bhyt")


def test_add_remove_replace(tmp_path, settings, embedder):
    small = small_settings(tmp_path, settings, [TAY_HO])
    build_index(small.corpus, small, embedder=embedder, progress=False)
    index = Index.open(small, embedder)
    docs, passages = index.counts()
    assert docs == 1

    # add a second document
    shutil.copy(CORPUS / f"{BHYT}.txt", small.corpus)
    assert index.add(small.corpus / f"{BHYT}.txt") == [BHYT]
    bhyt_passages = len(index.passage_ids([BHYT]))
    assert index.counts() == (2, passages + bhyt_passages)
    assert index.dense.ntotal == passages + bhyt_passages
    assert lexical_hits(index, "259")  # 259.195 people paying health insurance

    # adding an unchanged file changes nothing
    assert index.add(small.corpus / f"{BHYT}.txt") == []

    # replace: a changed file replaces its passages
    path = small.corpus / f"{TAY_HO}.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n\nPhường Quảng An ra mắt mô hình zebrafinch thí điểm.\n", encoding="utf-8")
    assert index.add(path) == [TAY_HO]
    from qa.documents import load_document

    assert len(index.passage_ids([TAY_HO])) == len(chunk_document(load_document(path)))
    assert lexical_hits(index, "zebrafinch")
    assert index.counts()[1] == index.dense.ntotal

    # remove: its text is no longer found, lexically or densely
    removed = index.remove(BHYT)
    assert removed == bhyt_passages
    assert index.counts()[0] == 1
    assert lexical_hits(index, "259") == []
    vector = embedder.encode_query("Tỷ lệ bao phủ bảo hiểm y tế 91,5")
    found = [pid for pid, _ in index.dense_search(vector, 50)]
    assert set(found) <= set(index.passage_ids([TAY_HO]).tolist())

    # all of it was on disk
    reopened = Index.open(small, embedder)
    assert reopened.counts() == index.counts()
    assert reopened.dense.ntotal == index.dense.ntotal
    assert Manifest.read(small.index / "current").generation == 3  # add, replace, remove (the unchanged add wrote nothing)
    with pytest.raises(KeyError):
        index.remove("no-such-document")


def test_mismatched_model_is_refused(built_index, settings):
    other = settings.model_copy(update={"model": "intfloat/multilingual-e5-base"})
    with pytest.raises(StoreError, match="built with the model"):
        Index.open(other)


def test_missing_index_says_how_to_build(tmp_path, settings):
    with pytest.raises(StoreError, match="qa build"):
        Index.open(settings.model_copy(update={"index": tmp_path / "nothing"}))


def test_crash_mid_build_leaves_previous_index_serving(tmp_path, settings, embedder):
    small = small_settings(tmp_path, settings, [TAY_HO])
    build_index(small.corpus, small, embedder=embedder, progress=False)
    before = (small.index / "current").resolve()

    def exploding():
        yield from iter_documents(small.corpus)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        build_index(exploding(), small, embedder=embedder, progress=False)
    assert (small.index / "current").resolve() == before
    assert Index.open(small, embedder).counts()[0] == 1
    assert [p.name for p in (small.index / "builds").iterdir()] == [before.name]


def test_approximate_index_past_threshold_keeps_recall(tmp_path, settings, embedder):
    small = small_settings(tmp_path, settings, [BHYT, TAY_HO, "bac-tu-liem-bao-cao-6-thang-dau-nam-2024"])
    small = small.model_copy(update={"exact_max": 10})
    build_index(small.corpus, small, embedder=embedder, progress=False)
    index = Index.open(small, embedder)
    assert index.manifest.dense_index.startswith("ivf")
    exact = faiss.downcast_index(index.dense.index)  # IVF inside the id map; compare with brute force
    ids = index.passage_ids([BHYT, TAY_HO, "bac-tu-liem-bao-cao-6-thang-dau-nam-2024"])
    exact.make_direct_map()  # IVF reconstructs stored vectors only through a direct map
    vectors = np.stack([index.dense.reconstruct(int(i)) for i in ids])
    queries = ["chỉ tiêu BHYT năm 2021", "thu ngân sách 6 tháng đầu năm 2024", "nhiệm vụ 3 tháng cuối năm Tây Hồ"]
    recall = []
    for q in queries:
        v = embedder.encode_query(q)
        truth = set(ids[np.argsort(-(vectors @ v))[:10]].tolist())
        got = {pid for pid, _ in index.dense_search(v, 10)}
        recall.append(len(truth & got) / 10)
    assert exact.nlist > 1
    assert np.mean(recall) >= 0.8


def test_read_connections_are_read_only_and_per_thread(built_index):
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        built_index.con.execute("DELETE FROM documents")
    here = built_index.con
    elsewhere: list = []
    worker = threading.Thread(target=lambda: elsewhere.append((built_index.con, built_index.vocabulary()[:3])))
    worker.start()
    worker.join()
    connection, vocabulary = elsewhere[0]
    assert connection is not here and built_index.con is here
    assert vocabulary == built_index.vocabulary()[:3]  # each connection makes its own temp vocabulary table


def test_a_snapshot_holds_while_another_process_changes_the_build(tmp_path, settings, embedder):
    """``reading`` pins one generation: SQLite, vectors and documents stay those of its
    start while another Index (as `qa remove` in another process would) commits."""
    small = small_settings(tmp_path, settings, [TAY_HO, BHYT])
    build_index(small.corpus, small, embedder=embedder, progress=False)
    searching, other = Index.open(small, embedder), Index.open(small, embedder)
    vector = embedder.encode_query("Tỷ lệ bao phủ bảo hiểm y tế 91,5")
    bhyt = set(searching.passage_ids([BHYT]).tolist())
    with searching.reading():
        other.remove(BHYT)
        assert set(searching.passage_ids([BHYT]).tolist()) == bhyt
        assert BHYT in searching.documents()
        assert {pid for pid, _ in searching.dense_search(vector, 5)} <= bhyt | set(searching.passage_ids([TAY_HO]).tolist())
        assert set(searching.passages(bhyt)) == bhyt
    with searching.reading():  # the next snapshot is the new generation, vectors included
        assert len(searching.passage_ids([BHYT])) == 0 and BHYT not in searching.documents()
        assert searching.dense.ntotal == searching.counts()[1] == other.dense.ntotal
    # the old generation's vectors went once nothing could need them
    other.add(small.corpus / f"{BHYT}.txt")
    assert sorted(p.name for p in (small.index / "current").glob("dense*.faiss")) == ["dense-1.faiss", "dense-2.faiss"]
    assert Index.open(small, embedder).dense.ntotal == other.counts()[1]


def test_a_build_in_use_is_not_pruned(tmp_path, settings, embedder):
    small = small_settings(tmp_path, settings, [TAY_HO])
    build_index(small.corpus, small, embedder=embedder, progress=False)
    first = Index.open(small, embedder)
    build_index(small.corpus, small, embedder=embedder, progress=False)
    assert first.folder.exists() and first.folder != (small.index / "current").resolve()
    found: list = []
    reader = threading.Thread(target=lambda: found.append(first.counts()))  # a new connection, after the switch
    reader.start()
    reader.join()
    assert found == [first.counts()] and found[0][0] == 1
    first.close()
    build_index(small.corpus, small, embedder=embedder, progress=False)
    assert [p.name for p in (small.index / "builds").iterdir()] == [(small.index / "current").resolve().name]


def test_progress_counts_documents_and_passages(tmp_path, settings, embedder, capsys):
    small = small_settings(tmp_path, settings, [TAY_HO, BHYT])
    docs = list(iter_documents(small.corpus))
    report = build_index(docs, small, embedder=embedder, progress=True)
    bar = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "2/2" in bar and f"{report.passages:,} passages" in bar and "passages/s" in bar
