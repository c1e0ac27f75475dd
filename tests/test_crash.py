"""Killed with SIGKILL at any point of a build, an add, a replacement or a remove, a
process leaves an index that opens, passes its own consistency check, serves searches
and holds the state before the operation or the state after it, never a mix; running
the operation again then completes it.

One real subprocess (``python -c``) loads the model once and forks a child per
scenario, each on its own copy of a small index (two corpus documents, two builds);
the child dies by SIGKILL either at a named point of ``qa.store`` / ``qa.builds``
(``QA_CRASH_AT``, ``qa.builds.crash_point``) or after a random delay. The passage
vectors come from the embedding cache (warmed here first), so no child runs the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT, Settings
from qa.store import Index, build_index, verify_build
from tests.conftest import CORPUS

BHYT = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"
TAY_HO = "tay-ho-tin-nhiem-vu-3-thang-cuoi-nam-2020"
REPORT_2024 = "bac-tu-liem-bao-cao-6-thang-dau-nam-2024"

# Every point each operation passes (a scenario whose child is not killed there fails:
# a point renamed or moved shows up here).
CHANGE_POINTS = ["replace-changed", "dense-tmp-written", "replace-dense-written", "replace-before-lexical",
                 "replace-before-commit",
                 "replace-committed", "manifest-tmp-written"]
POINTS = {
    "build": ["build-inserted", "dense-tmp-written", "build-committed", "manifest-tmp-written", "build-renamed",
              "switch-previous-linked", "switch-current-linked", "prune-renamed"],
    "add": CHANGE_POINTS,
    "replace": CHANGE_POINTS,
    "remove": CHANGE_POINTS,
}
RANDOM_KILLS = 3  # per operation, at random moments of its run
SEED = 11
CHILD_TIMEOUT = 120.0


# -- the operations (run by the children, and here to know the state after) ------------
def operate(op: str, settings: Settings, embedder, files: dict[str, str]) -> None:
    if op == "build":
        build_index(Path(files["build_corpus"]), settings, embedder=embedder, progress=False)
        return
    index = Index.open(settings, embedder)
    try:
        if op == "add":
            assert index.add(Path(files["added"])).changed == [REPORT_2024]
        elif op == "replace":
            assert index.add(Path(files["replaced"])).changed == [TAY_HO]
        else:
            index.remove(BHYT)
    finally:
        index.close()


# -- the subprocess ---------------------------------------------------------------------
def run_scenarios(spec_file: str) -> None:
    """Entry point of the subprocess: the model once, then one forked child per scenario."""
    from qa.embedding import Embedder
    from qa.text import segment

    spec = json.loads(Path(spec_file).read_text())
    embedder = Embedder(Settings())
    segment("nạp trước")  # pyvi loads on first use (seconds): once here, not in every child
    durations: dict[str, float] = {}
    results = []
    for scenario in spec["scenarios"]:
        result = _run_one(scenario, spec["files"], embedder, durations)
        if scenario["kind"] == "complete":
            durations[scenario["op"]] = result["seconds"]
        results.append(result)
    Path(spec["results"]).write_text(json.dumps(results))


def _run_one(scenario: dict, files: dict[str, str], embedder, durations: dict[str, float]) -> dict:
    pid = os.fork()
    if pid == 0:
        _child(scenario, files, embedder)
    started = time.monotonic()
    delay = None
    if scenario["kind"] == "random":
        delay = scenario["fraction"] * durations[scenario["op"]]
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)  # it may have finished already: its status says so
    status = _wait(pid)
    if status is None:
        outcome = "hung"
    elif os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        outcome = "killed"
    elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        outcome = "finished"
    else:
        outcome = "failed"
    return {"name": scenario["name"], "outcome": outcome, "seconds": time.monotonic() - started, "delay": delay}


def _child(scenario: dict, files: dict[str, str], embedder) -> None:
    try:
        import faiss

        from qa.embedding_cache import EmbeddingCache

        faiss.omp_set_num_threads(1)  # no OpenMP pool in a forked child
        inherited = embedder.cache  # kept referenced: an SQLite connection must not cross a fork, nor be closed in it
        embedder.cache = EmbeddingCache(inherited.path, embedder.key)
        os.environ["QA_INDEX"] = scenario["index"]
        if scenario["kind"] == "point":
            os.environ["QA_CRASH_AT"] = scenario["point"]
        operate(scenario["op"], Settings(), embedder, files)
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def _wait(pid: int) -> int | None:
    deadline = time.monotonic() + CHILD_TIMEOUT
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


# -- the test ---------------------------------------------------------------------------
def state(index: Index) -> dict[str, tuple[str, str]]:
    """Per document: its hash, and a digest of its passages (ordinal, id, text) and their
    vectors' presence; checks on the way that SQLite and FAISS agree."""
    with index.reading():
        con = index.con
        assert index.dense.ntotal == index.counts()[1]
        hashes = {row["id"]: row["hash"] for row in con.execute("SELECT id, hash FROM documents")}
        passages: dict[str, list[str]] = {}
        for row in con.execute("SELECT doc_id, ordinal, id, text FROM passages ORDER BY doc_id, ordinal"):
            passages.setdefault(row["doc_id"], []).append(f"{row['ordinal']}|{row['id']}|{row['text']}")
    return {doc: (hashes[doc], hashlib.sha256("\n".join(passages.get(doc, [])).encode()).hexdigest()) for doc in hashes}


def serves(index: Index) -> None:
    from qa.search import Searcher

    response = Searcher(index).search("nhiệm vụ 3 tháng cuối năm", k=5)
    documents = index.documents()
    assert response.results and all(r.passage.doc_id in documents for r in response.results)
    # the tantivy index was repaired on open if the kill left it at another generation,
    # and it holds what FTS5 (changed in the SQLite transaction) holds
    with index.reading():
        assert index.lexical_passage_ids() == {row[0] for row in index.con.execute("SELECT id FROM passages")}


@pytest.fixture(scope="module")
def setup(tmp_path_factory, settings, embedder):
    """The base index (built twice: a previous build to prune), the files the operations
    use, and the state before and after each operation (warming the embedding cache)."""
    root = tmp_path_factory.mktemp("crash")
    corpus, build_corpus, elsewhere = root / "corpus", root / "build-corpus", root / "elsewhere"
    for folder, names in ((corpus, [BHYT, TAY_HO]), (build_corpus, [TAY_HO, REPORT_2024]), (elsewhere, [REPORT_2024])):
        folder.mkdir()
        for name in names:
            shutil.copy(CORPUS / f"{name}.txt", folder)
    replaced = root / "replaced" / f"{TAY_HO}.txt"
    replaced.parent.mkdir()
    replaced.write_text((CORPUS / f"{TAY_HO}.txt").read_text(encoding="utf-8")
                        + "\n\nPhường Quảng An ra mắt mô hình thí điểm mới.\n", encoding="utf-8")
    files = {"build_corpus": str(build_corpus), "added": str(elsewhere / f"{REPORT_2024}.txt"), "replaced": str(replaced)}
    base = settings.model_copy(update={"corpus": corpus, "index": root / "base"})
    build_index(corpus, base, embedder=embedder, progress=False)
    build_index(corpus, base, embedder=embedder, progress=False)
    before = opened_state(base, embedder)
    after = {}
    for op in POINTS:
        copy = copy_index(base, root / f"after-{op}")
        operate(op, copy, embedder, files)
        after[op] = opened_state(copy, embedder)
        assert after[op] != before
    return root, base, files, before, after


def copy_index(base: Settings, to: Path) -> Settings:
    shutil.copytree(base.index, to, symlinks=True)  # `current` and `previous` are relative links
    return base.model_copy(update={"index": to})


def opened_state(s: Settings, embedder) -> dict:
    index = Index.open(s, embedder)
    try:
        return state(index)
    finally:
        index.close()


def scenarios(root: Path, base: Settings) -> list[dict]:
    """For each operation: one run to completion (it times the operation), a kill at
    each of its points, and kills at random moments of its run."""
    rng = random.Random(SEED)
    planned = []
    for op, points in POINTS.items():
        planned.append({"op": op, "kind": "complete", "name": f"{op} to completion"})
        planned += [{"op": op, "kind": "point", "point": point, "name": f"{op} killed at {point}"} for point in points]
        planned += [{"op": op, "kind": "random", "fraction": round(rng.uniform(0.05, 0.95), 3),
                     "name": f"{op} killed at random ({i + 1})"} for i in range(RANDOM_KILLS)]
    for i, scenario in enumerate(planned):
        scenario["index"] = str(copy_index(base, root / f"scenario-{i}").index)
    return planned


def test_a_killed_process_leaves_the_last_complete_state(setup, embedder, settings):
    root, base, files, before, after = setup
    planned = scenarios(root, base)
    spec = root / "spec.json"
    results_file = root / "results.json"
    spec.write_text(json.dumps({"scenarios": planned, "files": files, "results": str(results_file)}))
    env = {**os.environ, "QA_MODEL_CACHE": str(settings.model_cache)}
    env.pop("QA_CRASH_AT", None)
    run = subprocess.run(
        [sys.executable, "-c", f"from tests.test_crash import run_scenarios; run_scenarios({str(spec)!r})"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(results_file.read_text())
    assert len(results) == len(planned)

    for scenario, result in zip(planned, results):
        name, op, outcome = scenario["name"], scenario["op"], result["outcome"]
        expected = {"complete": {"finished"}, "point": {"killed"}, "random": {"killed", "finished"}}[scenario["kind"]]
        assert outcome in expected, f"{name}: {outcome}\n{run.stderr[-3000:]}"
        s = base.model_copy(update={"index": Path(scenario["index"])})
        assert verify_build((s.index / "current").resolve()) is None, name
        index = Index.open(s, embedder)
        assert index.fallback is None, f"{name}: {index.fallback}"
        found = state(index)
        assert found == after[op] if outcome == "finished" else found in (before, after[op]), name
        serves(index)
        index.close()
        if found == before:  # run again, it completes
            operate(op, s, embedder, files)
        assert opened_state(s, embedder) == after[op], f"{name}: run again"
        if op != "build" and found == before:  # the change that ran again tidied the killed one's files
            current = (s.index / "current").resolve()
            assert sorted(p.name for p in current.glob("dense*")) == ["dense-0.faiss", "dense-1.faiss"], name

    kills = sum(r["outcome"] == "killed" for r in results)
    points = sum(s["kind"] == "point" for s in planned)
    print(f"\n{len(results)} runs: {kills} killed ({points} at named points, "
          f"{kills - points} of {len(POINTS) * RANDOM_KILLS} at random moments), "
          f"{len(results) - kills} finished")
