"""The embedding cache returns exactly the vectors the model computes, and a
rebuild after a change embeds only the text that changed."""

from __future__ import annotations

import copy
import dataclasses
import threading

import numpy as np
import pytest

from qa.documents import iter_documents
from qa.embedding_cache import EmbeddingCache
from qa.store import Index, build_index
from tests.conftest import CORPUS


@pytest.fixture
def fresh(embedder, tmp_path):
    """The session's embedder with an empty cache of its own."""
    e = copy.copy(embedder)
    e.cache = EmbeddingCache(tmp_path / "embeddings.sqlite", embedder.key)
    return e


def test_cached_vectors_are_the_computed_ones(fresh):
    texts = ["Tỷ lệ bao phủ bảo hiểm y tế đạt 91,5%", "Thu ngân sách ước đạt 2.979 tỷ đồng", "Tỷ lệ bao phủ bảo hiểm y tế đạt 91,5%"]
    first = fresh.encode_passages(texts)
    assert (fresh.cache.hits, fresh.cache.misses) == (0, 3) and len(fresh.cache) == 2
    second = fresh.encode_passages(texts[::-1])
    assert fresh.cache.hits == 3
    assert np.array_equal(second, first[::-1])
    fresh.cache = None
    assert np.allclose(fresh.encode_passages(texts), first, atol=1e-6)


def test_another_model_key_never_sees_these_vectors(fresh, tmp_path):
    fresh.encode_passages(["một đoạn văn"])
    other = EmbeddingCache(fresh.cache.path, fresh.key.replace("openvino", "torch"))
    assert other.get(["một đoạn văn"]) == [None]


def test_threads_share_one_cache(fresh):
    texts = [f"đoạn số {i}" for i in range(40)]
    vectors = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    errors = []

    def work(part):
        try:
            fresh.cache.put(texts[part::4], vectors[part::4])
            assert all(v is not None for v in fresh.cache.get(texts[part::4]))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert np.array_equal(np.stack(fresh.cache.get(texts)), vectors)


def test_rebuild_after_an_edit_embeds_only_the_changed_passages(fresh, settings, tmp_path):
    docs = list(iter_documents(CORPUS))
    s = settings.model_copy(update={"index": tmp_path / "index"})
    first = build_index(docs, s, embedder=fresh, progress=False)
    assert fresh.cache.misses == first.passages and fresh.cache.hits == 0

    # one new paragraph at the end of one document: the other passages are as before
    edited = [dataclasses.replace(docs[0], text=docs[0].text + "\n\nĐoạn văn mới thêm vào cuối văn bản để thử bộ nhớ đệm.\n")] + docs[1:]
    fresh.cache.hits = fresh.cache.misses = 0
    second = build_index(edited, s, embedder=fresh, progress=False)
    assert 1 <= fresh.cache.misses <= 3, fresh.cache.misses
    assert fresh.cache.hits + fresh.cache.misses == second.passages

    index = Index.open(s, fresh)
    assert index.counts() == (len(docs), second.passages)
