"""The int8 OpenVINO backend: close to torch's vectors, its own folder and cache key.

Its figures (speed, size, cosines, development-set quality) are in eval/reports/int8.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.chunking import chunk_document
from qa.documents import iter_documents
from qa.embedding import Embedder
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def passages() -> list[str]:
    texts = [p.text for doc in iter_documents(CORPUS) for p in chunk_document(doc)]
    return texts[::3][:50]  # every document, long and short passages


@pytest.fixture(scope="module")
def int8_embedder(settings):
    return Embedder(settings.model_copy(update={"backend": "openvino-int8", "embedding_cache": False}))


@pytest.fixture(scope="module")
def torch_embedder(settings):
    return Embedder(settings.model_copy(update={"backend": "torch", "embedding_cache": False}))


def test_int8_vectors_close_to_torch(int8_embedder, torch_embedder, passages):
    assert len(passages) == 50
    ours = int8_embedder.encode_passages(passages)
    theirs = torch_embedder.encode_passages(passages)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    cosines = (ours * theirs).sum(axis=1)
    # Measured on all 150 corpus passages: min 0.99981, mean 0.99986 (eval/reports/int8.md).
    assert cosines.mean() >= 0.9995, cosines.mean()
    assert cosines.min() >= 0.999, (cosines.min(), passages[int(cosines.argmin())][:80])
    # Not the same vectors, though: what the separate cache key is for.
    assert cosines.min() < 0.99999

    for q in ["chỉ tiêu BHYT năm 2021", "thu ngan sach 6 thang dau nam 2024"]:
        assert float(int8_embedder.encode_query(q) @ torch_embedder.encode_query(q)) >= 0.999, q


def test_int8_has_its_own_folder_and_cache_key(settings, int8_embedder, embedder):
    folder = Path(int8_embedder.model.folder)
    assert folder.name.endswith("-openvino-int8")
    assert folder != Path(embedder.model.folder)
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size < 160e6, size  # int8 weights: about 136 MB
    assert int8_embedder.key != embedder.key
    assert "openvino-int8" in int8_embedder.key
