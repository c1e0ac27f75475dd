"""Searches side by side: no lock around them, and an index that changes under them
(documents added and removed in place, the current build swapped) never fails one.

No timing assertions: ``qa bench`` measures throughput.
"""

from __future__ import annotations

import gc
import shutil
import threading
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.config import Settings
from qa.search import Searcher
from qa.store import Index, build_index
from tests.conftest import CORPUS

BHYT = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"
TAY_HO = "tay-ho-tin-nhiem-vu-3-thang-cuoi-nam-2020"
REPORT_2024 = "bac-tu-liem-bao-cao-6-thang-dau-nam-2024"  # always indexed: its filters stay valid
QUERIES = ["chỉ tiêu BHYT năm 2021", "nhiệm vụ 3 tháng cuối năm", "thu ngan sach 6 thang dau nam 2024",
           "bảo hiểm y tế", "Tây Hồ"]
THREADS = 4
SEARCHES_PER_STEP = 8  # searches that finish after each change before the next one


@pytest.fixture
def small(tmp_path, settings) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in (TAY_HO, REPORT_2024):
        shutil.copy(CORPUS / f"{name}.txt", corpus)
    shutil.copy(CORPUS / f"{BHYT}.txt", tmp_path)  # added and removed while searches run
    return settings.model_copy(update={"corpus": corpus, "index": tmp_path / "index"})


class Hammer:
    """Threads running ``search(i)`` until stopped, keeping every failure."""

    def __init__(self, search: Callable[[int], None], threads: int = THREADS):
        self.search = search
        self.done = 0
        self.failures: list[str] = []
        self._count = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(t,)) for t in range(threads)]

    def _run(self, t: int) -> None:
        i = t
        while not self._stop.is_set():
            try:
                self.search(i)
            except Exception as exc:  # every kind of failure counts
                self.failures.append(f"{type(exc).__name__}: {exc}")
            with self._count:
                self.done += 1
            i += len(self._threads)

    def __enter__(self) -> Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def settle(self, searches: int = SEARCHES_PER_STEP, timeout: float = 120) -> None:
        """Let ``searches`` more searches finish (on what just changed)."""
        target, deadline = self.done + searches, time.monotonic() + timeout
        while self.done < target and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.done >= target, "the searches stopped making progress"


def test_searches_on_one_index_while_it_changes(small, embedder):
    """Threads search one Index (each in its snapshot) while the same Index adds,
    replaces and removes a document: the swap of vectors and documents never shows
    a search half of a change."""
    build_index(small.corpus, small, embedder=embedder, progress=False)
    index = Index.open(small, embedder)
    searcher = Searcher(index)
    modes = ("hybrid", "lexical", "dense")

    def search(i: int) -> None:
        with index.reading():
            response = searcher.search(QUERIES[i % len(QUERIES)], k=10, mode=modes[i % 3])
        assert response.results

    bhyt = small.corpus.parent / f"{BHYT}.txt"
    with Hammer(search) as hammer:
        hammer.settle()
        for _ in range(2):
            assert index.add(bhyt).changed == [BHYT]
            hammer.settle()
            bhyt.write_text(bhyt.read_text(encoding="utf-8") + "\n\nMột đoạn mới.\n", encoding="utf-8")
            assert index.add(bhyt).changed == [BHYT]  # replaced in place
            hammer.settle()
            assert index.remove(BHYT) > 0
            hammer.settle()
    assert hammer.failures == []
    assert index.counts()[1] == index.dense.ntotal


def test_served_searches_survive_changes_elsewhere_and_build_swaps(small, embedder):
    """The app under searches from many threads while another Index (as `qa add` /
    `qa remove` in another process) changes the build in place, and while new builds
    replace the current one: every request succeeds, and the old build is pruned once
    the searches holding it let go."""
    build_index(small.corpus, small, embedder=embedder, progress=False)
    first_build = (small.index / "current").resolve()
    bhyt = small.corpus.parent / f"{BHYT}.txt"

    with TestClient(create_app(small, embedder)) as client:
        def search(i: int) -> None:
            q = QUERIES[i % len(QUERIES)]
            kind = i % 4
            if kind == 0:
                response = client.get("/answer", params={"q": q, "k": 10})
            elif kind == 1:
                response = client.get("/search", params={"q": q, "mode": ("lexical", "dense", "hybrid")[i % 3]})
            elif kind == 2:
                response = client.get("/search", params={"q": q, "district": "Bắc Từ Liêm", "k": 5})
            else:
                response = client.get(f"/documents/{REPORT_2024}")
            assert response.status_code == 200, f"{response.request.url}: {response.status_code} {response.text[:300]}"

        with Hammer(search) as hammer:
            hammer.settle()
            elsewhere = Index.open(small, embedder)  # its own connections and vectors, like another process
            assert elsewhere.add(bhyt).changed == [BHYT]
            hammer.settle()
            assert elsewhere.remove(TAY_HO) > 0
            hammer.settle()
            elsewhere.close()

            build_index(small.corpus, small, embedder=embedder, progress=False)  # the swap
            hammer.settle()
            assert first_build.exists()  # still open in the app when the switch happened
            again = Index.open(small, embedder)  # a change in place of the new build
            assert again.add(bhyt).changed == [BHYT]
            again.close()
            hammer.settle()

        assert hammer.failures == []
        assert client.get("/search", params={"q": "chỉ tiêu BHYT năm 2021"}).json()["results"][0]["doc"]["id"] == BHYT
        # the new build (the corpus folder again: TAY_HO, REPORT_2024) and the document added to it
        assert client.get("/health").json()["documents"] == 3

    gc.collect()  # the app's old searchers are let go with the client
    build_index(small.corpus, small, embedder=embedder, progress=False)
    assert not first_build.exists()
