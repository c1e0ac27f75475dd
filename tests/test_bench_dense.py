"""qa.bench_dense at a tiny size: the structure of its results and report, without the model."""

from __future__ import annotations

import numpy as np

from qa.bench_dense import measure, markdown


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _clustered(rng: np.random.Generator, count: int, centres: np.ndarray) -> np.ndarray:
    """Vectors around a few centres sharing one direction, like e5's (all cosines high)."""
    picks = centres[rng.integers(0, len(centres), count)]
    return _unit(picks + 0.15 * rng.standard_normal((count, centres.shape[1])))


def test_measure_tiny():
    rng = np.random.default_rng(7)
    centres = _unit(3.0 + rng.standard_normal((40, 384)))
    real, queries = _clustered(rng, 1500, centres), _clustered(rng, 20, centres)

    results = measure(n_values=(5_000,), queries=20, query_vectors=queries, real_vectors=real)

    assert results["queries"]["count"] == 20
    assert results["real_vectors"]["read"] == 1500
    (size,) = results["sizes"]
    assert size["n"] == 5_000
    types = [i["type"] for i in size["indexes"]]
    assert types == ["Flat", "IVF-Flat", "IVF-PQ", "IVF-PQ + refine", "HNSW"]
    flat = size["indexes"][0]
    assert flat["searches"][0]["recall_at_10"] == 1.0 and flat["choice"] is not None
    for item in size["indexes"]:
        assert item["bytes"] > 0 and item["build_s"] >= 0 and item["searches"]
        for search in item["searches"]:
            assert 0.0 <= search["recall_at_10"] <= 1.0
            assert search["p50_ms"] > 0 and search["latency_queries"] >= 1
    assert [i["removable"] for i in size["indexes"]] == [True, True, True, True, False]
    (check,) = results["store"]
    assert check["n"] == 5_000 and check["nlist"] == size["indexes"][1]["build"]["nlist"]
    assert results["kicks_in"]["exact_exceeds_encode_at"] is not None

    text = markdown(results)
    assert "## N = 5,000" in text and "## Choice" in text and "| Flat |" in text


def test_measure_budget_caps(monkeypatch):
    """Above LARGE_N recall is over fewer queries; above HNSW_MAX_N HNSW is built on a
    subset with its own exact truth; the real vectors are sampled; the report says so."""
    from qa import bench_dense

    monkeypatch.setattr(bench_dense, "LARGE_N", 3_000)
    monkeypatch.setattr(bench_dense, "LARGE_N_QUERIES", 12)
    monkeypatch.setattr(bench_dense, "HNSW_MAX_N", 2_500)
    monkeypatch.setattr(bench_dense, "MAX_REAL_VECTORS", 1_000)
    rng = np.random.default_rng(8)
    centres = _unit(3.0 + rng.standard_normal((40, 384)))
    real, queries = _clustered(rng, 1500, centres), _clustered(rng, 20, centres)

    results = measure(n_values=(2_000, 5_000), queries=20, query_vectors=queries, real_vectors=real)

    assert results["real_vectors"]["read"] == 1500 and results["real_vectors"]["sampled"] == 1000
    assert results["real_vectors"]["distinct"] <= 1000
    small, large = results["sizes"]
    assert small["queries"] == 20 and large["queries"] == 12
    small_hnsw, large_hnsw = small["indexes"][-1], large["indexes"][-1]
    assert small_hnsw["type"] == large_hnsw["type"] == "HNSW"
    assert "vectors" not in small_hnsw["build"] and large_hnsw["build"]["vectors"] == 2_500
    for item in large["indexes"]:
        assert all(s["latency_queries"] <= 12 for s in item["searches"])
    assert [c["n"] for c in results["store"]] == [2_000, 5_000]

    text = markdown(results)
    assert "What was subsampled" in text
    assert "first 12 of the 20 queries" in text
    assert "a random 1,000 of the cache's 1,500" in text
    assert "built on the first 2,500 of the 5,000 vectors" in text
    assert "on the first 2,500 vectors only" in text
