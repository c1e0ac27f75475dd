"""Shared fixtures: the real corpus, the real model, one real index per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT, Settings

CORPUS = PROJECT_ROOT / "corpus"
SHARED = PROJECT_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    # The converted model is cached where `make install` put it (or built once here).
    cache = Path(os.environ.get("QA_MODEL_CACHE", Path.home() / ".cache" / "qa-models"))
    return Settings(corpus=CORPUS, index=tmp_path_factory.mktemp("index"), model_cache=cache)


@pytest.fixture(scope="session")
def embedder(settings):
    from qa.embedding import Embedder

    return Embedder(settings)


@pytest.fixture(scope="session")
def built_index(settings, embedder):
    """The real corpus, indexed once per test session (the index the API serves)."""
    from qa.store import Index, build_index

    report = build_index(settings.corpus, settings, embedder=embedder, progress=False)
    assert report.errors == []
    return Index.open(settings, embedder)


@pytest.fixture(scope="session")
def searcher(built_index):
    from qa.search import Searcher

    return Searcher(built_index)


@pytest.fixture(scope="session")
def archive_searcher(settings, embedder, tmp_path_factory):
    """A small archive on the real model: the five documents, every constructed
    other-year version of them (``qa.archive``) and, when the shared corpus is beside
    the project, a dozen real provincial documents. The full development archive
    (~400 documents) is ``make eval``'s, not the test suite's."""
    from qa.archive import Archive, SHARED_CORPUS, variants
    from qa.documents import iter_documents
    from qa.search import Searcher
    from qa.store import Index, build_index

    docs = list(iter_documents(CORPUS))
    real = []
    if SHARED_CORPUS.is_file():
        for doc in iter_documents(SHARED_CORPUS):
            if "nhân dân" in (doc.issuer or "").lower() and len(doc.text) < 40_000:
                real.append(doc)
            if len(real) == 12:
                break
    archive = Archive(docs, variants(docs), real)
    s = settings.model_copy(update={"index": tmp_path_factory.mktemp("archive")})
    build_index(archive.documents(), s, embedder=embedder, progress=False)
    return Searcher(Index.open(s, embedder))


# Real documents of the shared collection that change one another: four circulars on
# pension adjustment, each replacing the one before (36/2021 ← 01/2023 ← 20/2023 ← 01/2025,
# "… hết hiệu lực kể từ ngày Thông tư này có hiệu lực"), and a provincial resolution that
# shares the short number "21/NQ-HĐND" with the Bắc Từ Liêm one (Vĩnh Long, 21/2025/NQ-HĐND).
RELATED_DOCUMENTS = (
    "congbao:thong-tu-so-36-2021-tt-bldtbxh-36618", "congbao:thong-tu-so-01-2023-tt-bldtbxh-38752",
    "congbao:thong-tu-so-20-2023-tt-bldtbxh-41198", "congbao:thong-tu-so-01-2025-tt-bldtbxh-43956",
    "tnt:40de74e605854414",
)


@pytest.fixture(scope="session")
def related_index(settings, embedder, tmp_path_factory):
    """The five documents and RELATED_DOCUMENTS, indexed (skipped without the shared collection)."""
    from qa.archive import SHARED_CORPUS
    from qa.documents import iter_documents
    from qa.store import Index, build_index

    if not SHARED_CORPUS.is_file():
        pytest.skip("shared corpus not beside the project")
    shared = {d.id: d for d in iter_documents(SHARED_CORPUS) if d.id in RELATED_DOCUMENTS}
    s = settings.model_copy(update={"index": tmp_path_factory.mktemp("related")})
    build_index([*iter_documents(CORPUS), *(shared[i] for i in RELATED_DOCUMENTS)], s, embedder=embedder, progress=False)
    return Index.open(s, embedder)
