"""Compare lexical engines on the passages of the 1,114 real documents.

SQLite FTS5 (what ``qa.store`` uses) against bm25s and tantivy, on the folded
form of every passage (``qa.text.fold``), so that pyvi segmentation is out of
the comparison; pyvi's throughput is measured on its own on a sample, since it
is part of our build cost.

Measured for each engine:

* build: passages/s (wall and CPU), including the engine's own tokenisation and
  what it needs to be on disk (FTS5: INSERT + 'optimize' + commit, as
  ``qa.store.build_index`` does; bm25s: tokenise + index + save; tantivy: add +
  commit + merges);
* size on disk, and peak RSS increase while building (``VmHWM``);
* opening a built index in a fresh process: time, and RSS increase after opening
  it and answering every query once (what a server holds);
* query latency p50/p95 for ~240 queries (the development set's queries and 100
  XQuAD-vi questions, folded, question words dropped, an OR of the syllables, as
  ``qa.search.Searcher.lexical_expression`` builds for the folded column), top 100.
  All engines are timed in one process, interleaved query by query, 3 rounds,
  so the machine's load hits them alike; the ratios are what to read;
* incremental update: add 100 new passages and delete 100 (FTS5 and tantivy:
  in place; bm25s has no update, so: rebuild the whole index and save it);
* agreement: overlap@10 of each engine's ranking with FTS5's.

Every engine step runs in its own subprocess, one after the other, so the RSS
numbers are its own. Temporary indexes live in a temporary folder, removed at
the end; the corpus is read from ``/work/shared`` and never copied.

    .venv/bin/python eval/scripts/lexical_engines.py            # writes eval/reports/lexical-engines.{md,json}
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import pickle
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path("/work/shared/corpora/vn-official-1114.jsonl.gz")
DEV_QUERIES = ROOT / "eval/datasets/district-docs/queries.jsonl"
XQUAD_QUERIES = Path("/work/shared/bench/xquad-vi/queries.jsonl")
REPORT = ROOT / "eval/reports/lexical-engines.md"

SEED = 20261122
N_XQUAD = 100
N_UPDATE = 100
PYVI_SAMPLE = 2000
TOP_K = 100  # candidates, as qa.search.CANDIDATES
ROUNDS = 3
TOKEN = re.compile(r"\w+")  # FTS5 unicode61 with tokenchars '_': letters, digits, '_'

# (name, kind, options). bm25s-fts5: the BM25 variant FTS5 computes (k1 1.2,
# b 0.75, idf log((N-n+0.5)/(n+0.5))); bm25s: the library's defaults (Lucene, k1 1.5).
ENGINES = [
    ("fts5", "fts5", {}),
    ("bm25s", "bm25s", {"method": "lucene", "k1": 1.5, "b": 0.75}),
    ("bm25s-fts5", "bm25s", {"method": "robertson", "k1": 1.2, "b": 0.75}),
    ("tantivy", "tantivy", {}),
]


# -- measuring ---------------------------------------------------------------------
def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of this process, in bytes."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":")
            out[key] = int(value.split()[0]) * 1024
    return out


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# -- engines -----------------------------------------------------------------------
class Fts5:
    """One folded column, the tokenizer of qa.store's passages_fts."""

    file = "fts5.sqlite"

    def __init__(self, folder: Path, options: dict):
        self.path = folder / self.file
        self.con: sqlite3.Connection | None = None

    def build(self, ids: list[int], texts: list[str]) -> dict:
        con = sqlite3.connect(self.path)
        con.execute(
            "CREATE VIRTUAL TABLE fts USING fts5(folded, "
            "tokenize = \"unicode61 remove_diacritics 0 tokenchars '_'\")"
        )
        t = time.perf_counter()
        con.executemany("INSERT INTO fts (rowid, folded) VALUES (?, ?)", zip(ids, texts))
        con.commit()
        insert = time.perf_counter() - t
        con.execute("INSERT INTO fts(fts) VALUES ('optimize')")
        con.commit()
        detail = {"insert_s": insert, "optimize_s": time.perf_counter() - t - insert}
        try:
            rows = con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
            detail["tables_bytes"] = dict(rows)
        except sqlite3.OperationalError:
            pass
        con.close()
        return detail

    def open(self) -> None:
        self.con = sqlite3.connect(self.path)

    def search(self, terms: list[str], k: int, phrases: list[str] = ()) -> list[int]:
        parts = list(dict.fromkeys(terms)) + list(dict.fromkeys(phrases))
        if not parts:
            return []
        expression = " OR ".join('"' + p.replace('"', '""') + '"' for p in parts)
        rows = self.con.execute(
            "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?", (expression, k)
        ).fetchall()
        return [r[0] for r in rows]

    def update(self, add_ids, add_texts, delete_ids, all_ids, all_texts) -> dict:
        con = sqlite3.connect(self.path)
        t = time.perf_counter()
        con.executemany("INSERT INTO fts (rowid, folded) VALUES (?, ?)", zip(add_ids, add_texts))
        con.commit()
        added = time.perf_counter() - t
        t = time.perf_counter()
        con.executemany("DELETE FROM fts WHERE rowid = ?", [(i,) for i in delete_ids])
        con.commit()
        deleted = time.perf_counter() - t
        count = con.execute("SELECT COUNT(*) FROM fts").fetchone()[0]
        con.close()
        return {"add_s": added, "delete_s": deleted, "total_s": added + deleted, "count_after": count}


class Bm25s:
    """bm25s over the same tokens (pre-tokenised with FTS5's rule), saved to a folder."""

    def __init__(self, folder: Path, options: dict, name: str = "bm25s"):
        self.path = folder / name
        self.options = options
        self.model = None
        self.ids = None

    def _index(self, ids: list[int], texts: list[str]) -> None:
        import bm25s
        import numpy as np

        model = bm25s.BM25(**self.options)
        model.index([tokens(t) for t in texts], show_progress=False)
        if self.path.exists():
            shutil.rmtree(self.path)
        model.save(self.path, show_progress=False)
        np.save(self.path / "passage_ids.npy", np.asarray(ids, dtype=np.int64))

    def build(self, ids: list[int], texts: list[str]) -> dict:
        self._index(ids, texts)
        return {}

    def open(self) -> None:
        import bm25s
        import numpy as np

        self.model = bm25s.BM25.load(self.path, show_progress=False)
        self.ids = np.load(self.path / "passage_ids.npy")

    def search(self, terms: list[str], k: int, phrases: list[str] = ()) -> list[int]:
        unique = list(dict.fromkeys(terms))
        if not unique:
            return []
        docs, scores = self.model.retrieve([unique], k=k, show_progress=False, n_threads=0)
        return [int(self.ids[d]) for d, s in zip(docs[0], scores[0]) if s > 0]

    def update(self, add_ids, add_texts, delete_ids, all_ids, all_texts) -> dict:
        gone = set(delete_ids)
        keep = [(i, t) for i, t in zip(all_ids, all_texts) if i not in gone]
        keep += list(zip(add_ids, add_texts))
        t = time.perf_counter()
        self._index([i for i, _ in keep], [x for _, x in keep])
        seconds = time.perf_counter() - t
        return {"rebuild_s": seconds, "total_s": seconds, "count_after": len(keep)}


class Tantivy:
    """tantivy with a u64 passage id (fast field, for deletes and ids) and a folded
    text field tokenised like FTS5 (\\w+ runs, lower case); one indexing thread."""

    def __init__(self, folder: Path, options: dict):
        self.path = folder / "tantivy"
        self.index = None
        self.searcher = None

    def _open(self, create: bool):
        import tantivy

        schema_builder = tantivy.SchemaBuilder()
        schema_builder.add_unsigned_field("id", stored=True, indexed=True, fast=True)
        schema_builder.add_text_field("folded", stored=False, tokenizer_name="fts5like", index_option="freq")
        schema = schema_builder.build()
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
            index = tantivy.Index(schema, path=str(self.path))
        else:
            index = tantivy.Index.open(str(self.path))
        analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(r"\w+")).filter(tantivy.Filter.lowercase()).build()
        )
        index.register_tokenizer("fts5like", analyzer)
        return index

    def _write(self, index, ids, texts, delete_ids=()) -> tuple[float, float]:
        import tantivy

        writer = index.writer(heap_size=128_000_000, num_threads=1)
        t = time.perf_counter()
        for i, text in zip(ids, texts):
            doc = tantivy.Document()
            doc.add_unsigned("id", i)
            doc.add_text("folded", text)
            writer.add_document(doc)
        writer.commit()
        added = time.perf_counter() - t
        t = time.perf_counter()
        if delete_ids:
            schema = index.schema
            for i in delete_ids:  # by_term with a Python int does not match a u64 field; a term query does
                writer.delete_documents_by_query(tantivy.Query.term_query(schema, "id", i))
            writer.commit()
        deleted = time.perf_counter() - t
        writer.wait_merging_threads()
        return added, deleted

    def build(self, ids: list[int], texts: list[str]) -> dict:
        index = self._open(create=True)
        self._write(index, ids, texts)
        return {}

    def open(self) -> None:
        self.index = self._open(create=False)
        self.index.reload()
        self.searcher = self.index.searcher()
        self.schema = self.index.schema

    def search(self, terms: list[str], k: int, phrases: list[str] = ()) -> list[int]:
        import tantivy

        unique = list(dict.fromkeys(terms))
        if not unique:
            return []
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "folded", t, index_option="freq")) for t in unique]
        )
        hits = self.searcher.search(query, limit=k, count=False).hits
        return self.searcher.fast_field_values("id", [address for _, address in hits]) if hits else []

    def update(self, add_ids, add_texts, delete_ids, all_ids, all_texts) -> dict:
        index = self._open(create=False)
        t = time.perf_counter()
        added, deleted = self._write(index, add_ids, add_texts, delete_ids)
        total = time.perf_counter() - t
        index.reload()
        count = index.searcher().num_docs
        return {"add_s": added, "delete_s": deleted, "total_s": total, "count_after": count}


def make_engine(name: str, folder: Path):
    kind, options = next((k, o) for n, k, o in ENGINES if n == name)
    if kind == "fts5":
        return Fts5(folder, options)
    if kind == "bm25s":
        return Bm25s(folder, options, name)
    return Tantivy(folder, options)


def engine_path(engine) -> Path:
    return engine.path


# -- worker phases (each in its own process) ----------------------------------------
def load_data(work: Path) -> dict:
    with open(work / "data.pickle", "rb") as f:
        return pickle.load(f)


def phase_build(name: str, work: Path) -> dict:
    data = load_data(work)
    ids, texts = data["base_ids"], [data["texts"][i] for i in data["base_ids"]]
    gc.collect()
    before = proc_status()
    engine = make_engine(name, work)
    wall, cpu = time.perf_counter(), time.process_time()
    detail = engine.build(ids, texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = proc_status()
    return {
        "passages": len(ids),
        "build_s": wall,
        "build_cpu_s": cpu,
        "passages_per_s": len(ids) / wall,
        "passages_per_cpu_s": len(ids) / cpu,
        "disk_bytes": folder_size(engine_path(engine)),
        "build_peak_rss_delta": after["VmHWM"] - before["VmRSS"],
        "build_rss_delta_after": after["VmRSS"] - before["VmRSS"],
        **detail,
    }


def phase_serve(name: str, work: Path) -> dict:
    """Fresh process: open the index, answer every query once; RSS held."""
    queries = json.loads((work / "queries.json").read_text())
    engine = make_engine(name, work)
    # the library's import is baseline, not the index's memory
    if name.startswith("bm25s"):
        import bm25s  # noqa: F401
        import numpy  # noqa: F401
    elif name == "tantivy":
        import tantivy  # noqa: F401
    gc.collect()
    before = proc_status()
    t = time.perf_counter()
    engine.open()
    first = engine.search(queries[0]["terms"], TOP_K)
    open_s = time.perf_counter() - t
    opened = proc_status()
    for q in queries:
        engine.search(q["terms"], TOP_K)
    after = proc_status()
    return {
        "open_s": open_s,
        "open_rss_delta": opened["VmRSS"] - before["VmRSS"],
        "serve_rss_delta": after["VmRSS"] - before["VmRSS"],
        "serve_peak_rss_delta": after["VmHWM"] - before["VmRSS"],
        "first_query_results": len(first),
    }


def phase_query(names: list[str], work: Path) -> dict:
    """All engines in one process, interleaved query by query, ROUNDS rounds."""
    queries = json.loads((work / "queries.json").read_text())
    engines = {n: make_engine(n, work) for n in names}
    for engine in engines.values():
        engine.open()
    variants = [(n, n, False) for n in names] + [("fts5+pairs", "fts5", True)]
    times: dict[str, list[list[float]]] = {v: [[] for _ in queries] for v, _, _ in variants}
    rankings: dict[str, list[list[int]]] = {v: [] for v, _, _ in variants}
    for q in queries:  # warm-up round, and the rankings
        for v, n, pairs in variants:
            rankings[v].append([int(x) for x in engines[n].search(q["terms"], TOP_K, q["pairs"] if pairs else ())])
    rng = random.Random(SEED)
    for _ in range(ROUNDS):
        for qi, q in enumerate(queries):
            order = variants[:]
            rng.shuffle(order)
            for v, n, pairs in order:
                t = time.perf_counter()
                engines[n].search(q["terms"], TOP_K, q["pairs"] if pairs else ())
                times[v][qi].append(time.perf_counter() - t)
    latency = {}
    for v in times:
        per_query = [statistics.median(ts) * 1000 for ts in times[v]]
        latency[v] = {
            "p50_ms": percentile(per_query, 0.5),
            "p95_ms": percentile(per_query, 0.95),
            "mean_ms": statistics.fmean(per_query),
            "by_source_p50_ms": {
                src: percentile([t for t, q in zip(per_query, queries) if q["source"] == src], 0.5)
                for src in sorted({q["source"] for q in queries})
            },
        }
    return {"latency": latency, "rankings": rankings}


def phase_update(name: str, work: Path) -> dict:
    data = load_data(work)
    texts = data["texts"]
    engine = make_engine(name, work)
    add_ids = data["new_ids"]
    return engine.update(
        add_ids, [texts[i] for i in add_ids], data["delete_ids"], data["base_ids"], [texts[i] for i in data["base_ids"]]
    )


def worker(phase: str, names: list[str], work: Path) -> None:
    if phase == "build":
        result = phase_build(names[0], work)
    elif phase == "serve":
        result = phase_serve(names[0], work)
    elif phase == "query":
        result = phase_query(names, work)
    else:
        result = phase_update(names[0], work)
    print(json.dumps(result))


def run_worker(phase: str, names: list[str], work: Path) -> dict:
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--worker", phase, "--work", str(work), *names],
        capture_output=True, text=True, cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{phase} {names} failed:\n{out.stderr[-3000:]}")
    print(f"  {phase:<6} {' '.join(names):<34} {time.perf_counter() - t:6.1f} s", flush=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- preparation (main process) ------------------------------------------------------
def prepare(work: Path, limit_docs: int | None = None) -> dict:
    sys.path.insert(0, str(ROOT))
    from qa.chunking import chunk_document
    from qa.documents import iter_documents
    from qa.search import _QUESTION_WORDS
    from qa.text import fold, segment

    t = time.perf_counter()
    documents = list(itertools.islice(iter_documents(CORPUS), limit_docs))
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    passages = [p for doc in documents for p in chunk_document(doc)]
    chunk_s = time.perf_counter() - t
    t = time.perf_counter()
    texts = [fold(p.text) for p in passages]
    fold_s = time.perf_counter() - t
    raw_chars = sum(len(p.text) for p in passages)

    rng = random.Random(SEED)
    ids = list(range(len(texts)))
    new_ids = sorted(rng.sample(ids, N_UPDATE))
    base_ids = [i for i in ids if i not in set(new_ids)]
    delete_ids = sorted(rng.sample(base_ids, N_UPDATE))

    # pyvi segmentation, the part of our build left out of the comparison
    sample = rng.sample(passages, min(PYVI_SAMPLE, len(passages)))
    segment("khởi động mô hình")  # loads pyvi's model
    t, cpu = time.perf_counter(), time.process_time()
    for p in sample:
        segment(p.text)
    pyvi_s, pyvi_cpu = time.perf_counter() - t, time.process_time() - cpu
    pyvi_chars = sum(len(p.text) for p in sample)

    queries = []
    for path, source, limit in ((DEV_QUERIES, "district-docs", None), (XQUAD_QUERIES, "xquad-vi", N_XQUAD)):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if limit:
            rows = random.Random(SEED).sample(rows, limit)
        for row in rows:
            folded = _QUESTION_WORDS.sub(" ", " ".join(tokens(fold(row["text"]))))
            syllables = folded.split()
            queries.append({
                "id": row["_id"], "source": source, "text": row["text"],
                "terms": syllables, "pairs": [" ".join(p) for p in zip(syllables, syllables[1:])],
            })
    queries = [q for q in queries if q["terms"]]

    with open(work / "data.pickle", "wb") as f:
        pickle.dump({"texts": texts, "base_ids": base_ids, "new_ids": new_ids, "delete_ids": delete_ids}, f)
    (work / "queries.json").write_text(json.dumps(queries, ensure_ascii=False))
    return {
        "documents": len(documents), "passages": len(passages), "base_passages": len(base_ids),
        "raw_chars": raw_chars, "folded_bytes": sum(len(t.encode()) for t in texts),
        "folded_tokens": sum(len(tokens(t)) for t in texts),
        "load_s": load_s, "chunk_s": chunk_s, "fold_s": fold_s,
        "pyvi": {"passages": len(sample), "chars": pyvi_chars, "seconds": pyvi_s, "cpu_seconds": pyvi_cpu,
                 "passages_per_s": len(sample) / pyvi_s, "chars_per_s": pyvi_chars / pyvi_s,
                 "full_corpus_estimate_s": len(passages) / (len(sample) / pyvi_s)},
        "queries": {src: sum(q["source"] == src for q in queries) for src in ("district-docs", "xquad-vi")},
    }


def overlap(a: list[int], b: list[int], k: int = 10) -> float | None:
    a, b = a[:k], b[:k]
    if not a and not b:
        return None
    return len(set(a) & set(b)) / max(len(a), len(b))


def agreement(rankings: dict[str, list[list[int]]], queries: list[dict]) -> dict:
    out = {}
    ref = rankings["fts5"]
    for name, ranked in rankings.items():
        if name == "fts5":
            continue
        o10 = [overlap(a, b) for a, b in zip(ref, ranked)]
        top1 = [(a[:1] == b[:1]) for a, b in zip(ref, ranked) if a or b]
        o100 = [overlap(a, b, TOP_K) for a, b in zip(ref, ranked)]
        by_source = {}
        for src in sorted({q["source"] for q in queries}):
            vals = [v for v, q in zip(o10, queries) if q["source"] == src and v is not None]
            by_source[src] = statistics.fmean(vals)
        out[name] = {
            "overlap@10": statistics.fmean(v for v in o10 if v is not None),
            "overlap@100": statistics.fmean(v for v in o100 if v is not None),
            "top1_same": statistics.fmean(top1),
            "overlap@10_by_source": by_source,
        }
    return out


# -- report -------------------------------------------------------------------------
def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def write_report(info: dict, results: dict, latency: dict, agree: dict, total_s: float) -> None:
    names = [n for n, _, _ in ENGINES]
    b, s, u = results["build"], results["serve"], results["update"]
    pyvi = info["pyvi"]
    rows = [
        ("build, passages/s (wall)", lambda n: f"{b[n]['passages_per_s']:,.0f}"),
        ("build, passages/s (CPU)", lambda n: f"{b[n]['passages_per_cpu_s']:,.0f}"),
        ("build, seconds (wall)", lambda n: f"{b[n]['build_s']:.1f}"),
        ("size on disk", lambda n: mb(b[n]["disk_bytes"])),
        ("peak RSS increase while building", lambda n: mb(b[n]["build_peak_rss_delta"])),
        ("open a built index (fresh process)", lambda n: f"{s[n]['open_s'] * 1000:,.0f} ms"),
        ("RSS increase, open + ~240 queries", lambda n: mb(s[n]["serve_rss_delta"])),
        ("query p50 (top 100)", lambda n: f"{latency[n]['p50_ms']:.2f} ms"),
        ("query p95 (top 100)", lambda n: f"{latency[n]['p95_ms']:.2f} ms"),
        ("add 100 + delete 100", lambda n: (
            f"{u[n]['total_s'] * 1000:,.0f} ms (full rebuild + save)" if "rebuild_s" in u[n]
            else f"{u[n]['total_s'] * 1000:,.0f} ms (add {u[n]['add_s'] * 1000:,.0f} + delete {u[n]['delete_s'] * 1000:,.0f})")),
        ("overlap@10 with FTS5", lambda n: "1 (reference)" if n == "fts5" else f"{agree[n]['overlap@10']:.3f}"),
        ("same top-1 as FTS5", lambda n: "1 (reference)" if n == "fts5" else f"{agree[n]['top1_same']:.3f}"),
        ("overlap@100 with FTS5", lambda n: "1 (reference)" if n == "fts5" else f"{agree[n]['overlap@100']:.3f}"),
    ]
    lines = ["| measure | " + " | ".join(f"`{n}`" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(n) for n in names) + " |")
    table = "\n".join(lines)

    def ratio_row(label, value, better_low=True):
        f = value("fts5")
        cells = []
        for n in names[1:]:
            cells.append(f"{f / value(n):.2f}")
        return f"| {label} | " + " | ".join(cells) + " |"

    ratio_lines = ["| FTS5 ÷ engine | " + " | ".join(f"`{n}`" for n in names[1:]) + " |", "|---" * len(names) + "|"]
    ratio_lines += [
        ratio_row("build time (wall)", lambda n: b[n]["build_s"]),
        ratio_row("build time (CPU)", lambda n: b[n]["build_cpu_s"]),
        ratio_row("size on disk", lambda n: b[n]["disk_bytes"]),
        ratio_row("RSS increase, open + queries", lambda n: max(s[n]["serve_rss_delta"], 1)),
        ratio_row("query p50", lambda n: latency[n]["p50_ms"]),
        ratio_row("query p95", lambda n: latency[n]["p95_ms"]),
        ratio_row("add 100 + delete 100", lambda n: u[n]["total_s"]),
    ]
    ratios = "\n".join(ratio_lines)

    fts_tables = b["fts5"].get("tables_bytes", {})
    content = fts_tables.get("fts_content", 0)
    index_part = fts_tables.get("fts_data", 0) + fts_tables.get("fts_idx", 0)
    lat_src = latency["fts5"]["by_source_p50_ms"]
    pairs = latency["fts5+pairs"]
    f5, bs, bf, tv = (latency[n]["p50_ms"] for n in ("fts5", "bm25s", "bm25s-fts5", "tantivy"))
    rebuild = u["bm25s"]["total_s"]
    inplace = u["fts5"]["total_s"]

    text = f"""# Lexical engine: SQLite FTS5, bm25s or tantivy, measured

Written by `eval/scripts/lexical_engines.py` (run it again with
`.venv/bin/python eval/scripts/lexical_engines.py`; about {total_s / 60:.0f} minutes on this
machine; `--json FILE` also writes every raw number).

## What was measured

* **Data**: the {info['documents']:,} real documents of `vn-official-1114.jsonl.gz`,
  chunked by `qa.chunking.chunk_document` into **{info['passages']:,} passages**
  ({info['raw_chars'] / 1e6:.1f} M characters, {info['folded_tokens'] / 1e6:.1f} M syllables).
  Every engine indexes the same text, the **folded** form (`qa.text.fold`) only, one
  field, tokenised the same way (runs of letters, digits and `_`, as FTS5's
  `unicode61 … tokenchars '_'`), so pyvi segmentation is not in the comparison.
  Indexes are built on {info['base_passages']:,} passages; 100 more are held back for the update test.
* **Queries**: {info['queries']['district-docs']} development-set queries
  (`eval/datasets/district-docs/queries.jsonl`) and {info['queries']['xquad-vi']} XQuAD-vi
  questions (random sample, fixed seed), folded, question words dropped
  (`qa.search._QUESTION_WORDS`), an OR of the syllables — the folded part of
  `Searcher.lexical_expression` without the syllable pairs, which bm25s and the
  plain tantivy term query cannot express. Top {TOP_K} (our candidate depth).
* **Engines**: `fts5` — SQLite {sqlite3.sqlite_version} FTS5, `bm25()` (k1 1.2, b 0.75),
  'optimize' after the build as `qa.store.build_index` does. `bm25s` — bm25s
  {info['versions']['bm25s']} with its defaults (Lucene variant, k1 1.5, b 0.75), numpy
  backend, saved with `save()` and reopened with `load()`. `bm25s-fts5` — bm25s
  set to the variant FTS5 computes (Robertson idf, k1 1.2, b 0.75), to show where the
  ranking differences come from. `tantivy` — tantivy-py {info['versions']['tantivy']} (a
  wheel installed in seconds), one indexing thread, 128 MB writer heap, term
  frequencies without positions, u64 id as a fast field (for deletes).
* **Timing**: wall-clock on a 2-core machine busy with other jobs, so read the
  ratios, not the absolute values. Builds ran one after the other, each in its own
  process (CPU time is given too: it is less sensitive to the load). Query latency:
  all engines open in one process, queries interleaved engine by engine in random
  order, {ROUNDS} rounds; per query the median of the rounds, then p50/p95 over queries.
* **Memory**: RSS of a fresh process (the text of the passages already loaded for the
  build; only the library imported for opening): peak increase while building, and the
  increase after opening the index and answering every query once.
* **Update**: add {N_UPDATE} new passages and delete {N_UPDATE} existing ones, each committed
  (FTS5 INSERT/DELETE, tantivy add/delete_by_term + commit). bm25s has no update:
  the cost is rebuilding the whole index ({info['base_passages']:,} passages) and saving it.

## Results

{table}

Ratios (FTS5's value divided by the engine's; above 1 means the engine is smaller/faster than FTS5):

{ratios}

Notes on the numbers:

* FTS5's size includes a full copy of the text (`fts_content`, {mb(content)} of
  {mb(b['fts5']['disk_bytes'])}; the inverted index itself is {mb(index_part)}). In
  `qa.store` that copy is the lexical table's own (the text is also in `passages`), so a
  contentless or external-content table would save it; the other engines store no text
  ({mb(info['folded_bytes'])} of folded text, for scale).
* FTS5 build: {b['fts5']['insert_s']:.1f} s of INSERT, {b['fts5']['optimize_s']:.1f} s of 'optimize'.
* FTS5 latency depends on how many passages a query's terms match: p50 {lat_src.get('district-docs', 0):.1f} ms
  for the short development-set queries, {lat_src.get('xquad-vi', 0):.1f} ms for XQuAD-vi questions.
  With the syllable pairs added as phrases (the full folded expression our searcher
  sends) FTS5's p50/p95 is {pairs['p50_ms']:.2f} / {pairs['p95_ms']:.2f} ms.
* bm25s precomputes every (term, passage) score at build time, so a query is a sum of a
  few sparse rows plus a top-k over all {info['base_passages']:,} passages: almost
  independent of the query, and fast. It has no phrase queries, no deletes and no
  additions: any change to the corpus is a full rebuild.
* **pyvi segmentation** (the `words` column, out of the comparison above):
  {pyvi['passages_per_s']:,.0f} passages/s ({pyvi['chars_per_s'] / 1e3:,.0f} k characters/s) on a sample
  of {pyvi['passages']:,} passages — about {pyvi['full_corpus_estimate_s'] / 60:.1f} minutes for the
  {info['passages']:,} passages, i.e. {b['fts5']['passages_per_s'] / pyvi['passages_per_s']:.0f}× the time FTS5 takes to index
  the folded text. Tokenising for the lexical index is dominated by pyvi, whatever the engine.
* Preparing the data (not part of any engine's cost): reading the corpus {info['load_s']:.0f} s,
  chunking {info['chunk_s']:.0f} s, folding {info['fold_s']:.0f} s.

## Agreement

Overlap@10 with FTS5's ranking (shared passages in both top 10, ÷ 10), mean over queries:

| engine | all | district-docs | xquad-vi | same top-1 |
|---|---|---|---|---|
""" + "\n".join(
        f"| `{n}` | {agree[n]['overlap@10']:.3f} | {agree[n]['overlap@10_by_source'].get('district-docs', float('nan')):.3f} | "
        f"{agree[n]['overlap@10_by_source'].get('xquad-vi', float('nan')):.3f} | {agree[n]['top1_same']:.3f} |"
        for n in names[1:]
    ) + f"""

`bm25s-fts5` computes the same formula as FTS5 on the same tokens, so what is left of
the difference is ties (many near-identical passages in official documents score
exactly alike and are ordered arbitrarily) and float precision. The drop to `bm25s`
(defaults) and `tantivy` (Lucene idf, lengths quantised to one byte) is the BM25
parameters and variant, not the engine: the choice of engine does not decide
quality; the choice of parameters and tokens does (and those we tune on the
development set, where FTS5 lexical gives MRR@10 ≈ 0.80).

## Conclusion

{conclusion(b, s, u, latency, agree)}
"""
    REPORT.write_text(text)


def conclusion(b, s, u, latency, agree) -> str:
    f5 = latency["fts5"]["p50_ms"]
    bs = latency["bm25s"]["p50_ms"]
    tv = latency["tantivy"]["p50_ms"]
    fts_upd = u["fts5"]["total_s"]
    bm_upd = u["bm25s"]["total_s"]
    tv_upd = u["tantivy"]["total_s"]
    return f"""**Keep SQLite FTS5.** What we need from the lexical index is: persistent,
add and remove documents without a rebuild, embedded in the process, no server,
and transactional with the rest of the store. FTS5 is the only candidate that is
all of that in the file we already have: `Index.add`/`Index.remove` change passages,
documents and the lexical index in **one SQLite transaction**, so they can never disagree.

* **bm25s** is {f5 / bs:.1f}× faster per query at p50 (a query costs {bs:.1f} ms against
  {f5:.1f} ms), but it has no incremental update: adding 100 passages and removing 100
  costs a full rebuild and save, {bm_upd:.1f} s, {bm_upd / fts_upd:,.0f}× FTS5's in-place
  {fts_upd * 1000:,.0f} ms, and that grows with the corpus. It keeps the whole score matrix in
  memory, has no phrase queries (our expression uses syllable pairs), and would be a
  second store to keep consistent with SQLite. At {f5:.0f} ms p50, FTS5's lexical step
  is not what limits a search (the dense query embedding costs more), so the speed
  does not buy anything the service needs.
* **tantivy** is the real alternative: persistent, incremental (add + delete
  {tv_upd * 1000:,.0f} ms), embedded, {f5 / tv:.1f}× FTS5's query speed at p50, phrase
  queries. But it is a second on-disk store beside SQLite, with its own commit,
  so `qa add`/`qa remove` would lose their single transaction (a crash between the two
  commits leaves them disagreeing), and the Python binding is a compiled dependency
  that we would pin. Worth revisiting if the corpus grows by another order of magnitude
  and FTS5's p95 becomes a problem.
* Result agreement does not separate them: with the same BM25 variant, bm25s and FTS5
  return the same top 10 ({agree['bm25s-fts5']['overlap@10']:.2f} overlap); the differences
  between engines are BM25 parameters, which we can set in FTS5 too (column weights now,
  tokens and fields by construction)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("names", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder of indexes")
    parser.add_argument("--json", type=Path, help="also write every raw number to this file")
    parser.add_argument("--limit-docs", type=int, help="smoke run on the first N documents; no report written")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.names, args.work)
        return

    import importlib.metadata as md

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="lexical-engines-"))
    try:
        print(f"preparing data in {work}", flush=True)
        info = prepare(work, args.limit_docs)
        info["versions"] = {p: md.version(p) for p in ("bm25s", "tantivy")}
        print(f"  {info['passages']:,} passages, pyvi {info['pyvi']['passages_per_s']:.0f} passages/s, "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        names = [n for n, _, _ in ENGINES]
        results = {"build": {}, "serve": {}, "update": {}}
        for n in names:
            results["build"][n] = run_worker("build", [n], work)
        for n in names:
            results["serve"][n] = run_worker("serve", [n], work)
        query = run_worker("query", names, work)
        for n in names:
            results["update"][n] = run_worker("update", [n], work)
        queries = json.loads((work / "queries.json").read_text())
        agree = agreement(query["rankings"], queries)
        total = time.perf_counter() - started
        if args.limit_docs:
            print(json.dumps({"info": info, **results, "latency": query["latency"], "agreement": agree}, indent=1))
            return
        write_report(info, results, query["latency"], agree, total)
        if args.json:
            args.json.write_text(json.dumps(
                {"info": info, **results, "latency": query["latency"], "agreement": agree, "total_s": total,
                 "sqlite": sqlite3.sqlite_version},
                indent=2, ensure_ascii=False,
            ))
        print(f"wrote {REPORT.relative_to(ROOT)} in {total:.0f} s")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
