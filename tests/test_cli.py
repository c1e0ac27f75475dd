"""The command line on the real corpus and model: help pages, build, add, remove, search, serve."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app, find_document, result_lines
from qa.config import PROJECT_ROOT
from tests.conftest import CORPUS

QA = str(Path(sys.executable).with_name("qa"))
NQ21 = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"
BC2024 = "bac-tu-liem-bao-cao-6-thang-dau-nam-2024"
TAYHO = "tay-ho-tin-nhiem-vu-3-thang-cuoi-nam-2020"
COMMANDS = ["build", "add", "remove", "search", "serve", "eval", "train"]


@pytest.fixture
def run(settings):
    """``qa ARGS`` in this process, on the tests' model cache, with a wide terminal."""
    runner = CliRunner()
    env = {"QA_MODEL_CACHE": str(settings.model_cache), "COLUMNS": "200", "NO_COLOR": "1"}

    def invoke(*args: str):
        return runner.invoke(app, list(args), env=env, prog_name="qa")

    return invoke


def _env(settings, **extra: str) -> dict[str, str]:
    return {**os.environ, "QA_MODEL_CACHE": str(settings.model_cache), "COLUMNS": "200", **extra}


# -- help -------------------------------------------------------------------------


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_has_no_placeholders(run, command):
    result = run(*([command] if command else []), "--help")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "<bool>" not in text and "<str>" not in text and "<list" not in text, text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage


def test_help_shows_the_default_folders(run):
    for command in ("build", "search", "serve", "add", "remove"):
        text = " ".join(run(command, "--help").output.split())
        assert f"index/ in the project, {PROJECT_ROOT}" in text and "QA_INDEX" in text, text
    text = " ".join(run("build", "--help").output.split())
    assert f"corpus/ in the project, {PROJECT_ROOT}" in text and "QA_CORPUS" in text
    text = " ".join(run("search", "--help").output.split())
    assert "Usage: qa search [OPTIONS] QUERY" in text


def test_remove_help_says_what_a_document_id_is(run):
    text = " ".join(run("remove", "--help").output.split())
    assert "Usage: qa remove [OPTIONS] DOC_ID" in text
    assert "file name without the extension" in text and "GET /documents" in text


def test_add_takes_several_paths():
    text = " ".join(CliRunner().invoke(app, ["add", "--help"], env={"COLUMNS": "200"}, prog_name="qa").output.split())
    assert "Usage: qa add [OPTIONS] PATH..." in text


# -- build, add, remove on an index of their own -------------------------------------


@pytest.fixture
def small(tmp_path, settings, run):
    """A corpus of two documents, built into an index of its own with `qa build`."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in (TAYHO, BC2024):
        shutil.copy(CORPUS / f"{name}.txt", corpus)
    index = tmp_path / "index"
    result = run("build", "--corpus", str(corpus), "--index", str(index))
    assert result.exit_code == 0, result.output
    assert "Indexed 2 documents" in result.output
    return corpus, index


def test_build_of_an_empty_folder_fails_and_says_so(tmp_path, run):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("build", "--corpus", str(empty), "--index", str(tmp_path / "index"))
    assert result.exit_code != 0
    assert "Nothing was indexed" in result.output and ".docx" in result.output


def test_build_of_unreadable_files_lists_them_and_fails(tmp_path, run):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "broken.docx").write_bytes(b"this is not a zip file")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 nothing else")
    result = run("build", "--corpus", str(corpus), "--index", str(tmp_path / "index"))
    assert result.exit_code != 0
    assert "skipped:" in result.output and "broken.docx" in result.output and "broken.pdf" in result.output
    assert "Nothing was indexed" in result.output


def test_add_several_files_indexes_the_good_ones_and_names_the_bad(small, tmp_path, run):
    corpus, index = small
    good = tmp_path / f"{NQ21}.txt"
    shutil.copy(CORPUS / good.name, good)
    bad = tmp_path / "broken.docx"
    bad.write_bytes(b"not a docx")
    missing = tmp_path / "missing.txt"
    result = run("add", str(good), str(bad), str(missing), "--index", str(index))
    assert result.exit_code != 0  # something was skipped
    assert f"indexed: {NQ21}" in result.output
    assert "skipped:" in result.output and "broken.docx" in result.output and "missing.txt" in result.output
    assert "Traceback" not in result.output
    # the good one is in the index despite the bad ones
    found = run("search", "chỉ tiêu BHYT năm 2021", "--k", "1", "--json", "--index", str(index))
    assert json.loads(found.output)["results"][0]["doc"]["id"] == NQ21
    # the same file again changes nothing, and that is not a failure
    again = run("add", str(good), str(corpus / f"{TAYHO}.txt"), "--index", str(index))
    assert again.exit_code == 0, again.output
    lines = again.output.splitlines()
    assert not any(line.startswith(("indexed:", "skipped:")) for line in lines), again.output


def test_remove_by_file_name_or_with_suggestions(small, run):
    corpus, index = small
    # a typo: the closest ids are suggested, nothing is removed
    result = run("remove", "tay-ho-tin-nhiem-vu-3-thang-cuoi-nam-202", "--index", str(index))
    assert result.exit_code != 0
    assert "Did you mean" in result.output and TAYHO in result.output
    result = run("remove", "x.docx", "--index", str(index))
    assert result.exit_code != 0 and "No document with the id 'x.docx'" in result.output
    assert "GET /documents" in result.output
    # the file's name names its document
    result = run("remove", f"{TAYHO}.txt", "--index", str(index))
    assert result.exit_code == 0, result.output
    assert f"Removed {TAYHO}" in result.output
    result = run("remove", BC2024, "--index", str(index))
    assert result.exit_code == 0 and f"Removed {BC2024}" in result.output


def test_find_document(built_index):
    docs = built_index.documents()
    assert find_document(docs, NQ21) == (NQ21, [])
    assert find_document(docs, f"{NQ21}.txt") == (NQ21, [])
    assert find_document(docs, f"corpus/{NQ21}.txt") == (NQ21, [])
    found, maybe = find_document(docs, "bac-tu-liem-nq-21-2020.docx")
    assert found is None and maybe[0] == NQ21
    assert find_document(docs, "nothing-like-it") == (None, [])


# -- search ---------------------------------------------------------------------------


def test_search_prints_only_the_fields_a_document_has(searcher):
    from qa.api import search_out

    body = search_out(searcher.search("thu ngân sách 6 tháng đầu năm 2024", k=5))
    top = body.results[0]
    assert top.doc.id == BC2024 and top.doc.date == ""  # a report without a date
    lines = result_lines(1, top)
    assert lines[0].startswith("1. ") and "2.979" in lines[0]
    assert "(báo cáo) › " in lines[1] and ", )" not in lines[1]
    # a passage before the first heading has no section: no trailing "›"
    body = search_out(searcher.search("Căn cứ Luật Tổ chức chính quyền địa phương", k=20, mode="lexical"))
    without = [r for r in body.results if not r.section]
    assert without
    for r in without:
        line = result_lines(1, r)[1]
        assert "›" not in line and not line.endswith(" ")
        assert line.strip() == f"{r.doc.title} ({', '.join(v for v in (r.doc.number or r.doc.type, r.doc.date) if v)})"


def test_search_command(built_index, settings, run):
    result = run("search", "thu ngân sách 6 tháng đầu năm 2024", "--k", "3", "--index", str(settings.index))
    assert result.exit_code == 0, result.output
    assert "1. " in result.output and "(báo cáo) › " in result.output and ", )" not in result.output
    assert not re.search(r"› *$", result.output, re.MULTILINE)
    # nothing to search for: a plain message and no results
    result = run("search", "III.", "--index", str(settings.index))
    assert result.exit_code == 0 and "words or numbers" in result.output and "1. " not in result.output
    result = run("search", "你好", "--json", "--index", str(settings.index))
    body = json.loads(result.output)
    assert body["results"] == [] and body["total"] == 0
    # an empty filter is no filter
    result = run("search", "nhiệm vụ trọng tâm", "--district", "", "--index", str(settings.index))
    assert result.exit_code == 0 and "1. " in result.output
    result = run("search", "nhiệm vụ", "--mode", "fuzzy", "--index", str(settings.index))
    assert result.exit_code == 1 and "Unknown mode" in result.output


# -- the model loads quietly ---------------------------------------------------------------


def test_loading_the_model_prints_no_progress_bar(settings):
    """On torch, transformers shows "Loading weights" for every load, i.e. every CLI call."""
    code = ("from qa.config import Settings; from qa.embedding import Embedder; import sys; "
            "e = Embedder(Settings(backend='torch', model_cache=sys.argv[1], embedding_cache=False)); "
            "print(e.encode_query('chỉ tiêu').shape)")
    done = subprocess.run([sys.executable, "-c", code, str(settings.model_cache)], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, env=_env(settings), timeout=600)
    assert done.returncode == 0, done.stderr
    assert "(384,)" in done.stdout
    assert "Loading weights" not in done.stderr and "it/s" not in done.stderr, done.stderr


def test_search_command_prints_nothing_on_stderr(built_index, settings):
    done = subprocess.run([QA, "search", "chỉ tiêu BHYT năm 2021", "--k", "1", "--index", str(settings.index)],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=_env(settings), timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1. ") and done.stderr == ""


# -- serve --workers -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone too (its parent has not reaped it yet)
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def test_serve_with_two_workers(built_index, settings, tmp_path):
    """Two worker processes start, each loads the index and answers /health, and both go
    when the server is stopped."""
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [QA, "serve", "--workers", "2", "--port", str(port), "--index", str(settings.index)],
            stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=_env(settings))
    try:
        # both workers load the model and the index (bounded wait on two busy cores)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and server.poll() is None:
            if log.read_text().count("Application startup complete") == 2 and _health(port):
                break
            time.sleep(1)
        text = log.read_text()
        assert server.poll() is None, text
        assert text.count("Application startup complete") == 2, text
        workers = [int(p) for p in re.findall(r"Started server process \[(\d+)\]", text)]
        assert len(set(workers)) == 2 and server.pid not in workers, text
        assert all(_alive(pid) for pid in workers)
        for _ in range(6):  # whichever worker takes the connection answers with the same index
            health = _health(port)
            assert health and health["status"] == "ok" and health["documents"] == 5, text
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, log.read_text()
    assert not any(_alive(pid) for pid in workers)
    assert _health(port) is None
