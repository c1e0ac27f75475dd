"""The on-disk index: build, reopen, add / remove / replace, refusals, atomic switch,
snapshots and read-only connections per thread, pruning that spares builds in use,
passage ids never reused, staleness against the corpus, the consistency check on open
and the fallback to the previous build. (Killed processes: tests/test_crash.py.)"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import faiss
import numpy as np
import pytest

from qa.chunking import chunk_document
from qa.config import Settings
from qa.documents import iter_documents
from qa.lexical import LexicalQuery
from qa.builds import LOCK, PARTIAL_GRACE
from qa.store import DB, Index, Manifest, StoreError, build_index, index_is_current, verify_build
from tests.conftest import CORPUS

BHYT = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"
TAY_HO = "tay-ho-tin-nhiem-vu-3-thang-cuoi-nam-2020"
REPORT_2024 = "bac-tu-liem-bao-cao-6-thang-dau-nam-2024"


def small_settings(tmp_path, settings, names) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in names:
        shutil.copy(CORPUS / f"{name}.txt", corpus)
    return settings.model_copy(update={"corpus": corpus, "index": tmp_path / "index"})


def lexical_hits(index: Index, word: str) -> list[int]:
    return [pid for pid, _ in index.lexical(LexicalQuery(folded=(word,)), 50, (1.0, 1.0, 1.0))]


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
    assert index.add(small.corpus / f"{BHYT}.txt").changed == [BHYT]
    bhyt_passages = len(index.passage_ids([BHYT]))
    assert index.counts() == (2, passages + bhyt_passages)
    assert index.dense.ntotal == passages + bhyt_passages
    assert lexical_hits(index, "259")  # 259.195 people paying health insurance

    # adding an unchanged file changes nothing
    report = index.add(small.corpus / f"{BHYT}.txt")
    assert (report.changed, report.unchanged, report.errors) == ([], [BHYT], [])

    # replace: a changed file replaces its passages
    path = small.corpus / f"{TAY_HO}.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n\nPhường Quảng An ra mắt mô hình zebrafinch thí điểm.\n", encoding="utf-8")
    assert index.add(path).changed == [TAY_HO]
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
    # the current build and the one it replaced (kept to fall back on); the first one went
    kept = {(small.index / name).resolve().name for name in ("current", "previous")}
    assert len(kept) == 2 and {p.name for p in (small.index / "builds").iterdir()} == kept
    assert not first.folder.exists()


def test_progress_counts_documents_and_passages(tmp_path, settings, embedder, capsys):
    small = small_settings(tmp_path, settings, [TAY_HO, BHYT])
    docs = list(iter_documents(small.corpus))
    report = build_index(docs, small, embedder=embedder, progress=True)
    bar = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "2/2" in bar and f"{report.passages:,} passages" in bar and "passages/s" in bar


def test_passage_ids_are_never_reused(tmp_path, settings, embedder):
    """A link to passage 61 keeps naming that passage or nothing: after a remove, an add
    or a replacement (here the removed document held the highest ids), and after reopening."""
    small = small_settings(tmp_path, settings, [BHYT, TAY_HO])
    shutil.copy(CORPUS / f"{REPORT_2024}.txt", tmp_path)
    build_index(small.corpus, small, embedder=embedder, progress=False)
    index = Index.open(small, embedder)
    given = set(index.passage_ids([BHYT, TAY_HO]).tolist())
    removed = set(index.passage_ids([TAY_HO]).tolist())
    assert max(removed) == max(given)  # the last document: MAX(id) + 1 would hand its ids out again

    index.remove(TAY_HO)
    index.add(tmp_path / f"{REPORT_2024}.txt")
    added = set(index.passage_ids([REPORT_2024]).tolist())
    assert added and not added & given
    given |= added

    path = small.corpus / f"{BHYT}.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n\nMột đoạn mới về phường Cổ Nhuế.\n", encoding="utf-8")
    assert index.add(path).changed == [BHYT]
    replaced = set(index.passage_ids([BHYT]).tolist())
    assert not replaced & given  # the new version's passages are new passages
    given |= replaced
    index.close()

    again = Index.open(small, embedder)
    again.add(small.corpus / f"{TAY_HO}.txt")
    assert not set(again.passage_ids([TAY_HO]).tolist()) & given
    assert again.dense.ntotal == again.counts()[1]
    assert not again.passages(removed)  # the removed passages' ids name nothing


def test_add_reports_each_document_and_does_not_raise_for_bad_ones(tmp_path, settings, embedder):
    small = small_settings(tmp_path, settings, [TAY_HO])
    build_index(small.corpus, small, embedder=embedder, progress=False)
    index = Index.open(small, embedder)
    shutil.copy(CORPUS / f"{BHYT}.txt", small.corpus)
    (small.corpus / "broken.docx").write_bytes(b"not a zip file")
    report = index.add(small.corpus)
    assert report.changed == [BHYT] and report.unchanged == [TAY_HO]
    assert [Path(e.path).name for e in report.errors] == ["broken.docx"]
    assert index.counts()[0] == 2  # the good document was indexed all the same

    missing = index.add(tmp_path / "no-such-file.txt")
    assert (missing.changed, missing.unchanged) == ([], []) and "no such file" in str(missing.errors[0])


def test_index_is_current_follows_the_corpus_it_was_built_from(tmp_path, settings, embedder):
    small = small_settings(tmp_path, settings, [TAY_HO])
    build_index(small.corpus, small, embedder=embedder, progress=False)
    assert index_is_current(small)
    manifest = Manifest.read(small.index / "current")
    assert manifest.corpus == str(small.corpus.resolve()) and list(manifest.corpus_files) == [f"{TAY_HO}.txt"]

    # another corpus (`qa build --corpus X`, then `make serve` with the default corpus)
    assert not index_is_current(small.model_copy(update={"corpus": CORPUS}))

    # a file added with `qa add` from inside the corpus is part of what the index holds
    shutil.copy(CORPUS / f"{BHYT}.txt", small.corpus)
    assert not index_is_current(small)
    Index.open(small, embedder).add(small.corpus / f"{BHYT}.txt")
    assert index_is_current(small)

    # a file deleted from the corpus; a file changed (same name, other size and time)
    (small.corpus / f"{BHYT}.txt").unlink()
    assert not index_is_current(small)
    build_index(small.corpus, small, embedder=embedder, progress=False)
    assert index_is_current(small)
    path = small.corpus / f"{TAY_HO}.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\nThêm một dòng.\n", encoding="utf-8")
    assert not index_is_current(small)

    # hidden files (editor swap files, .git) are not part of the corpus
    build_index(small.corpus, small, embedder=embedder, progress=False)
    (small.corpus / f".{TAY_HO}.txt.swp").write_text("x")
    assert index_is_current(small)


def test_nothing_indexed_leaves_current_as_it_was(tmp_path, settings, embedder):
    small = small_settings(tmp_path, settings, [TAY_HO])
    build_index(small.corpus, small, embedder=embedder, progress=False)
    before = (small.index / "current").resolve()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.docx").write_bytes(b"not a zip file")
    report = build_index(bad, small, embedder=embedder, progress=False)
    assert (report.documents, report.build) == (0, None) and "broken.docx" in report.errors[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    report = build_index(empty, small, embedder=embedder, progress=False)
    assert (report.documents, report.build, report.errors) == (0, None, [])
    assert (small.index / "current").resolve() == before
    assert [p.name for p in (small.index / "builds").iterdir()] == [before.name]

    fresh = small.model_copy(update={"index": tmp_path / "fresh"})
    assert build_index(empty, fresh, embedder=embedder, progress=False).build is None
    with pytest.raises(StoreError, match="qa build"):
        Index.open(fresh, embedder)


def test_pruning_spares_a_build_in_progress_elsewhere(tmp_path, settings, embedder):
    """Another process's `.partial` build is left alone while it is held, and while it is
    recent (the moment between creating it and holding it); an old, unheld one is a build
    that crashed, and goes."""
    small = small_settings(tmp_path, settings, [TAY_HO])
    builds = small.index / "builds"
    builds.mkdir(parents=True)
    long_ago = time.time() - 2 * PARTIAL_GRACE
    recent = builds / ".20261203T000000-1-recent.partial"
    recent.mkdir()
    held = builds / ".20261203T000000-2-held.partial"
    held.mkdir()
    (held / LOCK).touch()
    crashed = builds / ".20261203T000000-3-crashed.partial"
    crashed.mkdir()
    (crashed / LOCK).touch()
    for folder in (held, crashed):
        os.utime(folder, (long_ago, long_ago))
    holder = os.open(held / LOCK, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_SH)  # as build_index holds its folder
    try:
        build_index(small.corpus, small, embedder=embedder, progress=False)
        assert recent.exists() and held.exists() and not crashed.exists()
    finally:
        os.close(holder)
    os.utime(recent, (long_ago, long_ago))
    build_index(small.corpus, small, embedder=embedder, progress=False)
    assert not recent.exists() and not held.exists()


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_broken_current_build_falls_back_to_the_previous_one(tmp_path, settings, embedder):
    small = small_settings(tmp_path, settings, [TAY_HO])
    build_index(small.corpus, small, embedder=embedder, progress=False)
    shutil.copy(CORPUS / f"{BHYT}.txt", small.corpus)
    build_index(small.corpus, small, embedder=embedder, progress=False)
    current, previous = ((small.index / name).resolve() for name in ("current", "previous"))
    assert current != previous and verify_build(current) is None

    flip_last_byte(next(current.glob("dense-*.faiss")))
    assert "checksum" in verify_build(current)
    assert not index_is_current(small)  # `make serve` rebuilds
    index = Index.open(small, embedder)
    assert index.folder == previous and "checksum" in index.fallback
    assert index.counts()[0] == 1 and index.dense_search(embedder.encode_query("nhiệm vụ quý IV"), 3)
    with pytest.raises(StoreError, match="qa build"):
        index.add(small.corpus / f"{BHYT}.txt")  # the fallback is for serving, not for changing

    (current / "manifest.json").write_text("{not json")
    assert "manifest.json" in Index.open(small, embedder).fallback

    build_index(small.corpus, small, embedder=embedder, progress=False)  # what `qa build` does about it
    fixed = Index.open(small, embedder)
    assert fixed.fallback is None and fixed.counts()[0] == 2
    assert (small.index / "previous").resolve() == previous  # the broken build never became "previous"


@pytest.mark.parametrize("damage", ["dense file missing", "passage without vector", "truncated dense file"])
def test_a_broken_build_with_nothing_to_fall_back_on_is_refused(tmp_path, settings, embedder, damage):
    small = small_settings(tmp_path, settings, [TAY_HO])
    build_index(small.corpus, small, embedder=embedder, progress=False)
    current = (small.index / "current").resolve()
    dense = next(current.glob("dense-*.faiss"))
    if damage == "dense file missing":
        dense.unlink()
        expected = "missing"
    elif damage == "passage without vector":
        con = sqlite3.connect(current / DB)
        con.execute("INSERT INTO passages (id, doc_id, ordinal, text) VALUES (9999, ?, 0, 'x')", (TAY_HO,))
        con.commit()
        con.close()
        expected = "passages but"
    else:
        dense.write_bytes(dense.read_bytes()[:100])
        expected = "cannot be read"
    with pytest.raises(StoreError, match=f"broken: .*{expected}.*qa build"):
        Index.open(small, embedder)
    assert not index_is_current(small)


def test_targets_and_relations_follow_each_change(tmp_path, settings, embedder):
    """Targets and the relations graph are read per generation: a change shows at once,
    whether warmed (as the service does after a staff change) or read on first use."""
    small = small_settings(tmp_path, settings, [TAY_HO])
    build_index(small.corpus, small, embedder=embedder, progress=False)
    index = Index.open(small, embedder)

    def targets_of(doc_id: str) -> list[str]:
        with index.reading():
            return [r.value_written for ind in index.targets().indicators for r in ind.records if r.doc_id == doc_id]

    def cites(doc_id: str) -> list[str]:
        with index.reading():
            return [r.cited_number.key for r in index.graph().relations.get(doc_id, []) if r.cited_number]

    index.warm()
    assert targets_of(BHYT) == [] and cites(BHYT) == []
    shutil.copy(CORPUS / f"{BHYT}.txt", small.corpus)
    index.add(small.corpus / f"{BHYT}.txt")
    index.warm()
    assert {"91,5", "259.195", "3.178,4"} <= set(targets_of(BHYT)) and "47/2019/QH14" in cites(BHYT)
    index.remove(BHYT)
    assert targets_of(BHYT) == [] and cites(BHYT) == []  # not warmed: read on first use
