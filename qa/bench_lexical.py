"""Lexical search at archive scale: the full 1,114-document build, and the two lexical
engines (tantivy, SQLite FTS5) at ~80k and 1M passages.

1. ``full_build``: an index of every document of the shared corpus
   (``../shared/corpora/vn-official-1114.jsonl.gz``) built by ``qa.store.build_index`` in a
   child process, so that its peak RSS is the build's alone; wall time, passages/s, and
   how many passage vectors were computed vs found in the embedding cache. A current
   build in the folder (``index_is_current`` against the shared corpus) is reused.
2. ``lexical_scale``:

   * ~80k passages (the full build): the real queries (development set, XQuAD-vi) made
     into ``LexicalQuery`` by ``Searcher.lexical_query(understand(...))``, answered by
     ``Index.lexical`` (tantivy, syllable pairs as terms of its ``pairs`` field) and
     ``Index.fts5`` (FTS5, on a stratified sample of the queries) with the ranker's
     weights, top 100, interleaved with the query encoding (``Embedder.encode_query``) and
     two variants on the same tantivy index: the pairs counted as phrases (``CountedPhrases``,
     the search before the field) and no pairs; the cost of ``Index.add`` /
     ``Index.remove`` of ~100 passages, on a copy of the build;
   * 1M passages made by recombining the real sentences of the shared corpus (folded;
     the ``words`` column empty: pyvi would take ~50 minutes for 1M passages): one tantivy
     index and one FTS5 table built in a temporary folder, their build time, size, query
     latency (tantivy and its variants on a sample of the queries, FTS5 on a smaller one),
     update cost and agreement.

``python -m qa.bench_lexical`` writes eval/reports/lexical-scale.md and .json.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import random
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

import numpy as np
import tantivy

from qa.archive import SHARED_CORPUS
from qa.bench import DEV_SET, REPORTS, _percentile
from qa.config import PROJECT_ROOT, Settings
from qa.lexical import _TOKEN, LexicalIndex, LexicalQuery

FULL_FOLDER = Path("index/eval/full-1114")
XQUAD_QUERIES = PROJECT_ROOT.parent / "shared" / "bench" / "xquad-vi" / "queries.jsonl"
SEED = 20261203
TOP_K = 100      # the search's candidate depth
N_DEV = 150
N_XQUAD = 100
N_CHANGE = 100   # passages added and removed by the update test
# What is sampled, so that `lexical_scale` takes about 8 minutes on 2 cores (it took 12 with
# every query on FTS5; half of what is left is the 1M tantivy build, which the pairs field makes
# ~2.5× slower): FTS5 costs a quarter of a second a query at ~80k and seconds at 1M, tantivy
# tens to hundreds of milliseconds at 1M; everything else answers every query.
FTS5_WARM = 10       # ~80k: FTS5's queries in the untimed round
FTS5_SAMPLE = 60     # ~80k: FTS5's queries (as many of each source), one timed round
SYNTH_QUERIES = 60   # 1M: tantivy's queries (as many of each source), every variant, 2 timed rounds
SYNTH_WARM = 20      # 1M: of those, in the untimed round
SYNTH_FTS5 = 16      # 1M: FTS5's sample of them, one timed round (~3 s a query)
SYNTH_FTS5_WARM = 1  # 1M: FTS5's untimed queries before it (its table was just written: in the page cache)
FTS5_TABLE = (  # qa.store's passages_fts, as its SCHEMA creates it
    "CREATE VIRTUAL TABLE passages_fts USING fts5("
    "words, folded, context, tokenize = \"unicode61 remove_diacritics 0 tokenchars '_'\")"
)
_SENTENCE_END = re.compile(r"(?<=[.;:!?])\s+|\n+")


# -- helpers -------------------------------------------------------------------------
def _folder(folder: Path) -> Path:
    return folder if folder.is_absolute() else PROJECT_ROOT / folder


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _mb(n: float) -> float:
    return round(n / 1e6, 1)


def _ms(values: list[float]) -> dict:
    """p50/p95 in milliseconds of per-query seconds."""
    return {"p50_ms": round(_percentile(values, 50) * 1000, 2), "p95_ms": round(_percentile(values, 95) * 1000, 2),
            "queries": len(values)}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- 1. the full build -------------------------------------------------------------
def _full_settings(settings: Settings, folder: Path) -> Settings:
    return settings.model_copy(update={"index": _folder(folder), "corpus": SHARED_CORPUS})


def full_build(settings: Settings, folder: Path = FULL_FOLDER, rebuild: bool = False,
               limit: int | None = None) -> dict:
    """The index of every shared-corpus document in ``folder`` (``limit``: only the first
    ``limit`` documents, to try this out; never reused), built in a child process.

    Reuses the current build there when ``index_is_current`` holds for the shared corpus
    (``reused`` true, with the numbers of the run that built it, kept in
    ``<folder>/full-build.json``)."""
    from qa.store import CURRENT, Manifest, index_is_current

    s = _full_settings(settings, folder)
    record = s.index / "full-build.json"
    if limit is None and not rebuild and index_is_current(s) and record.exists():
        found = json.loads(record.read_text())
        if found.get("build") == str((s.index / CURRENT).resolve()):
            return {**found, "reused": True}
    s.index.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"settings": s.model_dump(mode="json", exclude={"admin_token"}), "limit": limit})
    code = "import sys, json; from qa.bench_lexical import _build_child; _build_child(sys.argv[1])"
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code, payload], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    out, _ = child.communicate()  # the child's progress bar goes to our stderr
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"the build process failed ({child.returncode})")
    child_maxrss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # every child so far: an upper bound
    result = json.loads(out.strip().splitlines()[-1])
    manifest = Manifest.read(s.index / CURRENT)
    result.update({
        "folder": str(s.index), "build": str((s.index / CURRENT).resolve()), "limit": limit,
        "wall_seconds_with_start": round(wall, 1), "children_max_rss_mb": round(child_maxrss_kb / 1024, 1),
        "manifest_passages": manifest.passages, "created": time.strftime("%Y-%m-%d %H:%M"), "reused": False,
    })
    if limit is None:
        record.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return result


def _build_child(payload: str) -> None:
    """The build, in its own process: prints one JSON line of what it measured."""
    from qa.documents import iter_documents
    from qa.embedding import Embedder
    from qa.store import build_index

    args = json.loads(payload)
    settings = Settings(**args["settings"])
    rss_start = _rss_mb()
    embedder = Embedder(settings)
    rss_model = _rss_mb()
    cache_before = len(embedder.cache) if embedder.cache else None
    corpus = SHARED_CORPUS if args["limit"] is None else list(islice(iter_documents(SHARED_CORPUS), args["limit"]))
    cpu = _cpu()
    report = build_index(corpus, settings, embedder=embedder, progress=True)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "documents": report.documents, "passages": report.passages, "errors": report.errors[:5],
        "seconds": round(report.seconds, 1), "embed_seconds": round(report.embed_seconds, 1),
        "cpu_seconds": round(_cpu() - cpu, 1),
        "passages_per_s": round(report.passages_per_second, 1),
        "embedded": embedder.cache.misses if embedder.cache else report.passages,
        "from_cache": embedder.cache.hits if embedder.cache else 0,
        "cache_vectors_before": cache_before,
        "peak_rss_mb": round(peak_kb / 1024, 1), "rss_at_start_mb": rss_start, "rss_model_loaded_mb": rss_model,
        "backend": embedder.backend, "batch_size": embedder.batch_size,
    }))



# -- timing --------------------------------------------------------------------------
def interleaved(tasks: dict[str, tuple[list[int], Callable[[int], object]]], rounds: int = 2, warm: bool = True,
                seed: int = SEED, warm_limit: dict[str, int] | None = None, timed_rounds: dict[str, int] | None = None,
                ) -> tuple[dict[str, dict[int, float]], dict[str, dict[int, object]]]:
    """Each task is (query numbers, call): every call of every task in one random order
    per round, so the machine's load hits them alike; an untimed round first (``warm``;
    ``warm_limit``: only that many of a task's queries in it, for a slow task;
    ``timed_rounds``: a slow task only in that many of the timed rounds, the first ones).
    Returns, per task, each query's median seconds over the timed rounds, and its result
    (of the first round that ran it)."""
    rng = random.Random(seed)
    limits, timed = warm_limit or {}, timed_rounds or {}
    first = 1 if warm else 0
    times: dict[str, dict[int, list[float]]] = {name: {} for name in tasks}
    results: dict[str, dict[int, object]] = {name: {} for name in tasks}
    for r in range(rounds + first):
        if r < first:
            order = [(name, i) for name, (indices, _) in tasks.items() for i in indices[: limits.get(name, len(indices))]]
        else:
            order = [(name, i) for name, (indices, _) in tasks.items() if r - first < timed.get(name, rounds)
                     for i in indices]
        rng.shuffle(order)
        for name, i in order:
            started = time.perf_counter()
            out = tasks[name][1](i)
            took = time.perf_counter() - started
            results[name].setdefault(i, out)
            if r >= first:
                times[name].setdefault(i, []).append(took)
    return {name: {i: statistics.median(v) for i, v in t.items()} for name, t in times.items()}, results


def agreement(a: dict[int, list[tuple[int, float]]], b: dict[int, list[tuple[int, float]]],
              indices: Iterable[int] | None = None, k: int = 10) -> dict:
    """overlap@k (the passages in both top k ÷ the longer of the two, mean over the queries
    either engine answers) and how often the top passage is the same."""
    overlaps, same = [], []
    for i in (indices if indices is not None else a.keys() & b.keys()):
        x, y = [pid for pid, _ in a[i][:k]], [pid for pid, _ in b[i][:k]]
        if not x and not y:
            continue
        overlaps.append(len(set(x) & set(y)) / max(len(x), len(y)))
        same.append(float(bool(x) and bool(y) and x[0] == y[0]))
    return {f"overlap_at_{k}": round(float(np.mean(overlaps)), 3) if overlaps else None,
            "same_top1": round(float(np.mean(same)), 3) if same else None, "queries": len(overlaps)}


def _tantivy_updates(lexicon: LexicalIndex, new: list, gone: list[int]) -> dict:
    """Milliseconds of three commits, as ``qa add`` / ``qa remove`` make them: add ``new``
    (rows), delete ``gone`` (ids), replace half of ``new`` (its ids out and in again)."""
    times = {}
    generation = (lexicon.generation(lexicon.searcher()) or 0) + 1
    for name, rows, remove in (("add_ms", new, []), ("delete_ms", [], gone),
                               ("replace_ms", new[: len(new) // 2], [pid for pid, *_ in new[: len(new) // 2]])):
        started = time.perf_counter()
        lexicon.write(generation, rows, remove)
        times[name] = round((time.perf_counter() - started) * 1000, 1)
        generation += 1
    times["passages_after"] = lexicon.searcher().num_docs - 1
    return times


def _stratified(indices: list[int], sources: list[str] | None, n: int, rng: random.Random) -> list[int]:
    """About ``n`` of ``indices``, as many of each source (all of a source with fewer)."""
    if n >= len(indices):
        return list(indices)
    if not sources:
        return sorted(rng.sample(indices, n))
    by: dict[str, list[int]] = {}
    for i in indices:
        by.setdefault(sources[i], []).append(i)
    per = max(1, n // len(by))
    return sorted(j for idx in by.values() for j in rng.sample(idx, min(per, len(idx))))


def without_pairs(query: LexicalQuery) -> LexicalQuery:
    """The query without its phrases (the folded syllable pairs and multi-word expansions)."""

    def single(terms):
        return tuple(t for t in terms if len(_TOKEN.findall(t)) == 1)

    return LexicalQuery(words=single(query.words), folded=single(query.folded), context=single(query.context))


class CountedPhrases(LexicalIndex):
    """The search as it ran before the ``pairs`` field, measured here beside it (not what
    the search runs): a folded syllable pair is a phrase of ``folded``, counted over the
    whole index first (its passage count is not in the term dictionary), then boosted to
    its FTS5 idf over the sum of its syllables' tantivy idfs. Reads the same index."""

    def __init__(self, other: LexicalIndex):
        self.path, self.index, self.schema = other.path, other.index, other.schema

    def _term(self, searcher, passages, field, term):
        tokens = _TOKEN.findall(term.lower())
        if field != "folded" or len(tokens) != 2:
            return super()._term(searcher, passages, field, term)
        return self._phrase(searcher, passages, field, tokens)


class _Fts5Table:
    """What ``qa.store.Index.fts5`` reads (``con``), for an FTS5 table outside a build:
    the 1M-passage table is queried with the store's own SQL."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def fts5(self, match: str, k: int, weights: tuple[float, float, float]) -> list[tuple[int, float]]:
        from qa.store import Index

        return Index.fts5(self, match, k, weights)


@contextmanager
def _timed(owner, name: str, spent: dict[str, float], key: str) -> Iterator[None]:
    """Add the time spent in ``owner.name`` to ``spent[key]`` while inside."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - started

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextmanager
def _timed_iterator(owner, name: str, spent: dict[str, float], key: str) -> Iterator[None]:
    """The same for a function returning an iterator: the time spent producing its items."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        items = iter(original(*args, **kwargs))
        while True:
            started = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                return
            finally:
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - started
            yield item

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


# -- queries -------------------------------------------------------------------------
def load_queries(n_dev: int = N_DEV, n_xquad: int = N_XQUAD, seed: int = SEED) -> list[tuple[str, str]]:
    """(source, text): a fixed sample of the development set's and XQuAD-vi's queries."""
    rng = random.Random(seed)
    out = []
    for source, path, n in (("district-docs", DEV_SET / "queries.jsonl", n_dev), ("xquad-vi", XQUAD_QUERIES, n_xquad)):
        texts = list(dict.fromkeys(json.loads(line)["text"] for line in path.open(encoding="utf-8") if line.strip()))
        out += [(source, texts[i]) for i in sorted(rng.sample(range(len(texts)), min(n, len(texts))))]
    return out


def prepare_queries(searcher, queries: list[tuple[str, str]]) -> list[dict]:
    """Each query as ``Searcher.search`` analyses it: ``understand`` with the searcher's
    lexicon, then ``Searcher.lexical_query``; the text the embedding model reads. Queries
    without anything to search are left out, as the search leaves them."""
    from qa.query import has_content, understand

    prepared = []
    for source, text in queries:
        q = understand(text, searcher.lexicon)
        if not has_content(q.raw):
            continue
        lexical = searcher.lexical_query(q)
        if lexical:
            prepared.append({"source": source, "text": text, "dense_text": q.dense_text, "lexical": lexical})
    return prepared


def _sources(prepared: list[dict]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, p in enumerate(prepared):
        out.setdefault(p["source"], []).append(i)
    return out


# -- 2a. ~80k passages: the full build -----------------------------------------------
def at_full_build(index, searcher, embedder, prepared: list[dict], rounds: int = 2, fts5_queries: int = FTS5_SAMPLE,
                  fts5_warm: int = FTS5_WARM) -> dict:
    """tantivy (``Index.lexical``, and its variants on the same index) and FTS5
    (``Index.fts5``) on the open full build, with the query encoding, interleaved; their
    agreement. Every query on every step but FTS5: a stratified sample of ``fts5_queries``,
    one timed round after ``fts5_warm`` untimed queries (a quarter of a second each)."""
    weights = tuple(searcher.config.bm25)
    engine = index.lexical_engine()
    if engine != "tantivy":
        raise RuntimeError(f"Index.lexical answers with {engine} on {index.folder}: tantivy is not current")
    # a second handle on the build's own tantivy index (no copy): the search as it ran before
    variant = CountedPhrases(LexicalIndex(index.folder))
    vsearcher = variant.searcher()
    if vsearcher.num_docs - 1 != index.counts()[1]:
        raise RuntimeError(f"the tantivy index of {index.folder} holds {vsearcher.num_docs - 1} passages, "
                           f"SQLite {index.counts()[1]}")
    n = list(range(len(prepared)))
    fts5_sample = _stratified(n, [p["source"] for p in prepared], fts5_queries, random.Random(SEED))
    tasks = {
        "tantivy": (n, lambda i: index.lexical(prepared[i]["lexical"], TOP_K, weights)),
        "fts5": (fts5_sample, lambda i: index.fts5(prepared[i]["lexical"].fts5(), TOP_K, weights)),
        "encode": (n, lambda i: embedder.encode_query(prepared[i]["dense_text"])),
        "tantivy_counted_phrases": (n, lambda i: variant.search(vsearcher, prepared[i]["lexical"], weights, TOP_K)),
        "tantivy_no_pairs": (n, lambda i: index.lexical(without_pairs(prepared[i]["lexical"]), TOP_K, weights)),
    }
    times, results = interleaved(tasks, rounds=rounds, warm_limit={"fts5": fts5_warm}, timed_rounds={"fts5": 1})
    encode = _percentile(list(times["encode"].values()), 50)
    documents, passages = index.counts()[:2]
    out = {"passages": passages, "documents": documents, "weights": list(weights), "engine_of_index_lexical": engine,
           "rounds": rounds, "top_k": TOP_K, "fts5_sample": len(fts5_sample), "fts5_rounds": 1, "fts5_warm": fts5_warm}
    for name in tasks:
        out[name] = _ms(list(times[name].values()))
        if name != "encode":
            out[name]["p50_over_encode_p50"] = round(_percentile(list(times[name].values()), 50) / encode, 3)
            out[name]["empty"] = sum(not r for r in results[name].values())
    for source, indices in _sources(prepared).items():
        out.setdefault("by_source", {})[source] = {
            name: _ms([times[name][i] for i in indices if i in times[name]]) for name in ("tantivy", "fts5", "encode")}
    # agreement with FTS5 over its sample (``agreement`` takes the queries both answered)
    out["agreement"] = agreement(results["tantivy"], results["fts5"])
    out["agreement_at_100"] = agreement(results["tantivy"], results["fts5"], k=100)
    out["agreement_by_source"] = {s: agreement(results["tantivy"], results["fts5"], [i for i in idx if i in results["fts5"]])
                                  for s, idx in _sources(prepared).items()}
    out["variants"] = {name: {"with_fts5": agreement(results[name], results["fts5"]),
                              "with_tantivy": agreement(results[name], results["tantivy"])}
                       for name in ("tantivy_counted_phrases", "tantivy_no_pairs")}
    return out


def _pick_documents(con: sqlite3.Connection, target: int, seed: int = SEED) -> list[tuple[str, int]]:
    """A few documents whose passages add up to about ``target``."""
    counts = con.execute("SELECT doc_id, COUNT(*) FROM passages GROUP BY doc_id ORDER BY doc_id").fetchall()
    candidates = [(d, c) for d, c in counts if target // 4 <= c <= target * 3 // 4]
    random.Random(seed).shuffle(candidates)
    chosen, total = [], 0
    for doc_id, count in candidates:
        if total + count <= target * 1.1:
            chosen.append((doc_id, count))
            total += count
        if total >= target * 0.9:
            break
    return chosen


def update_on_copy(index, settings: Settings, embedder, target: int = N_CHANGE) -> dict:
    """``Index.remove`` of documents holding about ``target`` passages, then ``Index.add``
    of the same documents again, on a copy of the build in /tmp (the build itself is never
    changed); where the time goes, by timing the steps inside."""
    import qa.store as store
    from qa.store import Index

    tmp = Path(tempfile.mkdtemp(prefix="lexical-scale-"))
    try:
        started = time.perf_counter()
        copy = tmp / index.folder.name
        shutil.copytree(index.folder, copy, ignore=shutil.ignore_patterns("in-use.lock"))
        copy_seconds = time.perf_counter() - started
        chosen = _pick_documents(index.con, target)
        ids = {d for d, _ in chosen}
        corpus = tmp / "again.jsonl"  # their records, as the shared corpus holds them
        with gzip.open(SHARED_CORPUS, "rt", encoding="utf-8") as f, corpus.open("w", encoding="utf-8") as out:
            for line in f:
                if line.strip() and json.loads(line).get("id") in ids:
                    out.write(line)
        changed = Index(copy, settings.model_copy(update={"index": tmp}), embedder)
        try:
            before = changed.counts()
            cache = embedder.cache
            hits, misses = (cache.hits, cache.misses) if cache else (0, 0)
            steps: dict[str, dict[str, float]] = {}
            for step in ("remove", "add"):
                spent = steps[step] = {}
                with _timed(LexicalIndex, "write", spent, "tantivy_write"), \
                        _timed(store, "_write_faiss", spent, "faiss_write"), \
                        _timed(store, "chunk_document", spent, "chunking"), \
                        _timed(store, "lexical_fields", spent, "lexical_fields"), \
                        _timed(store, "extract_targets", spent, "targets_relations"), \
                        _timed(store, "extract_relations", spent, "targets_relations"), \
                        _timed_iterator(store, "iter_documents", spent, "reading"), \
                        _timed(embedder, "encode_passages", spent, "embedding"):
                    t = time.perf_counter()
                    if step == "remove":
                        removed = sum(changed.remove(d) for d, _ in chosen)
                    else:
                        report = changed.add(corpus)
                    spent["total"] = time.perf_counter() - t
                spent["rest"] = spent["total"] - sum(v for k, v in spent.items() if k != "total")
            after = changed.counts()
            lexicon = LexicalIndex.open(copy)
            tantivy_docs = lexicon.searcher().num_docs - 1 if lexicon else None
            result = {
                "documents": [d for d, _ in chosen], "passages_removed": removed,
                "passages_added": after[1] - before[1] + removed, "documents_added": len(report.changed),
                "counts_before": list(before), "counts_after": list(after),
                "engine_after": changed.lexical_engine(), "tantivy_passages_after": tantivy_docs,
                "vectors_from_cache": (cache.hits - hits) if cache else None,
                "vectors_computed": (cache.misses - misses) if cache else None,
                "copy_seconds": round(copy_seconds, 1),
                "steps_ms": {s: {k: round(v * 1000, 1) for k, v in spent.items()} for s, spent in steps.items()},
            }
        finally:
            changed.close()
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- 2b. 1M passages recombined from the real sentences -------------------------------
def corpus_sentences(path: Path = SHARED_CORPUS, documents: int | None = None) -> tuple[list[str], list[str]]:
    """The folded sentences (split at . ; : ! ? followed by a space, and at line breaks)
    and the folded titles of the corpus's documents."""
    from qa.text import fold

    sentences: list[str] = []
    titles: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in islice((line for line in f if line.strip()), documents):
            record = json.loads(line)
            titles.append(" ".join(fold(unicodedata.normalize("NFC", record.get("title") or "")).split()))
            text = fold(unicodedata.normalize("NFC", record.get("text") or ""))
            sentences += [s for s in (" ".join(part.split()) for part in _SENTENCE_END.split(text)) if any(c.isalnum() for c in s)]
    return sentences, [t for t in titles if t]


def real_shape(con: sqlite3.Connection) -> tuple[list[int], list[int]]:
    """The passage lengths (characters) and passages per document of a build."""
    lengths = [r[0] for r in con.execute("SELECT length(text) FROM passages")]
    per_doc = [r[0] for r in con.execute("SELECT COUNT(*) FROM passages GROUP BY doc_id")]
    return lengths, per_doc


def synthetic_passages(n: int, sentences: list[str], titles: list[str], lengths: list[int], per_doc: list[int],
                       seed: int = SEED) -> Iterator[tuple[str, str]]:
    """``n`` passages (folded text, context): the sentences in a shuffled order (shuffled
    again when used up) packed up to a length drawn from ``lengths`` (a longer sentence is
    cut at a space), in runs of a length drawn from ``per_doc`` sharing one document's title."""
    rng = random.Random(seed)
    order = list(range(len(sentences)))
    rng.shuffle(order)
    pos = made = 0
    while made < n:
        title, count = rng.choice(titles), rng.choice(per_doc)
        for _ in range(min(count, n - made)):
            target, parts, size = rng.choice(lengths), [], 0
            while size < target:
                if pos == len(order):
                    rng.shuffle(order)
                    pos = 0
                sentence = sentences[order[pos]]
                if parts and size + len(sentence) > target:
                    break  # it begins the next passage
                pos += 1
                if len(sentence) > target:
                    cut = sentence.rfind(" ", 0, target)
                    sentence = sentence[: cut if cut > 0 else target]
                parts.append(sentence)
                size += len(sentence) + 1
            yield " ".join(parts), title
            made += 1


def _reset_peak() -> bool:
    """Reset this process's VmHWM (Linux: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _rows(file: Path, first_id: int = 1, limit: int | None = None) -> Iterator[tuple[int, str, str, str]]:
    with file.open(encoding="utf-8") as f:
        for pid, line in enumerate(islice(f, limit), first_id):
            folded, _, context = line.rstrip("\n").partition("\t")
            yield pid, "", folded, context


def at_synthetic(n: int, queries: list, weights: tuple[float, float, float], sentences: list[str], titles: list[str],
                 lengths: list[int], per_doc: list[int], fts5_queries: int = SYNTH_FTS5, rounds: int = 2,
                 fts5_rounds: int = 1, folder: Path | None = None, seed: int = SEED,
                 sources: list[str] | None = None, tantivy_queries: int | None = SYNTH_QUERIES,
                 warm_queries: int = SYNTH_WARM, fts5_warm: int = SYNTH_FTS5_WARM) -> dict:
    """Both engines over ``n`` recombined passages (plus ``N_CHANGE`` held back to add): build,
    size, latency of the folded and context part of ``queries`` (LexicalQuery), updates,
    agreement. tantivy (as the search runs it, and its variants on the same index) answers
    a stratified sample of ``tantivy_queries`` (None: all), ``rounds`` timed rounds after an
    untimed one of ``warm_queries`` of them; FTS5 a sample of ``fts5_queries`` of those,
    ``fts5_rounds`` timed rounds after ``fts5_warm`` untimed queries (seconds a query at 1M)."""
    tmp = Path(tempfile.mkdtemp(prefix="lexical-1m-", dir=folder))
    out: dict = {"passages": n, "words_column": "empty (pyvi segmentation of 1M passages would take ~50 min)"}
    try:
        # the passages, once, to a file both engines read (never all in memory)
        started = time.perf_counter()
        data = tmp / "passages.tsv"
        chars = 0
        change = N_CHANGE
        with data.open("w", encoding="utf-8") as f:
            for text, context in synthetic_passages(n + change, sentences, titles, lengths, per_doc, seed):
                chars += len(text)
                f.write(f"{text}\t{context}\n")
        out["data"] = {"seconds": round(time.perf_counter() - started, 1), "characters": chars,
                       "mean_length": round(chars / (n + change), 1), "real_mean_length": round(float(np.mean(lengths)), 1),
                       "sentences": len(sentences), "titles": len(titles), "file_mb": _mb(data.stat().st_size)}
        _log(f"{n + change:,} passages written in {out['data']['seconds']} s")

        # tantivy, by LexicalIndex.rebuild (what a build and a repair run)
        gc.collect()
        resettable = _reset_peak()
        rss, cpu, started = _rss_mb(), _cpu(), time.perf_counter()
        lexicon = LexicalIndex(tmp, create=True)
        lexicon.rebuild(0, _rows(data, limit=n))
        wall = time.perf_counter() - started
        out["tantivy_build"] = {"seconds": round(wall, 1), "cpu_seconds": round(_cpu() - cpu, 1),
                                "passages_per_s": round(n / wall), "size_mb": _mb(_size(lexicon.path)),
                                "peak_rss_increase_mb": round(_peak_mb() - rss, 1) if resettable else None}
        _log(f"tantivy built in {wall:.1f} s")

        # FTS5 with the store's tokenizer and columns, one transaction, then 'optimize'
        gc.collect()
        _reset_peak()
        rss, cpu, started = _rss_mb(), _cpu(), time.perf_counter()
        con = sqlite3.connect(tmp / "fts5.sqlite", isolation_level=None, check_same_thread=False)
        con.execute(FTS5_TABLE)
        con.execute("BEGIN")
        con.executemany("INSERT INTO passages_fts (rowid, words, folded, context) VALUES (?,?,?,?)", _rows(data, limit=n))
        con.execute("COMMIT")
        inserted = time.perf_counter() - started
        con.execute("INSERT INTO passages_fts(passages_fts) VALUES ('optimize')")
        wall = time.perf_counter() - started
        out["fts5_build"] = {"seconds": round(wall, 1), "insert_seconds": round(inserted, 1),
                             "optimize_seconds": round(wall - inserted, 1), "cpu_seconds": round(_cpu() - cpu, 1),
                             "passages_per_s": round(n / wall), "size_mb": _mb(_size(tmp / "fts5.sqlite")),
                             "peak_rss_increase_mb": round(_peak_mb() - rss, 1) if resettable else None}
        _log(f"FTS5 built in {wall:.1f} s")

        # queries: the folded and context terms (no words column here)
        part = [LexicalQuery(folded=q.folded, context=q.context) for q in queries]
        keep = [i for i, q in enumerate(part) if q]
        rng = random.Random(seed)
        chosen = _stratified(keep, sources, tantivy_queries, rng) if tantivy_queries else keep
        sample = _stratified(chosen, sources, fts5_queries, rng)
        searcher = lexicon.searcher()
        counted = CountedPhrases(lexicon)
        table = _Fts5Table(con)
        calls = {
            "tantivy": lambda i: lexicon.search(searcher, part[i], weights, TOP_K),
            "tantivy_counted_phrases": lambda i: counted.search(searcher, part[i], weights, TOP_K),
            "tantivy_no_pairs": lambda i: lexicon.search(searcher, without_pairs(part[i]), weights, TOP_K),
        }
        fts5_call = lambda i: table.fts5(part[i].fts5(), TOP_K, weights)  # noqa: E731
        started = time.perf_counter()
        # the warm-up round on part of the queries: the index was just written, its files are in the page cache
        warm = {name: warm_queries for name in calls}
        times, results = interleaved({name: (chosen, call) for name, call in calls.items()}, rounds=rounds, seed=seed,
                                     warm_limit=warm)
        # FTS5 takes seconds a query: a few untimed, then its sample fts5_rounds, interleaved with tantivy's
        for i in sample[:fts5_warm]:
            fts5_call(i)
        sampled_times, sampled = interleaved({"tantivy": (sample, calls["tantivy"]), "fts5": (sample, fts5_call)},
                                             rounds=fts5_rounds, warm=False, seed=seed + 1)
        out["query_seconds"] = round(time.perf_counter() - started, 1)
        for name in calls:
            out[name] = {**_ms(list(times[name].values())), "empty": sum(not r for r in results[name].values()),
                         "rounds": rounds, "warm": min(warm_queries, len(chosen))}
        out["sample"] = {"queries": len(sample), "rounds": fts5_rounds, "warm": min(fts5_warm, len(sample)),
                         "tantivy": _ms(list(sampled_times["tantivy"].values())),
                         "fts5": {**_ms(list(sampled_times["fts5"].values())),
                                  "empty": sum(not r for r in sampled["fts5"].values())}}
        out["agreement"] = agreement(sampled["tantivy"], sampled["fts5"])
        out["agreement_at_100"] = agreement(sampled["tantivy"], sampled["fts5"], k=100)
        out["variants"] = {name: {"with_fts5": agreement(results[name], sampled["fts5"], sample),
                                  "with_tantivy": agreement(results[name], results["tantivy"])}
                           for name in calls if name != "tantivy"}
        _log(f"queries in {out['query_seconds']} s")

        # updates: add N_CHANGE new passages, delete N_CHANGE, each one commit (as qa add / qa remove)
        new = list(islice(_rows(data), n, None))  # the held-back passages, ids n+1 …
        gone = rng.sample(range(1, n + 1), change)
        updates = {f"tantivy_{k}": v for k, v in _tantivy_updates(lexicon, new, gone).items()}
        t = time.perf_counter()
        con.execute("BEGIN")
        con.executemany("INSERT INTO passages_fts (rowid, words, folded, context) VALUES (?,?,?,?)", new)
        con.execute("COMMIT")
        updates["fts5_add_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        con.execute("BEGIN")
        con.execute(f"DELETE FROM passages_fts WHERE rowid IN ({','.join('?' * len(gone))})", gone)
        con.execute("COMMIT")
        updates["fts5_delete_ms"] = (time.perf_counter() - t) * 1000
        out["update"] = {k: round(v, 1) for k, v in updates.items()}
        out["update"]["tantivy_passages_after"] = lexicon.searcher().num_docs - 1
        out["update"]["fts5_passages_after"] = con.execute("SELECT COUNT(*) FROM passages_fts").fetchone()[0]
        out["update"]["tantivy_generation_after"] = lexicon.generation(lexicon.searcher())
        con.close()
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def lexical_scale(settings: Settings, folder: Path = FULL_FOLDER, synthetic: int = 1_000_000,
                  n_dev: int = N_DEV, n_xquad: int = N_XQUAD, fts5_sample: int = FTS5_SAMPLE,
                  fts5_queries: int = SYNTH_FTS5, fts5_rounds: int = 1, tantivy_queries: int | None = SYNTH_QUERIES,
                  ) -> dict:
    """The engines at the full build's ~80k passages and at ``synthetic`` recombined passages,
    with the query encoding of the same queries. What is sampled (``fts5_sample`` of the
    queries for FTS5 at ~80k; ``tantivy_queries`` for tantivy at 1M, ``fts5_queries`` of
    those for FTS5) keeps it to about 7 minutes on 2 cores."""
    from qa.embedding import Embedder
    from qa.search import Searcher
    from qa.store import Index

    s = _full_settings(settings, folder)
    out: dict = {}
    started = time.perf_counter()
    embedder = Embedder(s)
    index = Index.open(s, embedder)
    try:
        searcher = Searcher(index)
        prepared = prepare_queries(searcher, load_queries(n_dev, n_xquad))
        out["queries"] = {"prepared": len(prepared), **{k: len(v) for k, v in _sources(prepared).items()}}
        out["setup_seconds"] = round(time.perf_counter() - started, 1)
        _log(f"{len(prepared)} queries prepared in {out['setup_seconds']} s")
        t = time.perf_counter()
        out["full"] = at_full_build(index, searcher, embedder, prepared, fts5_queries=fts5_sample)
        out["full"]["seconds"] = round(time.perf_counter() - t, 1)
        _log(f"~80k queries in {out['full']['seconds']} s")
        t = time.perf_counter()
        out["full"]["update"] = update_on_copy(index, s, embedder)
        out["full"]["update"]["seconds"] = round(time.perf_counter() - t, 1)
        _log(f"~80k updates in {out['full']['update']['seconds']} s")
        lengths, per_doc = real_shape(index.con)
        weights = tuple(searcher.config.bm25)
    finally:
        index.close()
    t = time.perf_counter()
    sentences, titles = corpus_sentences()
    out["sentences_seconds"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    out["synthetic"] = at_synthetic(synthetic, [p["lexical"] for p in prepared], weights, sentences, titles, lengths,
                                    per_doc, fts5_queries=fts5_queries, fts5_rounds=fts5_rounds,
                                    sources=[p["source"] for p in prepared], tantivy_queries=tantivy_queries)
    out["synthetic"]["seconds"] = round(time.perf_counter() - t, 1)
    del sentences
    encode = out["full"]["encode"]["p50_ms"]
    for name in ("tantivy", "tantivy_counted_phrases", "tantivy_no_pairs"):
        out["synthetic"][name]["p50_over_encode_p50"] = round(out["synthetic"][name]["p50_ms"] / encode, 3)
    out["synthetic"]["sample"]["fts5"]["p50_over_encode_p50"] = round(out["synthetic"]["sample"]["fts5"]["p50_ms"] / encode, 3)
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out



# -- 3. the report -------------------------------------------------------------------
def _n(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value >= 1000):
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _scale(n: int) -> str:
    """1M for a million, else the number (a trial run at another size says so)."""
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else _n(n)


def _load(values) -> str:
    return " / ".join(map(str, values)) + " (1 / 5 / 15 min)" if values else "?"


def markdown(results: dict) -> str:
    b, sc = results["full_build"], results["scale"]
    f, y = sc["full"], sc["synthetic"]
    u, yu = f["update"], y["update"]
    enc = f["encode"]["p50_ms"]
    goal = 1.3
    lines = [
        "# Lexical search at archive scale", "",
        f"Written by `python -m qa.bench_lexical` ({results['created']}, {results['machine']}, load average "
        f"{_load(results.get('load_average_at_start'))} at the start and {_load(results.get('load_average_at_end'))} "
        "at the end, other jobs sharing the machine: read the ratios of numbers measured side by side, not the "
        "absolute values). Raw numbers: `eval/reports/lexical-scale.json`.", "",
        "## The full build of the shared corpus", "",
        f"`qa.store.build_index` of the {_n(b['documents'])} documents of `../shared/corpora/vn-official-1114.jsonl.gz` "
        f"(in `{FULL_FOLDER}`), in a child process of its own"
        + (" (reused: the numbers are those of the run that built it, "
           f"{b.get('created', '?')})." if b.get("reused") else "."), "",
        "| measure | value |", "|---|---:|",
        f"| documents / passages | {_n(b['documents'])} / {_n(b['passages'])} |",
        f"| wall time of the build | {_n(b['seconds'])} s ({b['seconds'] / 60:.1f} min) |",
        f"| of which embedding | {_n(b['embed_seconds'])} s ({b['embed_seconds'] / max(b['seconds'], 1e-9):.0%}) |",
        f"| passages/s | {_n(b['passages_per_s'])} |",
        f"| passage vectors computed / found in the embedding cache | {_n(b['embedded'])} / {_n(b['from_cache'])} |",
        f"| peak RSS of the build process | {_n(b['peak_rss_mb'])} MB (model loaded: {_n(b['rss_model_loaded_mb'])} MB) |",
        f"| CPU time | {_n(b['cpu_seconds'])} s ({b['backend']}, batch {b['batch_size']}) |", "",
        "Passages/s counts every passage, computed or from the cache: the rate of the model alone is "
        f"{b['embedded'] / max(b['embed_seconds'], 1e-9):.1f} computed passages per second of embedding.", "",
        f"## ~80k passages: the full build ({_n(f['passages'])} passages)", "",
        f"{sc['queries']['prepared']} queries ({sc['queries'].get('district-docs', 0)} of the development set, "
        f"{sc['queries'].get('xquad-vi', 0)} XQuAD-vi questions), each made into a `LexicalQuery` as a search makes it "
        "(`understand`, then `Searcher.lexical_query`: pyvi words, folded syllables and syllable pairs, the syllables "
        f"again for the title and section). Top {f['top_k']}, the ranker's weights {tuple(f['weights'])}. "
        "`Index.lexical` (tantivy, checked to be the engine it used; a folded syllable pair is a term of its `pairs` "
        "field) against `Index.fts5` (the same query's MATCH expression) and `Embedder.encode_query` of the query's "
        "dense text, all interleaved in random order: an untimed round, then "
        f"{f['rounds']} timed; per query the median, then p50/p95 over the queries. FTS5, a quarter of a second a "
        f"query, answers a sample of {f['fts5_sample']} of the queries (as many of each source), "
        f"{f.get('fts5_warm', '?')} of them in the untimed round and all in the first timed round only; the others "
        "answer every query in every round.", "",
        "| step | queries | p50 ms | p95 ms | p50 ÷ query encoding p50 |", "|---|---:|---:|---:|---:|",
        f"| query encoding (OpenVINO) | {f['encode']['queries']} | {f['encode']['p50_ms']} | {f['encode']['p95_ms']} | 1 |",
        f"| tantivy (`Index.lexical`) | {f['tantivy']['queries']} | {f['tantivy']['p50_ms']} | {f['tantivy']['p95_ms']} | "
        f"**{f['tantivy']['p50_over_encode_p50']}** |",
        f"| FTS5 (`Index.fts5`), the sample | {f['fts5']['queries']} | {f['fts5']['p50_ms']} | {f['fts5']['p95_ms']} | "
        f"**{f['fts5']['p50_over_encode_p50']}** |", "",
        "| queries | tantivy p50 / p95 ms | FTS5 p50 / p95 ms (sample) | encoding p50 / p95 ms |", "|---|---:|---:|---:|",
    ]
    for source, m in f["by_source"].items():
        lines.append(f"| {source} ({m['tantivy']['queries']}; FTS5 {m['fts5']['queries']}) | {m['tantivy']['p50_ms']} / "
                     f"{m['tantivy']['p95_ms']} | {m['fts5']['p50_ms']} / {m['fts5']['p95_ms']} | "
                     f"{m['encode']['p50_ms']} / {m['encode']['p95_ms']} |")
    a = f["agreement"]
    lines += [
        "", f"Agreement of tantivy with FTS5 on FTS5's sample: overlap@10 **{a['overlap_at_10']}**, same top-1 "
        f"{a['same_top1']}, overlap@100 {f['agreement_at_100']['overlap_at_100']} ({a['queries']} queries; "
        + ", ".join(f"{s} {v['overlap_at_10']}" for s, v in f["agreement_by_source"].items()) + " overlap@10).", "",
        "### `qa remove` / `qa add` on the full build", "",
        f"On a copy of the build in /tmp (copied in {u['copy_seconds']} s; `{FULL_FOLDER}` is never changed): "
        f"`Index.remove` of {len(u['documents'])} documents ({u['passages_removed']} passages), then `Index.add` of the "
        f"same documents again ({u['passages_added']} passages; their vectors come from the embedding cache). "
        "Times from wrappers around the steps inside (`LexicalIndex.write`, `qa.store._write_faiss`, "
        "`iter_documents`, `chunk_document`, `lexical_fields`, `extract_targets` + `extract_relations`, "
        "`Embedder.encode_passages`); the rest is SQLite (the rows of passages, FTS5, targets, relations and the "
        "commit), copying and changing the FAISS index in memory, and reading the documents' metadata again.", "",
        "| change, ms | total | tantivy commit | FAISS file written | reading the file | chunking | "
        "lexical rows (pyvi, fold) | targets, relations | embedding (cache) | rest |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for step, m in u["steps_ms"].items():
        lines.append(f"| {step} ({u['passages_removed'] if step == 'remove' else u['passages_added']} passages) | "
                     + " | ".join(_n(m.get(k, 0)) for k in ("total", "tantivy_write", "faiss_write", "reading", "chunking",
                                                             "lexical_fields", "targets_relations", "embedding", "rest"))
                     + " |")
    s1 = y["sample"]
    lines += [
        "", f"After the changes `Index.lexical` answers with **{u['engine_after']}** (the tantivy index is of the "
        f"generation SQLite committed), and tantivy holds {_n(u['tantivy_passages_after'])} passages, SQLite "
        f"{_n(u['counts_after'][1])}.", "",
        f"## {_scale(y['passages'])} passages recombined from the real sentences ({_n(y['passages'])})", "",
        f"The {_n(y['data']['sentences'])} sentences of the shared corpus (folded with `qa.text.fold`, split at . ; : ! ? "
        "and line breaks), shuffled with a fixed seed and packed into passages whose lengths are drawn from the full "
        f"build's passage lengths (mean {y['data']['real_mean_length']} characters; here {y['data']['mean_length']}), "
        "in runs of the full build's passages-per-document counts sharing a real document's folded title as context. "
        "The `words` column is left empty: pyvi segmentation takes about 50 minutes a million passages. "
        f"{_n(y['data']['characters'])} characters, written once to a file both engines read "
        f"({y['data']['seconds']} s). One tantivy index (with its `pairs` field) and one FTS5 table are built; the "
        "queries: the folded and context terms of the same `LexicalQuery`s.", "",
        "| measure | tantivy (`LexicalIndex.rebuild`) | FTS5 (the store's table) |", "|---|---:|---:|",
        f"| build, wall s | {_n(y['tantivy_build']['seconds'])} | {_n(y['fts5_build']['seconds'])} "
        f"(insert {y['fts5_build']['insert_seconds']} + optimize {y['fts5_build']['optimize_seconds']}) |",
        f"| build, CPU s | {_n(y['tantivy_build']['cpu_seconds'])} | {_n(y['fts5_build']['cpu_seconds'])} |",
        f"| build, passages/s (wall) | {_n(y['tantivy_build']['passages_per_s'])} | {_n(y['fts5_build']['passages_per_s'])} |",
        f"| size on disk | {_n(y['tantivy_build']['size_mb'])} MB | {_n(y['fts5_build']['size_mb'])} MB (with its copy of the text) |",
        f"| peak RSS increase while building | {_n(y['tantivy_build']['peak_rss_increase_mb'])} MB | "
        f"{_n(y['fts5_build']['peak_rss_increase_mb'])} MB |",
        f"| query p50 / p95 ms, {y['tantivy']['queries']} queries | {y['tantivy']['p50_ms']} / {y['tantivy']['p95_ms']} | "
        "(not run: seconds a query) |",
        f"| query p50 / p95 ms, the sample of {s1['queries']} | {s1['tantivy']['p50_ms']} / "
        f"{s1['tantivy']['p95_ms']} | {s1['fts5']['p50_ms']} / {s1['fts5']['p95_ms']} |",
        f"| p50 ÷ query encoding p50 (~80k run) | **{y['tantivy']['p50_over_encode_p50']}** | "
        f"**{s1['fts5']['p50_over_encode_p50']}** |",
        f"| add {N_CHANGE} passages, one commit | {_n(yu['tantivy_add_ms'])} ms | {_n(yu['fts5_add_ms'])} ms |",
        f"| delete {N_CHANGE} passages, one commit | {_n(yu['tantivy_delete_ms'])} ms | {_n(yu['fts5_delete_ms'])} ms |",
        f"| replace {N_CHANGE // 2} passages (delete + add, one commit) | {_n(yu['tantivy_replace_ms'])} ms | – |", "",
        f"tantivy answers {y['tantivy']['queries']} of the queries (as many of each source), "
        f"{y['tantivy'].get('rounds', 2)} timed rounds after an untimed one of {y['tantivy'].get('warm', '?')} of them; "
        f"FTS5, which takes seconds a query at this size, answers a sample of {s1['queries']} of those (as many of each "
        f"source), {s1['rounds']} timed round after {s1.get('warm', '?')} untimed queries, interleaved with tantivy on "
        f"the same sample. Agreement on the sample: overlap@10 **{y['agreement']['overlap_at_10']}**, "
        f"same top-1 {y['agreement']['same_top1']}, overlap@100 {y['agreement_at_100']['overlap_at_100']}.", "",
        "### The syllable pairs", "",
        "The query's syllable pairs (\"ke hoach\", \"ngan sach\") are the commonest phrases of a `LexicalQuery`. "
        "The search reads each one as a term of the tantivy index's `pairs` field (each adjacent pair of the folded "
        "tokens as one token, `ke_hoach`): its passage count is in the term dictionary and its postings can be skipped "
        "like any term's. Measured beside it, in the same interleaved rounds, on the same queries and the same index:", "",
        "* **phrases counted (before)** (`CountedPhrases`, what the search did before the field): each pair a phrase "
        "of `folded`, first counted over the whole index (every posting of both syllables, positions compared) to give "
        "it FTS5's idf, then run again by the search;",
        "* **no pairs**: the pairs left out: a lower bound on the time, not the search's ranking (its overlaps below).", "",
        "| tantivy query | ~80k p50 / p95 ms | ÷ encoding | overlap@10 with FTS5 (sample) / with the search's | "
        f"{_scale(y['passages'])} p50 / p95 ms | ÷ encoding | overlap@10 with FTS5 (sample) / with the search's |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| as the search runs it (`Index.lexical`, pairs field) | {f['tantivy']['p50_ms']} / {f['tantivy']['p95_ms']} | "
        f"**{f['tantivy']['p50_over_encode_p50']}** | {a['overlap_at_10']} / 1 | {y['tantivy']['p50_ms']} / "
        f"{y['tantivy']['p95_ms']} | **{y['tantivy']['p50_over_encode_p50']}** | {y['agreement']['overlap_at_10']} / 1 |",
    ]
    for name, label in (("tantivy_counted_phrases", "phrases counted (before)"), ("tantivy_no_pairs", "no pairs")):
        fv, yv = f["variants"][name], y["variants"][name]
        lines.append(
            f"| {label} | {f[name]['p50_ms']} / {f[name]['p95_ms']} | {f[name]['p50_over_encode_p50']} | "
            f"{fv['with_fts5']['overlap_at_10']} / {fv['with_tantivy']['overlap_at_10']} | {y[name]['p50_ms']} / "
            f"{y[name]['p95_ms']} | {y[name]['p50_over_encode_p50']} | {yv['with_fts5']['overlap_at_10']} / "
            f"{yv['with_tantivy']['overlap_at_10']} |")
    lines += ["", "## Choice", ""]
    lines += _choice(f, y, u, enc, goal)
    lines += ["", "Time taken: full build part "
              + (f"{b.get('part_seconds', 0)} s (reused)" if b.get("reused") else f"{_n(b['seconds'])} s")
              + f"; `lexical_scale` {sc['seconds']} s (setup {sc['setup_seconds']} s, ~80k queries {f['seconds']} s, "
              f"~80k updates {u['seconds']} s, sentences {sc['sentences_seconds']} s, {_scale(y['passages'])} part {y['seconds']} s).", ""]
    return "\n".join(lines)


def _choice(f: dict, y: dict, u: dict, enc: float, goal: float) -> list[str]:
    """What the numbers say about the choice (tantivy with its pairs field, FTS5 kept as the
    truth): every claim below is computed from them."""
    t80, f80, c80 = (f[k]["p50_over_encode_p50"] for k in ("tantivy", "fts5", "tantivy_counted_phrases"))
    t1m, c1m = y["tantivy"]["p50_over_encode_p50"], y["tantivy_counted_phrases"]["p50_over_encode_p50"]
    f1m = y["sample"]["fts5"]["p50_over_encode_p50"]
    cv80, cv1m = f["variants"]["tantivy_counted_phrases"], y["variants"]["tantivy_counted_phrases"]

    def meets(ratio: float) -> str:
        return f"{ratio}× (within {goal}×)" if ratio <= goal else f"{ratio}× (**not** within {goal}×)"

    def faster(before: float, now: float) -> str:  # the pairs field against the counted phrases, p50
        if now <= 0 or before <= 0:
            return "–"
        return f"{before / now:.1f}× faster" if before >= now else f"{now / before:.1f}× **slower**"

    def same_ranking(v: dict) -> str:
        o = v["with_tantivy"]["overlap_at_10"]
        if o is None:
            return "no queries to compare"
        return (f"the same ranking, overlap@10 {o} with the search's" if o >= 0.99 else
                f"nearly the same ranking, overlap@10 {o} with the search's" if o >= 0.9 else
                f"a different ranking, overlap@10 {o} with the search's")

    engine = ("tantivy" if t80 <= goal else "tantivy (the faster engine, though **not** within the goal)") \
        if t80 <= f80 else "FTS5 (tantivy is not faster here)"
    lines = [
        f"**{engine}, syllable pairs as terms of its pairs field, with FTS5 kept in the SQLite transaction as the "
        "source of truth** (what `qa.store` and `qa.lexical` do).", "",
        f"* At ~80k passages the query encoding takes {enc} ms at p50. FTS5 takes {f['fts5']['p50_ms']} ms, "
        f"{meets(f80)}"
        + (": it scores every passage a query's syllables occur in, and the common ones occur in most of them. "
           if f80 > goal else ". ")
        + f"tantivy takes {f['tantivy']['p50_ms']} ms, {meets(t80)}. The pairs field makes it "
        f"{faster(f['tantivy_counted_phrases']['p50_ms'], f['tantivy']['p50_ms'])} than counting the pairs as phrases "
        f"({f['tantivy_counted_phrases']['p50_ms']} ms, {c80}×), for {same_ranking(cv80)}; with FTS5 overlap@10 "
        f"{f['agreement']['overlap_at_10']} against the counted phrases' {cv80['with_fts5']['overlap_at_10']}.",
        f"* At {_scale(y['passages'])} passages (folded and context columns only) the ratios to the same query encoding are: FTS5 {f1m}×, "
        f"tantivy {t1m}×, phrases counted {c1m}× (the pairs field {faster(y['tantivy_counted_phrases']['p50_ms'], y['tantivy']['p50_ms'])}, "
        f"{same_ranking(cv1m)}). "
        + (f"Within {goal}× even here." if t1m <= goal else
           f"tantivy is **not** within {goal}× here: at this size the lexical step outgrows the encoding on one "
           "machine (docs/scaling.md says where a cluster takes over)."),
    ]
    remove, add = u["steps_ms"]["remove"], u["steps_ms"]["add"]
    yu = y["update"]
    consistent = u["tantivy_passages_after"] == u["counts_after"][1]
    lines += [
        f"* `qa add` / `qa remove` stay incremental: on the full build removing {u['passages_removed']} passages took "
        f"{_n(remove['total'])} ms (tantivy's commit {_n(remove.get('tantivy_write', 0))} ms, writing the FAISS file "
        f"{_n(remove.get('faiss_write', 0))} ms) and adding {u['passages_added']} {_n(add['total'])} ms (tantivy "
        f"{_n(add.get('tantivy_write', 0))} ms); at {_scale(y['passages'])} a tantivy commit of {N_CHANGE} added / deleted passages takes "
        f"{_n(yu['tantivy_add_ms'])} / {_n(yu['tantivy_delete_ms'])} ms, FTS5's {_n(yu['fts5_add_ms'])} / "
        f"{_n(yu['fts5_delete_ms'])} ms.",
        "* And atomic: every change is one SQLite transaction (passages, FTS5, meta naming the FAISS file); tantivy "
        "commits just before it, naming the generation it is of, and a search uses the tantivy snapshot only when it "
        "is of the generation the search reads, else FTS5 (between the two commits, or after a crash between them "
        "until `LexicalIndex.rebuild` on open puts tantivy back in line from FTS5). After the changes above "
        f"`Index.lexical` answered with {u['engine_after']}, tantivy holding "
        + ("as many passages as SQLite." if consistent else
           f"**{_n(u['tantivy_passages_after'])}** passages against SQLite's {_n(u['counts_after'][1])}."),
        f"* FTS5 stays: the fallback, the store's truth and what tantivy is rebuilt from. Its cost is its copy of the "
        f"text on disk ({_n(y['fts5_build']['size_mb'])} MB at {_scale(y['passages'])} against tantivy's {_n(y['tantivy_build']['size_mb'])} MB) "
        "and its rows in each change.",
    ]
    return lines


# -- the command ---------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m qa.bench_lexical", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("full-build", "scale"), help="one part (default: both, and the report)")
    parser.add_argument("--rebuild", action="store_true", help="build the full index again even if current")
    parser.add_argument("--limit", type=int, help="full build of the first N documents only (a trial; no report)")
    parser.add_argument("--folder", type=Path, default=FULL_FOLDER)
    args = parser.parse_args(argv)
    settings = Settings()
    if args.limit or args.only == "full-build":
        result = full_build(settings, args.folder, rebuild=args.rebuild, limit=args.limit)
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return result
    results = {"created": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{os.cpu_count()} cores",
               "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    started = time.perf_counter()
    results["full_build"] = full_build(settings, args.folder, rebuild=args.rebuild)
    results["full_build"]["part_seconds"] = round(time.perf_counter() - started, 1)
    results["scale"] = lexical_scale(settings, args.folder)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "lexical-scale.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    text = markdown(results)
    (REPORTS / "lexical-scale.md").write_text(text)
    print(text)
    return results


if __name__ == "__main__":
    main()
