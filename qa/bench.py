"""``qa bench`` / ``make bench``: the measurements too slow for the test suite, in one
run, as ratios (machines are noisy).

1. Encoding: torch and OpenVINO (and its int8 variant) on the same passages and
   queries; ``build_index`` passages/s (embedding cache off) against torch's raw encode.
2. The full build of the 1,114 shared-corpus documents (``qa.bench_lexical.full_build``):
   time and peak memory (reused when current; the embedding cache makes a rebuild cheap).
3. Distractors: the development set on the corpus plus N local-government documents
   from ../shared/corpora, with and without query understanding (``Searcher.plain``).
4. Served latency: ``GET /search`` over HTTP on that index, one at a time, against the
   torch and the OpenVINO query encoding.
5. Concurrent searches on that index: 16 clients against the served app (uvicorn in
   its own process), as a ratio to the ideal ``cores / single-query latency``; one
   process, then one worker process per core.
6. The lexical engines at the full build's ~80k passages and at 1M recombined ones
   (``qa.bench_lexical``); 7. the dense index types at 80k and 1M vectors
   (``qa.bench_dense``).

Writes eval/reports/bench.md and bench.json (and lexical-scale.*, dense-scale.* of
the same run).
"""

from __future__ import annotations

import json
import os
import random
import shutil
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


def encoding(embedders: dict, texts: list[str], queries: list[str]) -> dict:
    """Raw passages/s and query p50 of each backend on the same texts (no cache), and
    the lowest cosine of its vectors to torch's."""
    out, reference = {}, None
    for name, embedder in embedders.items():
        embedder.encode_query(queries[0])  # first call compiles / allocates
        started = time.perf_counter()
        vectors = embedder.model.encode(texts, "passage", embedder.batch_size)
        rate = len(texts) / (time.perf_counter() - started)
        times = []
        for q in queries:
            t = time.perf_counter()
            embedder.encode_query(q)
            times.append((time.perf_counter() - t) * 1000)
        reference = vectors if reference is None else reference
        out[name] = {"passages_per_s": round(rate, 2), "query_p50_ms": round(statistics.median(times), 2),
                     "min_cosine_to_torch": round(float(np.min(np.sum(vectors * reference, axis=1))), 6)}
    torch = out["torch"]
    for r in out.values():
        r["passages_over_torch"] = round(r["passages_per_s"] / torch["passages_per_s"], 2)
        r["query_torch_over"] = round(torch["query_p50_ms"] / r["query_p50_ms"], 2)
    return {"passages": len(texts), "queries": len(queries), **out}


def build_throughput(settings: Settings, embedder, torch_passages_per_s: float) -> dict:
    """``build_index`` of the corpus with the embedding cache off, against torch's raw encode."""
    from qa.store import build_index

    s = settings.model_copy(update={"index": settings.index / "bench-build", "embedding_cache": False})
    uncached = type(embedder)(s)  # the same backend, no cache: every passage is embedded
    report = build_index(settings.corpus, s, embedder=uncached, progress=False)
    return {
        "passages": report.passages,
        "torch_raw_encode_passages_per_s": torch_passages_per_s,
        "build_passages_per_s": round(report.passages_per_second, 2),
        "build_over_torch_raw": round(report.passages_per_second / torch_passages_per_s, 2),
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


def rebuild_after_chunker_change(settings: Settings, embedder, n: int, max_chars: int = 1100) -> dict:
    """The distractor archive built again after a small chunker change (passages cut at
    ``max_chars`` instead of ``qa.chunking.MAX_CHARS``): what the embedding cache saves.
    Built into a folder of its own, so the measured indexes stay as they are."""
    from functools import partial

    from qa import chunking, store

    s = settings.model_copy(update={"index": settings.index / "eval" / "bench-rebuild"})
    documents = chain(iter_documents(settings.corpus), distractor_documents(n))
    cache = embedder.cache
    hits, misses = (cache.hits, cache.misses) if cache else (0, 0)
    changed = partial(chunking.chunk_document, max_chars=max_chars)
    original, store.chunk_document = store.chunk_document, changed  # the real chunker, another limit
    try:
        report = store.build_index(documents, s, embedder=embedder, progress=False)
    finally:
        store.chunk_document = original
        shutil.rmtree(s.index, ignore_errors=True)
    embedded = (cache.misses - misses) if cache else report.passages
    return {
        "change": f"passages cut at {max_chars} characters instead of {chunking.MAX_CHARS}",
        "documents": report.documents, "passages": report.passages,
        "embedded": embedded, "from_cache": (cache.hits - hits) if cache else 0,
        "seconds": round(report.seconds, 1), "embed_seconds": round(report.embed_seconds, 1),
    }


def distractor_settings(settings: Settings, n: int) -> Settings:
    return settings.model_copy(update={"index": settings.index / "eval" / f"distractors-{n}"})


def _built_with(settings: Settings, documents: int) -> bool:
    from qa.store import Manifest, index_is_current

    return index_is_current(settings) and Manifest.read(settings.index / "current").documents == documents


def served_latency(settings: Settings, embedder, torch_embedder, queries: list[str]) -> dict:
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
    served, raw, torch = [], [], []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for q in queries[:5]:
            client.get("/search", params={"q": q}).raise_for_status()  # first use loads what a search reads
        for q in queries:
            for times, call in ((served, lambda: client.get("/search", params={"q": q}).raise_for_status()),
                                (raw, lambda: embedder.encode_query(q)), (torch, lambda: torch_embedder.encode_query(q))):
                started = time.perf_counter()
                call()
                times.append((time.perf_counter() - started) * 1000)
        passages = client.get("/health").json().get("passages")
    server.should_exit = True
    thread.join()
    p50 = statistics.median(served)
    return {
        "queries": len(queries), "passages": passages,
        "served_p50_ms": round(p50, 1), "served_p95_ms": round(_percentile(served, 95), 1),
        "encode_p50_ms": round(statistics.median(raw), 1), "torch_encode_p50_ms": round(statistics.median(torch), 1),
        "served_over_encode_p50": round(p50 / statistics.median(raw), 2),
        "served_over_torch_encode_p50": round(p50 / statistics.median(torch), 2),
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


def _dig(data: dict, *keys, default=None):
    """``data[k1][k2]…``, or ``default`` when a step did not measure it."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def summary(results: dict) -> list[str]:
    """The issue's goals, each with its ratio from this run."""
    b, s, c = results["build"], results["served"], results["concurrency"]
    lex, dense, full = results["lexical"], results["dense"], results["full_build"]
    lines = ["| measure | this run | goal |", "|---|---:|---:|",
             f"| `qa build` passages/s ÷ torch's raw encode ({b['passages']} passages, cache off) | "
             f"**{b['build_over_torch_raw']}×** | ≥ 2.5× |",
             f"| full build of {_dig(full, 'documents', default=0):,} documents ({_dig(full, 'passages', default=0):,} "
             f"passages, {_dig(full, 'embedded', default='?')} embedded) | "
             f"{_dig(full, 'seconds', default=0) / 60:.1f} min, peak {_dig(full, 'peak_rss_mb', default=0):,.0f} MB"
             f"{' (reused, built ' + str(full.get('created')) + ')' if full.get('reused') else ''} | – |",
             *_rebuild_row(results.get("rebuild")),
             f"| served `/search` p50 ÷ torch query encoding ({s['passages']:,} passages) | "
             f"**{s['served_over_torch_encode_p50']}×** | ≤ 1.3× |",
             f"| served `/search` p50 ÷ OpenVINO query encoding | {s['served_over_encode_p50']}× | – |"]
    for label, key in (("one process", "one_process"), (f"{c['cores']} worker processes", "per_core")):
        lines.append(f"| throughput at {c['clients']} clients ÷ ideal, {label} | "
                     f"**{c[key]['throughput_over_ideal']}** | ≥ 0.8 |")
    for label, part, fts5 in (("full build", "full", ("fts5",)), ("recombined", "synthetic", ("sample", "fts5"))):
        tv, ft = _dig(lex, part, "tantivy", "p50_ms"), _dig(lex, part, *fts5, "p50_ms")
        encode = _dig(lex, "full", "encode", "p50_ms")
        if tv is not None and ft is not None and encode:
            lines.append(f"| lexical p50 at {_dig(lex, part, 'passages', default=0):,} passages ({label}), tantivy / FTS5, "
                         f"÷ query encoding | {tv:.1f} / {ft:.1f} ms ({tv / encode:.2f}× / {ft / encode:.1f}×) | ≤ 1.3× |")
    for size in dense.get("sizes", []):
        for item in size.get("indexes", []):
            chosen = item.get("choice")
            if chosen and item.get("removable"):
                lines.append(f"| dense at {size['n']:,} vectors, {item['type']} "
                             f"{', '.join(f'{k} {v}' for k, v in chosen['setting'].items())} | "
                             f"{chosen['p50_ms']:.2f} ms, recall@10 {chosen['recall_at_10']:.3f} | recall ≥ 0.95 |")
    return lines


def _rebuild_row(r: dict | None) -> list[str]:
    if not r:
        return []
    return [f"| rebuild of the distractor archive after a chunker change ({r['change']}) | {r['seconds']} s: "
            f"{r['embedded']:,} of {r['passages']:,} passages embedded, {r['from_cache']:,} from the cache | – |"]


def _demoted(text: str) -> list[str]:
    """Another report's Markdown as a section of this one: its title dropped, headings one level down."""
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return ["#" + line if line.startswith("#") else line for line in lines]


def markdown(results: dict) -> str:
    from qa import bench_dense, bench_lexical

    e, b, d, s = results["encoding"], results["build"], results["distractors"], results["served"]
    c = results["concurrency"]
    lines = [
        "# Benchmarks", "",
        f"Measured {results['created']} on {results['machine']} by `qa bench` in one run of "
        f"{results['seconds'] / 60:.1f} minutes. Speeds are ratios measured in this run; the machine "
        "may have been busy, so absolute times vary.", "",
        "## Summary", "", *summary(results), "",
        "## Encoding", "",
        f"{e['passages']} corpus passages and {e['queries']} development queries, each backend on the same texts, "
        "no embedding cache.", "",
        "| backend | passages/s | ÷ torch | query p50 ms | torch ÷ this | lowest cosine to torch |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in (k for k in e if isinstance(e[k], dict)):
        r = e[name]
        lines.append(f"| {name} | {r['passages_per_s']} | {r['passages_over_torch']}× | {r['query_p50_ms']} | "
                     f"{r['query_torch_over']}× | {r['min_cosine_to_torch']} |")
    lines += [
        "", f"`qa build` of the corpus ({b['passages']} passages, embedding cache off): {b['build_passages_per_s']} "
        f"passages/s, **{b['build_over_torch_raw']}×** torch's raw encode ({b['torch_raw_encode_passages_per_s']} "
        f"passages/s); embedding is {b['embedding_share_of_build']:.0%} of the build.", "",
        f"## Development set among {d['distractor_documents']} distractor documents", "",
        f"Index: {d['documents']} documents, {d['passages']} passages"
        + (f" (built in {d['build_seconds']} s)." if d["build_seconds"] else " (reused)."), "",
        "| search | mode | Hit@1 | Hit@5 | Recall@10 | MRR@10 | nDCG@10 |", "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, key in (("plain (no query understanding, RRF)", "plain"), ("full", "full")):
        for mode, m in d[key].items():
            lines.append(f"| {label} | {mode} | " + " | ".join(f"{v:.3f}" for v in m.values()) + " |")
    lines += [
        "", "## Served latency", "",
        f"`GET /search` over HTTP on {s['passages']:,} passages, {s['queries']} queries one at a time: p50 "
        f"{s['served_p50_ms']} ms, p95 {s['served_p95_ms']} ms; query encoding p50 {s['torch_encode_p50_ms']} ms "
        f"with torch, {s['encode_p50_ms']} ms with OpenVINO: ratios **{s['served_over_torch_encode_p50']}** and "
        f"{s['served_over_encode_p50']}.", "",
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
        "(`qa serve --workers N`) share the read-only index and are not bound by it.", "",
        "## Lexical search at 80k and 1M passages", "", *_demoted(bench_lexical.markdown(lexical_results(results))), "",
        "## Dense index at 80k and 1M vectors", "", *_demoted(bench_dense.markdown(results["dense"])), "",
    ]
    return "\n".join(lines)


def main(n_distractors: int = 150, settings: Settings | None = None) -> dict:
    from qa import bench_dense, bench_lexical
    from qa.chunking import chunk_document
    from qa.embedding import Embedder
    from qa.store import embedding_text

    started = time.perf_counter()
    settings = settings or Settings()
    embedder = Embedder(settings)
    embedders = {"torch": Embedder(settings.model_copy(update={"backend": "torch"})), settings.backend: embedder}
    queries = [json.loads(line)["text"] for line in (DEV_SET / "queries.jsonl").open(encoding="utf-8")]
    texts = [embedding_text(d, p) for d in iter_documents(settings.corpus) for p in chunk_document(d)]
    results = {"created": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{os.cpu_count()} cores"}
    steps = [
        ("encoding", lambda: encoding(embedders, texts, queries[:100])),
        ("build", lambda: build_throughput(settings, embedder, results["encoding"]["torch"]["passages_per_s"])),
        ("full_build", lambda: bench_lexical.full_build(settings)),
        ("distractors", lambda: distractor_evaluation(settings, embedder, n_distractors)[0]),
        ("rebuild", lambda: rebuild_after_chunker_change(settings, embedder, n_distractors)),
        ("served", lambda: served_latency(distractor_settings(settings, n_distractors), embedder, embedders["torch"],
                                          queries[:60])),
        ("concurrency", lambda: concurrency(distractor_settings(settings, n_distractors), embedder, queries[:60])),
        ("lexical", lambda: bench_lexical.lexical_scale(settings)),
        ("dense", lambda: bench_dense.measure()),
    ]
    seconds = {}
    for name, step in steps:
        t = time.perf_counter()
        results[name] = step()
        seconds[name] = round(time.perf_counter() - t, 1)
        print(f"bench: {name} in {seconds[name]} s", file=sys.stderr, flush=True)
        # what is measured so far, in case a later step fails
        REPORTS.mkdir(parents=True, exist_ok=True)
        (REPORTS / "bench.partial.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    results["step_seconds"] = seconds
    results["seconds"] = round(time.perf_counter() - started, 1)
    write_reports(results)
    return results


def write_reports(results: dict) -> None:
    """bench.md and .json, and lexical-scale.* and dense-scale.* of the same run
    (``python -c "…write_reports(json.load(…bench.partial.json))"`` renders a run cut short)."""
    from qa import bench_dense, bench_lexical

    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    (REPORTS / "bench.partial.json").unlink(missing_ok=True)
    lexical = lexical_results(results)
    (REPORTS / "lexical-scale.json").write_text(json.dumps(lexical, indent=2, ensure_ascii=False))
    (REPORTS / "lexical-scale.md").write_text(bench_lexical.markdown(lexical))
    (REPORTS / "dense-scale.json").write_text(json.dumps(results["dense"], indent=2, ensure_ascii=False))
    (REPORTS / "dense-scale.md").write_text(bench_dense.markdown(results["dense"]))
    text = markdown(results)
    (REPORTS / "bench.md").write_text(text)
    print(text)


def lexical_results(results: dict) -> dict:
    """What ``qa.bench_lexical.markdown`` reads: the full build and the scale part."""
    return {"created": results["created"], "machine": results["machine"],
            "full_build": results["full_build"], "scale": results["lexical"]}


if __name__ == "__main__":
    main()
