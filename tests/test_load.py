"""The served app under load and under a kill, for real: uvicorn on a localhost port,
32 concurrent clients for a bounded time while staff add and remove a document, and a
server process killed with SIGKILL in the middle of an ingest, then restarted.

Nothing here asserts a time: the load test counts errors and memory, the kill test
checks what the restarted server serves."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import CORPUS

TOKEN = "load-token"
STAFF = {"Authorization": f"Bearer {TOKEN}"}
CLIENTS = 32
SECONDS = 8.0          # how long the clients keep sending: bounded in time ...
MAX_REQUESTS = 400     # ... and in count, whichever comes first, per client
QUERIES = [
    "chỉ tiêu BHYT năm 2021", "thu ngan sach 6 thang dau nam 2024", "tỷ lệ hộ nghèo", "kết nạp đảng viên mới",
    "nghị quyết 21/NQ-HĐND", "trường mầm non đạt chuẩn", "giải phóng mặt bằng", "Tây Hồ 3 tháng cuối năm 2020",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _made_up(nonce: str, paragraphs: int) -> str:
    """A new document each run (the nonce): its passages are not in the embedding cache,
    so ingesting it takes real time for a kill to land in."""
    body = "\n\n".join(
        f"{i}. Năm 2021, phường Nhật Tân hoàn thành hạng mục số {i} mã {nonce}-{i}: lát {100 + i} mét vuông vỉa hè, "
        f"trồng {20 + i} cây xanh và lắp {i % 7 + 1} cột đèn chiếu sáng dọc tuyến đường ven hồ, kinh phí {i},5 tỷ đồng."
        for i in range(1, paragraphs + 1))
    return f"UBND QUẬN TÂY HỒ\nBÁO CÁO\nKết quả chỉnh trang đô thị phường Nhật Tân mã {nonce}\n\n{body}\n"


@pytest.fixture(scope="module")
def served(settings, embedder, tmp_path_factory):
    """The real app over a copy of the corpus, with staff routes, on uvicorn in a thread."""
    import uvicorn
    from pydantic import SecretStr

    from qa.api import create_app
    from qa.store import build_index

    root = tmp_path_factory.mktemp("load")
    shutil.copytree(CORPUS, root / "corpus")
    s = settings.model_copy(update={"corpus": root / "corpus", "index": root / "index",
                                    "admin_token": SecretStr(TOKEN)})
    build_index(s.corpus, s, embedder=embedder, progress=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(s, embedder=embedder), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    yield base
    server.should_exit = True
    thread.join(timeout=30)


def test_32_clients_get_no_error_while_staff_add_and_remove_a_document(served):
    statuses: dict[int, int] = {}
    failures: list[str] = []
    health: list[int] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + SECONDS
    rss_before = _rss_mb()

    def citizen(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=served, timeout=60) as c:
            for _ in range(MAX_REQUESTS):
                if time.monotonic() > stop_at:
                    return
                route = rng.choice(["/search", "/answer"])
                try:
                    r = c.get(route, params={"q": rng.choice(QUERIES)})
                    with lock:
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(repr(exc))

    def monitor() -> None:
        with httpx.Client(base_url=served, timeout=60) as c:
            while time.monotonic() < stop_at:
                health.append(c.get("/health").status_code)
                time.sleep(0.25)

    staff_result: dict = {}

    def staff() -> None:
        with httpx.Client(base_url=served, timeout=60, headers=STAFF) as c:
            text = _made_up(uuid.uuid4().hex[:8], 6).encode()
            def finished(job: dict) -> dict:
                deadline = time.monotonic() + 120  # a job stuck in the queue fails the test, never hangs it
                while job["status"] in ("queued", "running") and time.monotonic() < deadline:
                    time.sleep(0.2)
                    job = c.get(f"/jobs/{job['id']}").json()
                return job

            staff_result["add"] = finished(c.post("/documents", files={"file": ("chinh-trang.txt", text)}).json())["status"]
            staff_result["delete"] = finished(c.delete("/documents/chinh-trang").json())["status"]

    threads = [threading.Thread(target=citizen, args=(i,)) for i in range(CLIENTS)]
    threads += [threading.Thread(target=monitor), threading.Thread(target=staff)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    growth = _rss_mb() - rss_before
    print(f"\n{sum(statuses.values())} requests from {CLIENTS} clients in {SECONDS:g} s: {statuses}; "
          f"health checks {len(health)}; memory +{growth:.0f} MB")
    assert failures == []
    assert set(statuses) == {200}, statuses
    assert sum(statuses.values()) >= CLIENTS
    assert health and set(health) == {200}
    assert staff_result == {"add": "done", "delete": "done"}
    assert growth < 500, f"memory grew by {growth:.0f} MB under load"


# ------------------------------------------------------------- kill and restart


def _start(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "qa.api:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("the server did not become healthy")


@pytest.mark.parametrize("kill_when", ["queued", "running"])
def test_a_server_killed_during_an_ingest_restarts_on_a_good_index(settings, embedder, tmp_path, kill_when):
    from qa.store import build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "tay-ho-tin-nhiem-vu-3-thang-cuoi-nam-2020.txt", corpus)
    s = settings.model_copy(update={"corpus": corpus, "index": tmp_path / "index"})
    build_index(corpus, s, embedder=embedder, progress=False)
    env = {**os.environ, "QA_CORPUS": str(corpus), "QA_INDEX": str(tmp_path / "index"),
           "QA_MODEL_CACHE": str(settings.model_cache), "QA_ADMIN_TOKEN": TOKEN}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(env, port)
    try:
        _wait_healthy(base, proc)
        before = httpx.get(f"{base}/health").json()
        text = _made_up(uuid.uuid4().hex[:8], 60).encode()  # about a minute of embedding
        job = httpx.post(f"{base}/documents", files={"file": ("chinh-trang.txt", text)}, headers=STAFF,
                         timeout=60).json()
        if kill_when == "running":
            deadline = time.monotonic() + 60
            while job["status"] == "queued" and time.monotonic() < deadline:
                time.sleep(0.05)
                job = httpx.get(f"{base}/jobs/{job['id']}", headers=STAFF).json()
            assert job["status"] == "running"
            time.sleep(random.uniform(0.2, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc = _start(env, port)
    try:
        _wait_healthy(base, proc)
        after = httpx.get(f"{base}/health").json()
        got = httpx.get(f"{base}/jobs/{job['id']}", headers=STAFF).json()
        ids = [d["id"] for d in httpx.get(f"{base}/documents").json()]
        if got["status"] == "failed":  # killed before the index took it: nothing of it anywhere
            assert "interrupted" in got["error"]
            assert after["documents"] == before["documents"] and after["passages"] == before["passages"]
            assert "chinh-trang" not in ids
            assert not (corpus / "chinh-trang.txt").exists(), "the folder agrees with the index"
            assert list((tmp_path / "index" / "removed").glob("*chinh-trang.txt")), "the upload is kept aside"
        else:  # it finished before the kill landed
            assert got["status"] == "done" and "chinh-trang" in ids
        r = httpx.get(f"{base}/search", params={"q": "nhiệm vụ 3 tháng cuối năm 2020"}, timeout=60)
        assert r.status_code == 200 and r.json()["results"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
