"""``make bench``: the measurements too slow for the test suite.

1. Build throughput: ``build_index`` passages/s beside raw ``model.encode`` on
   the same passages (a ratio: machines are noisy).
2. Distractors: the development set on an index of the corpus plus N
   local-government documents from ../shared/corpora, with and without query
   understanding (``Searcher.plain``).
3. The approximate dense index (IVF) against exact search on that index: recall@10.
4. Served latency: ``GET /search`` over HTTP against the raw query encoding.
5. Concurrent searches on the distractor index: the throughput of 16 clients
   against the served app (uvicorn in its own process), as a ratio to the ideal
   of every core running one search at a time, ``cores / single-query latency``
   (the latency of an in-process search, measured first). Served twice: one
   process (threads share its GIL, as ``qa serve`` runs) and one worker process
   per core.

Writes eval/reports/bench.md and bench.json.
"""

from __future__ import annotations

import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain
from pathlib import Path

import faiss
import numpy as np

from qa.archive import SHARED_CORPUS, is_local_government
from qa.config import PROJECT_ROOT, Settings
from qa.documents import Document, iter_documents

DEV_SET = PROJECT_ROOT / "eval" / "datasets" / "district-docs"
REPORTS = PROJECT_ROOT / "eval" / "reports"


def distractor_documents(n: int, seed: int = 2026, path: Path = SHARED_CORPUS) -> list[Document]:
    """``n`` provincial/city HĐND and UBND documents, sampled reproducibly: the
    distractors a real archive of local-government documents would hold."""
    local = [d for d in iter_documents(path) if is_local_government(d)]
    return random.Random(seed).sample(local, min(n, len(local)))


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def build_throughput(settings: Settings, embedder) -> dict:
    from qa.chunking import chunk_document
    from qa.store import build_index, embedding_text

    texts = [embedding_text(d, p) for d in iter_documents(settings.corpus) for p in chunk_document(d)]
    started = time.perf_counter()
    embedder.model.encode(texts, "passage", embedder.batch_size)  # the model alone: no cache
    raw = len(texts) / (time.perf_counter() - started)
    report = build_index(settings.corpus, settings.model_copy(update={"index": settings.index / "bench-build"}),
                         embedder=embedder, progress=False)
    return {
        "passages": report.passages,
        "raw_encode_passages_per_s": round(raw, 2),
        "build_passages_per_s": round(report.passages_per_second, 2),
        "build_over_raw": round(report.passages_per_second / raw, 3),
        "embedding_share_of_build": round(report.embed_seconds / report.seconds, 3),
    }


def distractor_evaluation(settings: Settings, embedder, n: int) -> tuple[dict, object]:
    from qa.evaluation import evaluate_dataset, load_dataset, write_reports
    from qa.search import Searcher
    from qa.store import Index, build_index

    s = distractor_settings(settings, n)
    distractors = distractor_documents(n)
    started = time.perf_counter()
    if _built_with(s, 5 + len(distractors)):  # embedding thousands of passages takes long: reuse
        build_seconds = None
    else:
        build_index(chain(iter_documents(settings.corpus), distractors), s, embedder=embedder)
        build_seconds = round(time.perf_counter() - started, 1)
    index = Index.open(s, embedder)
    documents, passages = index.counts()
    data = load_dataset(DEV_SET, settings)
    data.name = f"district-docs-distractors-{n}"
    modes = ["lexical", "dense", "hybrid"]
    full = evaluate_dataset(data, index, modes)
    write_reports(full, REPORTS)
    plain = evaluate_dataset(data, index, modes, searcher=Searcher.plain(index))
    return {
        "distractor_documents": len(distractors),
        "documents": documents,
        "passages": passages,
        "build_seconds": build_seconds,
        "full": {m: full["metrics"][m] for m in modes},
        "plain": {m: plain["metrics"][m] for m in modes},
        "answers_full": full["answers"],
    }, index


def distractor_settings(settings: Settings, n: int) -> Settings:
    return settings.model_copy(update={"index": settings.index / "eval" / f"distractors-{n}"})


def _built_with(settings: Settings, documents: int) -> bool:
    from qa.store import Manifest, index_is_current

    return index_is_current(settings) and Manifest.read(settings.index / "current").documents == documents


def approximate_recall(index, embedder, queries: list[str], k: int = 10) -> dict:
    """IVF as ``dense_factory`` would configure it, against the exact index."""
    from qa.store import dense_factory

    ids = faiss_ids(index)
    vectors = np.stack([index.dense.reconstruct(int(i)) for i in ids])
    approx, kind = dense_factory(len(ids), vectors.shape[1], exact_max=0)
    approx.index.train(vectors)
    approx.add_with_ids(vectors, ids)
    recalls = []
    for q in queries:
        v = embedder.encode_query(q).reshape(1, -1)
        _, exact = index.dense.search(v, k)
        _, got = approx.search(v, k)
        recalls.append(len(set(exact[0]) & set(got[0])) / k)
    nprobe = faiss.downcast_index(approx.index).nprobe
    return {"vectors": len(ids), "index": kind, "nprobe": nprobe, "recall_at_10": round(float(np.mean(recalls)), 4)}


def faiss_ids(index) -> np.ndarray:
    return np.asarray(index.con.execute("SELECT id FROM passages ORDER BY id").fetchall(), dtype=np.int64).ravel()


def served_latency(settings: Settings, embedder, queries: list[str]) -> dict:
    import httpx
    import uvicorn

    from qa.api import create_app

    config = uvicorn.Config(create_app(settings, embedder), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    served, raw = [], []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for q in queries:
            started = time.perf_counter()
            client.get("/search", params={"q": q}).raise_for_status()
            served.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            embedder.encode_query(q)
            raw.append((time.perf_counter() - started) * 1000)
    server.should_exit = True
    thread.join()
    return {
        "queries": len(queries),
        "served_p50_ms": round(statistics.median(served), 1),
        "served_p95_ms": round(_percentile(served, 95), 1),
        "encode_p50_ms": round(statistics.median(raw), 1),
        "served_over_encode_p50": round(statistics.median(served) / statistics.median(raw), 2),
    }


@contextmanager
def _serving(settings: Settings, workers: int = 1) -> Iterator[str]:
    """The app over ``settings.index`` under uvicorn in its own process (the clients' threads
    do not share its GIL), with ``workers`` worker processes; yields its base URL once it answers."""
    import tempfile

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "uvicorn", "qa.api:create_app", "--factory", "--workers", str(workers),
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "QA_INDEX": str(settings.index), "QA_MODEL": settings.model}
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 300  # each worker loads the model and the index first
            while not _healthy(url):
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"`{' '.join(command)}` did not start:\n{log.read().decode()[-2000:]}")
                time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=60)


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/health", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def concurrency(settings: Settings, embedder, queries: list[str], clients: int = 16, per_client: int = 20) -> dict:
    """Searches per second with ``clients`` concurrent HTTP clients, against the ideal:
    each core running one search at a time, ``cores / single-query latency``.

    The request is the page's (``GET /answer?k=10``, one per search); the latency is
    the same search in process, one at a time, on a warm index.
    """
    from qa.search import Searcher
    from qa.store import Index

    index = Index.open(settings, embedder)
    searcher = Searcher(index)
    for q in queries[:5]:
        searcher.search(q, k=10)  # warm: first-use loading is not search time
    latencies = []
    for q in queries:
        started = time.perf_counter()
        with index.reading():
            searcher.search(q, k=10)
        latencies.append(time.perf_counter() - started)
    single = statistics.median(latencies)
    cores = os.cpu_count() or 1
    ideal = cores / single
    result = {"clients": clients, "cores": cores, "passages": index.counts()[1],
              "single_query_ms": round(single * 1000, 1), "ideal_per_s": round(ideal, 2)}
    for label, workers in (("one_process", 1), ("per_core", cores)):
        with _serving(settings, workers) as url:
            served = _load(url, queries, clients, per_client)
        served["throughput_over_ideal"] = round(served["served_per_s"] / ideal, 3)
        result[label] = {"workers": workers, **served}
    return result


def _load(url: str, queries: list[str], clients: int, per_client: int) -> dict:
    """``clients`` threads, each sending ``per_client`` page searches one after another."""
    import httpx

    times: list[float] = []
    failures: list[str] = []

    def client(c: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in range(per_client):
                q = queries[(c * per_client + i) % len(queries)]
                started = time.perf_counter()
                response = http.get("/answer", params={"q": q, "k": 10})
                times.append(time.perf_counter() - started)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    # Warm up: a worker accepts connections only once it has loaded, and every one
    # started with the first, so these reach each of them.
    for c in range(2 * clients):
        httpx.get(url + "/answer", params={"q": queries[c % len(queries)], "k": 10}, timeout=120)
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"requests": len(times), "failures": len(failures), "served_per_s": round(len(times) / elapsed, 2),
            "served_p50_ms": round(statistics.median(times) * 1000, 1)}


def markdown(results: dict) -> str:
    b, d, a, s = results["build"], results["distractors"], results["approximate"], results["served"]
    c = results["concurrency"]
    lines = [
        "# Benchmarks", "",
        f"Measured {results['created']} on {results['machine']}. Speeds are ratios measured in one run.", "",
        "## Build throughput", "",
        f"{b['passages']} passages: `qa build` {b['build_passages_per_s']} passages/s, raw `model.encode` "
        f"{b['raw_encode_passages_per_s']} passages/s on the same texts: ratio **{b['build_over_raw']}** "
        f"(embedding is {b['embedding_share_of_build']:.0%} of the build).", "",
        f"## Development set among {d['distractor_documents']} distractor documents", "",
        f"Index: {d['documents']} documents, {d['passages']} passages"
        + (f" (built in {d['build_seconds']} s)." if d["build_seconds"] else " (reused)."), "",
        "| search | mode | Hit@1 | Hit@5 | Recall@10 | MRR@10 | nDCG@10 |", "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, key in (("plain (no query understanding, RRF)", "plain"), ("full", "full")):
        for mode, m in d[key].items():
            lines.append(f"| {label} | {mode} | " + " | ".join(f"{v:.3f}" for v in m.values()) + " |")
    lines += [
        "", "## Approximate dense index", "",
        f"{a['index']} (nprobe {a['nprobe']}) over {a['vectors']} vectors: recall@10 against exact search "
        f"**{a['recall_at_10']}**.", "",
        "## Served latency", "",
        f"`GET /search` over HTTP, {s['queries']} queries: p50 {s['served_p50_ms']} ms, p95 {s['served_p95_ms']} ms; "
        f"raw query encoding p50 {s['encode_p50_ms']} ms: ratio **{s['served_over_encode_p50']}**.", "",
        "## Concurrent searches", "",
        f"{c['clients']} clients, `GET /answer?k=10` (the page's one request per search) on {c['passages']} passages. "
        f"One in-process search takes {c['single_query_ms']} ms, so {c['cores']} cores could serve at best "
        f"{c['ideal_per_s']} searches/s (goal: ≥ 0.8 of that).", "",
        "| served by | requests | failed | searches/s | p50 ms | ratio to ideal |", "|---|---:|---:|---:|---:|---:|",
    ]
    for label, key in (("one process (threads)", "one_process"), (f"{c['cores']} worker processes", "per_core")):
        r = c[key]
        lines.append(f"| {label} | {r['requests']} | {r['failures']} | {r['served_per_s']} | {r['served_p50_ms']} | "
                     f"**{r['throughput_over_ideal']}** |")
    lines += [
        "", "Threads search side by side (no lock), but the ranking's Python holds the GIL; worker processes "
        "(`uvicorn qa.api:create_app --factory --workers N`) share the read-only index and are not bound by it.", "",
    ]
    return "\n".join(lines)


def main(n_distractors: int = 150) -> dict:
    from qa.embedding import Embedder

    settings = Settings()
    embedder = Embedder(settings)
    queries = [json.loads(line)["text"] for line in (DEV_SET / "queries.jsonl").open(encoding="utf-8")]
    results = {"created": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{os.cpu_count()} cores"}
    results["build"] = build_throughput(settings, embedder)
    results["distractors"], index = distractor_evaluation(settings, embedder, n_distractors)
    results["approximate"] = approximate_recall(index, embedder, queries)
    results["served"] = served_latency(settings, embedder, queries[:60])
    results["concurrency"] = concurrency(distractor_settings(settings, n_distractors), embedder, queries[:60])
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    text = markdown(results)
    (REPORTS / "bench.md").write_text(text)
    print(text)
    return results


if __name__ == "__main__":
    main()
