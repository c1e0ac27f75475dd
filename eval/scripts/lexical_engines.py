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

    .venv/bin/python eval/scripts/lexical_engines.py            # writes eval/reports/lexical-engines.md
    .venv/bin/python eval/scripts/lexical_engines.py --json /tmp/raw.json   # and every raw number
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
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
ROUNDS = 2
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
        self.common: set[str] = set()

    def load_common_terms(self) -> None:
        """Terms in more than half of the passages: FTS5's bm25 clamps their idf to
        1e-6, so leaving them out of a query keeps its ranking (up to ties)."""
        self.con.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, fts, 'row')")
        n = self.con.execute("SELECT COUNT(*) FROM fts").fetchone()[0]
        self.common = {r[0] for r in self.con.execute("SELECT term FROM temp.vocab WHERE doc > ?", (n / 2,))}

    def search_pruned(self, terms: list[str], k: int, phrases: list[str] = ()) -> list[int]:
        return self.search([t for t in terms if t not in self.common], k, phrases)

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
    text field tokenised like FTS5 (\\w+ runs, lower case) with positions (phrase
    queries, as FTS5's default detail=full); one indexing thread."""

    def __init__(self, folder: Path, options: dict):
        self.path = folder / "tantivy"
        self.index = None
        self.searcher = None

    def _open(self, create: bool):
        import tantivy

        schema_builder = tantivy.SchemaBuilder()
        schema_builder.add_unsigned_field("id", stored=True, indexed=True, fast=True)
        schema_builder.add_text_field("folded", stored=False, tokenizer_name="fts5like", index_option="position")
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
        clauses = [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "folded", t, index_option="freq"))
                   for t in unique]
        clauses += [(tantivy.Occur.Should, tantivy.Query.phrase_query(self.schema, "folded", p.split()))
                    for p in dict.fromkeys(phrases)]
        query = tantivy.Query.boolean_query(clauses)
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
    """Fresh process: open the index, answer every 4th query once (FTS5 is slow,
    and memory does not need them all); RSS held."""
    queries = json.loads((work / "queries.json").read_text())[::4]
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
        "queries": len(queries),
    }


def phase_query(names: list[str], work: Path) -> dict:
    """All engines in one process, interleaved query by query, ROUNDS rounds."""
    queries = json.loads((work / "queries.json").read_text())
    engines = {n: make_engine(n, work) for n in names}
    for engine in engines.values():
        engine.open()
    engines["fts5"].load_common_terms()
    n_passages = engines["fts5"].con.execute("SELECT COUNT(*) FROM fts").fetchone()[0]
    common = engines["fts5"].con.execute("SELECT term, doc FROM temp.vocab ORDER BY doc DESC LIMIT 5").fetchall()
    # (variant, search function, with the syllable pairs as phrases)
    variants = [(n, engines[n].search, False) for n in names] + [
        ("fts5-pruned", engines["fts5"].search_pruned, False),
        ("fts5+pairs", engines["fts5"].search, True),
        ("tantivy+pairs", engines["tantivy"].search, True),
    ]
    times: dict[str, list[list[float]]] = {v: [[] for _ in queries] for v, _, _ in variants}
    rankings: dict[str, list[list[int]]] = {v: [] for v, _, _ in variants}
    for q in queries:  # warm-up round, and the rankings
        for v, search, pairs in variants:
            rankings[v].append([int(x) for x in search(q["terms"], TOP_K, q["pairs"] if pairs else ())])
    rng = random.Random(SEED)
    for _ in range(ROUNDS):
        for qi, q in enumerate(queries):
            order = variants[:]
            rng.shuffle(order)
            for v, search, pairs in order:
                t = time.perf_counter()
                search(q["terms"], TOP_K, q["pairs"] if pairs else ())
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
    return {"latency": latency, "rankings": rankings,
            "common_terms": [(t, n / n_passages) for t, n in common], "common_count": len(engines["fts5"].common)}


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
    for name, ranked in rankings.items():
        if name in ("fts5", "fts5+pairs"):
            continue
        ref = rankings["fts5+pairs" if name.endswith("+pairs") else "fts5"]
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


def times(x: float) -> str:
    """A ratio for prose: 3.2×, 71×."""
    return f"{x:,.0f}×" if x >= 10 else f"{x:.1f}×"


def write_report(info: dict, results: dict, query: dict, agree: dict, total_s: float, path: Path = REPORT) -> None:
    latency = query["latency"]
    names = [n for n, _, _ in ENGINES]
    b, s, u = results["build"], results["serve"], results["update"]
    pyvi = info["pyvi"]
    pairs_of = {"fts5": "fts5+pairs", "tantivy": "tantivy+pairs"}

    def vs_fts5(n: str, key: str) -> str:
        return "reference" if n == "fts5" else f"{agree[n][key]:.3f}"

    rows = [
        ("build, passages/s (wall)", lambda n: f"{b[n]['passages_per_s']:,.0f}"),
        ("build, passages/s (CPU)", lambda n: f"{b[n]['passages_per_cpu_s']:,.0f}"),
        ("build, seconds (wall)", lambda n: f"{b[n]['build_s']:.1f}"),
        ("size on disk", lambda n: mb(b[n]["disk_bytes"])),
        ("peak RSS increase while building", lambda n: mb(b[n]["build_peak_rss_delta"])),
        ("open + first query (fresh process)", lambda n: f"{s[n]['open_s'] * 1000:,.0f} ms"),
        (f"RSS increase, open + {s['fts5']['queries']} queries", lambda n: mb(s[n]["serve_rss_delta"])),
        ("query p50, OR of syllables (top 100)", lambda n: f"{latency[n]['p50_ms']:.2f} ms"),
        ("query p95, OR of syllables (top 100)", lambda n: f"{latency[n]['p95_ms']:.2f} ms"),
        ("query p50 / p95, + syllable pairs as phrases", lambda n: (
            f"{latency[pairs_of[n]]['p50_ms']:.2f} / {latency[pairs_of[n]]['p95_ms']:.2f} ms" if n in pairs_of
            else "no phrase queries")),
        ("add 100 + delete 100 passages", lambda n: (
            f"{u[n]['total_s'] * 1000:,.0f} ms (full rebuild + save)" if "rebuild_s" in u[n]
            else f"{u[n]['total_s'] * 1000:,.0f} ms (add {u[n]['add_s'] * 1000:,.0f} + delete {u[n]['delete_s'] * 1000:,.0f})")),
        ("overlap@10 with FTS5", lambda n: vs_fts5(n, "overlap@10")),
        ("same top-1 as FTS5", lambda n: vs_fts5(n, "top1_same")),
        ("overlap@100 with FTS5", lambda n: vs_fts5(n, "overlap@100")),
    ]
    lines = ["| measure | " + " | ".join(f"`{n}`" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(n) for n in names) + " |")
    table = "\n".join(lines)

    def ratio_row(label, value):
        cells = []
        for n in names[1:]:
            v = value(n)
            cells.append("–" if v is None else f"{value('fts5') / v:.2f}")  # value('fts5') is never None
        return f"| {label} | " + " | ".join(cells) + " |"

    ratio_lines = ["| FTS5 ÷ engine | " + " | ".join(f"`{n}`" for n in names[1:]) + " |", "|---" * len(names) + "|"]
    ratio_lines += [
        ratio_row("build time (wall)", lambda n: b[n]["build_s"]),
        ratio_row("build time (CPU)", lambda n: b[n]["build_cpu_s"]),
        ratio_row("size on disk", lambda n: b[n]["disk_bytes"]),
        ratio_row("peak RSS increase while building", lambda n: max(b[n]["build_peak_rss_delta"], 1)),
        ratio_row("RSS increase, open + queries", lambda n: max(s[n]["serve_rss_delta"], 1)),
        ratio_row("query p50", lambda n: latency[n]["p50_ms"]),
        ratio_row("query p95", lambda n: latency[n]["p95_ms"]),
        ratio_row("query p50, + pairs as phrases", lambda n: latency[pairs_of[n]]["p50_ms"] if n in pairs_of else None),
        ratio_row("add 100 + delete 100", lambda n: u[n]["total_s"]),
    ]
    ratios = "\n".join(ratio_lines)

    fts_tables = b["fts5"].get("tables_bytes", {})
    content = fts_tables.get("fts_content", 0)
    index_part = b["fts5"]["disk_bytes"] - content
    lat_src = latency["fts5"]["by_source_p50_ms"]
    pruned = latency["fts5-pruned"]

    agree_rows = []
    for n, ref in (("bm25s", "fts5"), ("bm25s-fts5", "fts5"), ("tantivy", "fts5"), ("fts5-pruned", "fts5"),
                   ("tantivy+pairs", "fts5+pairs")):
        a = agree[n]
        src = a["overlap@10_by_source"]
        agree_rows.append(
            f"| `{n}` | `{ref}` | {a['overlap@10']:.3f} | {src.get('district-docs', float('nan')):.3f} | "
            f"{src.get('xquad-vi', float('nan')):.3f} | {a['top1_same']:.3f} | {a['overlap@100']:.3f} |"
        )

    text = f"""# Lexical engine: SQLite FTS5, bm25s or tantivy, measured

Written by `eval/scripts/lexical_engines.py` (`.venv/bin/python eval/scripts/lexical_engines.py`,
about {total_s / 60:.0f} minutes on this machine; `--json FILE` also writes every raw number).
The issue asked to pick the lexical engine with measurements; these are they, on real data.

## What was measured

* **Data**: the {info['documents']:,} real documents of `/work/shared/corpora/vn-official-1114.jsonl.gz`,
  chunked by `qa.chunking.chunk_document` into **{info['passages']:,} passages**
  ({info['raw_chars'] / 1e6:.1f} M characters, {info['folded_tokens'] / 1e6:.1f} M syllables).
  Every engine indexes the same text, the **folded** form only (`qa.text.fold`), in one
  field, tokenised the same way (runs of letters, digits and `_`, as FTS5's
  `unicode61 remove_diacritics 0 tokenchars '_'`), so pyvi segmentation (our `words`
  column) is out of the comparison; its throughput is measured on its own below.
  Indexes are built on {info['base_passages']:,} passages; 100 more are held back for the update test.
* **Queries**: the {info['queries']['district-docs']} development-set queries
  (`eval/datasets/district-docs/queries.jsonl`) and {info['queries']['xquad-vi']} XQuAD-vi
  questions (random sample, fixed seed), folded, question words dropped
  (`qa.search._QUESTION_WORDS`), as an OR of the syllables: the folded part of
  `Searcher.lexical_expression`. Its syllable pairs (phrases) are timed separately, for
  the engines that have phrase queries. Top {TOP_K}, our candidate depth.
* **Engines**:
  `fts5`: SQLite {sqlite3.sqlite_version} FTS5, ranked by `bm25()` (k1 1.2, b 0.75), 'optimize' after the
  build as `qa.store.build_index` does, default `detail=full` (positions).
  `bm25s`: bm25s {info['versions']['bm25s']} with its defaults (Lucene variant, k1 1.5, b 0.75), numpy
  backend, `save()`d and reopened with `load()`.
  `bm25s-fts5`: bm25s set to the variant FTS5 computes (Robertson idf, k1 1.2, b 0.75), to show
  where ranking differences come from.
  `tantivy`: tantivy-py {info['versions']['tantivy']} (`pip install tantivy` found a wheel and took a few
  seconds), one indexing thread, 128 MB writer heap, positions indexed (phrase queries,
  like FTS5), the passage id a u64 fast field (for deletes and for reading ids).
* **Timing**: wall clock on a 2-core machine busy with other jobs, so read the ratios,
  not the absolute values. Builds ran one after the other, each in its own process (CPU
  time given too: less sensitive to the load). Query latency: every engine open in one
  process, the queries interleaved engine by engine in random order, one untimed round
  then {ROUNDS} timed rounds; per query the median of the rounds, then p50/p95 over the queries.
* **Memory**: RSS of a fresh process. Building: the peak increase over the process with the
  passages' text already loaded. Serving: the increase after opening the index and answering
  every 4th query once (the library already imported).
* **Update**: add {N_UPDATE} new passages and delete {N_UPDATE} others, each step committed (FTS5
  INSERT/DELETE; tantivy add_document/delete_documents_by_query + commit). bm25s cannot
  update an index: the cost is rebuilding the whole index on the changed corpus and saving it.

## Results

{table}

Ratios, FTS5's value ÷ the engine's (above 1: the engine is faster or smaller than FTS5):

{ratios}

Notes on the numbers:

* **FTS5's size** includes a full copy of the text (`fts_content`, {mb(content)} of
  {mb(b['fts5']['disk_bytes'])}); the index itself is {mb(index_part)}. In `qa.store` the same text
  is also in `passages`, so an external-content or contentless table would save that copy
  (not done here, since `qa.store` does not do it). bm25s and tantivy store no text
  ({mb(info['folded_bytes'])} of folded text, for scale); bm25s stores every (syllable, passage)
  score as float32.
* **FTS5 build**: {b['fts5']['insert_s']:.1f} s of INSERT, {b['fts5']['optimize_s']:.1f} s of 'optimize'. bm25s's build
  includes tokenising in Python (it takes token lists); its peak memory
  ({mb(b['bm25s']['build_peak_rss_delta'])}) is the construction of its score matrix in memory (token lists, then
  numpy arrays).
* **Serving memory** is not like for like: SQLite reads the file through its own 2 MB page
  cache (the OS file cache is not in RSS), tantivy maps its files (the pages a query touches
  count), bm25s loads its whole score matrix.
* **FTS5 query latency** grows with the number of passages the query's syllables match, and
  common syllables match most of them (the {query['common_count']} syllables in more than half of the
  passages include {', '.join(f"`{t}` ({f:.0%})" for t, f in query['common_terms'])}): p50 {lat_src.get('district-docs', 0):.0f} ms for development-set queries,
  {lat_src.get('xquad-vi', 0):.0f} ms for XQuAD-vi questions. Leaving out the syllables found in more than half
  of the passages (FTS5 clamps their idf to 1e-6, so the ranking is kept: overlap@10
  {agree['fts5-pruned']['overlap@10']:.3f}) gives p50/p95 {pruned['p50_ms']:.0f} / {pruned['p95_ms']:.0f} ms: a {latency['fts5']['p50_ms'] / pruned['p50_ms']:.2f}× gain,
  not an order of magnitude. bm25s's query is a sum of a few precomputed sparse rows plus a
  top-k over all passages; tantivy can skip postings that cannot reach the top k (block-max
  WAND); both are far less sensitive to common syllables.
* **pyvi segmentation** (our `words` column, out of the comparison above):
  {pyvi['passages_per_s']:,.0f} passages/s ({pyvi['chars_per_s'] / 1e3:,.0f} k characters/s, CPU {pyvi['cpu_seconds']:.1f} s for
  {pyvi['passages']:,} sampled passages), about {pyvi['full_corpus_estimate_s'] / 60:.1f} minutes for all {info['passages']:,}
  passages: {b['fts5']['passages_per_s'] / pyvi['passages_per_s']:,.0f}× the time FTS5 takes to index the folded text, and
  {b['tantivy']['passages_per_s'] / pyvi['passages_per_s']:,.0f}× tantivy's. The lexical part of our build is pyvi's, whatever the engine.
* Preparing the data (no engine's cost): reading the corpus {info['load_s']:.0f} s, chunking
  {info['chunk_s']:.0f} s, folding {info['fold_s']:.0f} s.

## Agreement

Overlap@10: the passages in both top 10s ÷ 10, mean over the queries (a query both
engines return nothing for is left out).

| engine | compared with | overlap@10 | district-docs | xquad-vi | same top-1 | overlap@100 |
|---|---|---|---|---|---|---|
{chr(10).join(agree_rows)}

`bm25s-fts5` computes FTS5's formula on the same tokens and returns the same rankings; what
is left is ties (official documents repeat whole passages, which then score exactly alike
and are ordered arbitrarily) and float precision. The drop to `bm25s` (defaults) and
`tantivy` (Lucene idf log(1 + …), document lengths quantised to one byte) comes from the
BM25 variant and parameters, not from the engine. The engine does not decide quality;
tokens, fields, weights and parameters do (FTS5 lexical gives MRR@10 ≈ 0.80 on the
development set with our real pipeline, not re-measured here).

## Conclusion

{conclusion(b, s, u, latency, agree)}
"""
    path.write_text(text)


def eval_latencies() -> str:
    """What `qa eval` measured in its own runs (other loads, whole Searcher.search), for context."""
    parts = []
    for name in ("district-docs", "xquad-vi"):
        try:
            lat = json.loads((ROOT / f"eval/reports/{name}.json").read_text())["latency"]
            parts.append(f"{name}: whole lexical search {lat['modes']['lexical']['p50']:.0f} ms, "
                         f"query embedding {lat['embed_query']['p50']:.0f} ms")
        except (OSError, KeyError, TypeError, ValueError):
            continue
    if not parts:
        return ""
    return (" For context, `qa eval`'s own runs (small indexes, other machine loads) measured p50s of "
            + "; ".join(parts) + " (`eval/reports/*.json`).")


def conclusion(b, s, u, latency, agree) -> str:
    f5, f5p = latency["fts5"], latency["fts5+pairs"]
    bs, tv, tvp = latency["bm25s"], latency["tantivy"], latency["tantivy+pairs"]
    fts_upd, bm_upd, tv_upd = u["fts5"]["total_s"], u["bm25s"]["total_s"], u["tantivy"]["total_s"]
    upd_ratio = tv_upd / fts_upd
    upd_words = ("about the same as FTS5's" if 0.5 <= upd_ratio <= 2
                 else f"{times(1 / upd_ratio)} faster than FTS5's" if upd_ratio < 1 else f"{times(upd_ratio)} slower than FTS5's")
    build_ratio = b["tantivy"]["build_s"] / b["fts5"]["build_s"]
    fastest = min(b, key=lambda n: b[n]["build_s"]) == "fts5"
    prune_gain = f5["p50_ms"] / latency["fts5-pruned"]["p50_ms"]
    fts_index = b["fts5"]["disk_bytes"] - b["fts5"].get("tables_bytes", {}).get("fts_content", 0)
    build_words = (f"builds {times(build_ratio)} slower" if build_ratio > 1 else f"builds {times(1 / build_ratio)} faster")
    return f"""**Keep SQLite FTS5; rule out bm25s; tantivy is the one to switch to if lexical
latency at this corpus size becomes a problem.** The needs are: persistent, add and remove
without a full rebuild, embedded, no server.

* **FTS5 meets all four**, and one more that only it can: the lexical index lives in the
  same SQLite file as documents and passages, so `Index.add`/`Index.remove` change all of
  them in **one transaction** and they cannot disagree after a crash. Adding 100 passages
  and deleting 100 takes {fts_upd * 1000:,.0f} ms in place. It {"builds fastest and " if fastest else ""}needs no new
  dependency. Its weakness is query time on {b['fts5']['passages']:,} passages: p50/p95 {f5['p50_ms']:.0f} / {f5['p95_ms']:.0f} ms for
  the OR of syllables, {f5p['p50_ms']:.0f} / {f5p['p95_ms']:.0f} ms with the syllable pairs (on this loaded
  machine), because common syllables match most passages; leaving out those FTS5 gives
  no weight anyway gains only {prune_gain:.2f}×.
* **bm25s fails the incremental need**: there is no add or delete, so changing 100 passages
  means rebuilding and saving the whole index, {bm_upd:.1f} s ({times(bm_upd / fts_upd)} FTS5's in-place update,
  and growing with the corpus), with a build peak of {mb(b['bm25s']['build_peak_rss_delta'])} of RSS. It has no
  phrase queries (our expression uses syllable pairs), and it would be a second store (a
  folder of .npy files) to keep consistent with SQLite. Its queries are fast
  ({times(f5['p50_ms'] / bs['p50_ms'])} faster than FTS5 at p50), but it is built for static corpora.
* **tantivy also meets all four** (persistent, add/delete committed in {tv_upd * 1000:,.0f} ms, {upd_words};
  embedded library; no server), answers {times(f5['p50_ms'] / tv['p50_ms'])} faster at p50
  ({times(f5p['p50_ms'] / tvp['p50_ms'])} with the phrases), {build_words} than FTS5 (irrelevant next
  to pyvi) and is {times(b['fts5']['disk_bytes'] / b['tantivy']['disk_bytes'])} smaller on disk
  ({times(fts_index / b['tantivy']['disk_bytes'])} against FTS5 without its copy of the text). The price: a second on-disk
  store beside SQLite with its own commit, so add/remove lose their single transaction
  (a crash between the two commits must be repaired on start, e.g. by comparing passage ids
  or a generation number), plus a compiled dependency to pin.
* Agreement does not separate the engines: with the same BM25 variant bm25s and FTS5 give
  the same top 10 ({agree['bm25s-fts5']['overlap@10']:.3f} overlap@10); the other differences
  ({agree['bm25s']['overlap@10']:.2f}, {agree['tantivy']['overlap@10']:.2f}) are BM25 parameters, not quality.

So: FTS5 stays, because it fits every need inside the store we already have and the
engine does not change the ranking. If, at this corpus size, the lexical step's
~{f5['p50_ms']:.0f} ms (our real expression also queries the `words` and `context` columns) becomes
the part of a search that matters, move the lexical index to tantivy, not bm25s.{eval_latencies()}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("names", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder of indexes")
    parser.add_argument("--json", type=Path, help="also write every raw number to this file")
    parser.add_argument("--limit-docs", type=int, help="smoke run on the first N documents (use with --report)")
    parser.add_argument("--report", type=Path, default=REPORT, help="where the report is written")
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
        write_report(info, results, query, agree, total, args.report)
        if args.json:
            args.json.write_text(json.dumps(
                {"info": info, **results, "latency": query["latency"], "agreement": agree, "total_s": total,
                 "sqlite": sqlite3.sqlite_version},
                indent=2, ensure_ascii=False,
            ))
        print(f"wrote {args.report} in {total:.0f} s")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
