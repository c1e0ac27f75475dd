"""The citizens' page in a real browser (Debian's Chromium, driven by Playwright)
over the real engine: the real corpus, the real model, a real index, uvicorn.

Needs /usr/bin/chromium (`make browser`); never downloads a browser.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SCREENSHOT = Path("/tmp/page.png")
SCREENSHOT_PHONE = Path("/tmp/page-phone.png")
NO_ANSWER = "Không tìm thấy câu trả lời chắc chắn"
WAIT = 20_000  # ms: one search is well under a second, but the first one warms the model

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed: run `make browser`")


# ---------------------------------------------------------------- the server


@pytest.fixture(scope="session")
def base_url(request, settings, embedder):
    """The real app on a free localhost port, over an index of the real corpus."""
    from qa.api import create_app

    try:  # the session's shared index, when conftest provides it
        request.getfixturevalue("built_index")
    except pytest.FixtureLookupError:
        from qa.store import build_index

        build_index(settings.corpus, settings, embedder=embedder, progress=False)
    with serving(create_app(settings, embedder=embedder)) as url:  # shares the session's loaded model
        yield url


@contextmanager
def serving(app):
    """``app`` served by uvicorn on a free localhost port, for as long as the block runs."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # bound before the server starts: no race for the port
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def words(text: str) -> list[str]:
    return text.split()


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read().decode("utf-8"))


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, base_url):
    """A fresh page; fails the test on a script error or any request off the server."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    pg = context.new_page()
    errors: list[str] = []
    foreign: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource") and errors.append(m.text))
    pg.on("request", lambda r: r.url.startswith((base_url, "data:")) or foreign.append(r.url))
    pg.set_default_timeout(WAIT)
    yield pg
    context.close()
    assert not errors, f"script errors on the page: {errors}"
    assert not foreign, f"the page loaded external resources: {foreign}"


@pytest.fixture
def searches(page, base_url) -> list[str]:
    """The search requests (/answer, /search) the page makes, as "path?query", in order."""
    seen: list[str] = []

    def record(request) -> None:
        url = urlparse(request.url)
        if request.url.startswith(base_url) and url.path in ("/answer", "/search"):
            seen.append(f"{url.path}?{url.query}")

    page.on("request", record)
    return seen


def paths(requests: list[str]) -> list[str]:
    return [urlparse(r).path for r in requests]


def ask(page, query: str) -> None:
    """Type a question and press Enter, as a citizen would; wait for the outcome."""
    page.fill("#q", query)
    page.press("#q", "Enter")
    wait_done(page)


def wait_done(page) -> None:
    expect(page.locator("#submit")).to_be_enabled()
    expect(page.locator("#status")).not_to_have_class("status loading")


# ---------------------------------------------------------------- tests


def test_answer_with_citation_and_highlights(page, base_url, searches):
    page.goto(base_url + "/")
    expect(page.locator("#q")).to_have_attribute("placeholder", "Ví dụ: chỉ tiêu BHYT năm 2021")
    # the filters are filled from /documents
    expect(page.locator("#f-district option", has_text="Bắc Từ Liêm")).to_have_count(1)
    expect(page.locator("#f-year option[value='2021']")).to_have_count(1)

    page.fill("#q", "chỉ tiêu BHYT năm 2021")
    page.click("#submit")
    wait_done(page)
    assert paths(searches) == ["/answer"]  # the answer and the results: one request

    answer = page.locator("#answer")
    expect(answer).to_be_visible()
    # both BHYT targets of 2021: the coverage rate and the number of insured people
    expect(page.locator("#answer-text")).to_contain_text("91,5")
    expect(page.locator("#answer-text")).to_contain_text("259.195")
    citation = page.locator("#answer-citation")
    expect(citation).to_contain_text("21/NQ-HĐND")
    expect(citation).to_contain_text("18/12/2020")  # dd/mm/yyyy
    expect(citation).to_contain_text("Bắc Từ Liêm")
    expect(page.locator("#status")).to_contain_text(re.compile(r"trong [\d.,]+ (ms|giây)"))  # how long it took
    assert parse_qs(urlparse(page.url).query)["q"] == ["chỉ tiêu BHYT năm 2021"]

    results = page.locator("#result-list > li")
    expect(results).to_have_count(10)
    expect(results.filter(has_text="91,5").first).to_be_visible()  # the coverage target is listed
    assert page.locator("#result-list mark").count() > 0
    assert page.locator("#result-list .hl-answer").count() > 0

    # The marks are exactly the API's offsets: same text, same spans.
    data = get_json(f"{base_url}/search?q={quote('chỉ tiêu BHYT năm 2021')}&k=10")
    first = data["results"][0]
    text = first["text"]
    passage = results.first.locator(".passage")
    assert passage.text_content() == text
    terms = sorted((h for h in first["highlights"] if h["kind"] == "term"), key=lambda h: h["start"])
    marks = passage.locator("mark").all_text_contents()
    assert "".join(marks) == "".join(text[h["start"]:h["end"]] for h in terms)
    answer_spans = [text[h["start"]:h["end"]] for h in first["highlights"] if h["kind"] == "answer"]
    assert passage.locator(".hl-answer").all_text_contents() == answer_spans


def test_one_request_per_search(page, base_url, searches):
    """Each search the page runs is one API request: /answer carries the answer and the
    first page of results. Only "Xem thêm" asks /search, for the next page."""
    page.goto(base_url + "/")
    ask(page, "chỉ tiêu BHYT năm 2021")
    expect(page.locator("#result-list > li")).to_have_count(10)
    expect(page.locator("#answer-text")).to_contain_text("91,5")
    assert paths(searches) == ["/answer"]
    assert parse_qs(urlparse(searches[0]).query)["k"] == ["10"]

    page.get_by_role("button", name="số giấy phép xây dựng đã cấp").click()  # an example chip
    wait_done(page)
    expect(page.locator("#result-list > li")).to_have_count(10)
    assert paths(searches) == ["/answer"] * 2

    page.click("#more")
    expect(page.locator("#result-list > li")).to_have_count(20)
    assert paths(searches) == ["/answer"] * 2 + ["/search"]
    assert parse_qs(urlparse(searches[-1]).query)["offset"] == ["10"]

    # a shared link: the page loads and runs its search once
    page.goto(base_url + "/?q=" + quote("thu ngan sach 6 thang dau nam 2024"))
    wait_done(page)
    expect(page.locator("#answer-text")).to_contain_text("2.979")
    assert paths(searches) == ["/answer"] * 2 + ["/search", "/answer"]

    # an unanswerable question: still one request, for the nearest passages as well
    ask(page, "thu ngân sách quận Cầu Giấy năm 2024")
    expect(page.locator("#no-answer")).to_be_visible()
    assert paths(searches) == ["/answer"] * 2 + ["/search"] + ["/answer"] * 2


def test_offsets_are_code_points(page, base_url):
    """Offsets count code points; a character outside the BMP must not shift the marks."""
    page.goto(base_url + "/")
    marked = page.evaluate(
        """() => {
            const box = document.createElement('p');
            QAPage.appendHighlighted(box, '𝐀 chỉ tiêu BHYT 2021',
                [{start: 2, end: 10, kind: 'answer'}, {start: 11, end: 15, kind: 'term'}]);
            return [box.textContent, box.querySelector('.hl-answer').textContent, box.querySelector('mark').textContent];
        }"""
    )
    assert marked == ["𝐀 chỉ tiêu BHYT 2021", "chỉ tiêu", "BHYT"]


def test_query_without_diacritics(page, base_url):
    page.goto(base_url + "/")
    ask(page, "thu ngan sach 6 thang dau nam 2024")
    expect(page.locator("#answer-text")).to_contain_text("2.979")


def test_unanswerable_query_says_so(page, base_url):
    page.goto(base_url + "/")
    ask(page, "thu ngân sách quận Cầu Giấy năm 2024")
    expect(page.locator("#no-answer")).to_be_visible()
    expect(page.locator("#no-answer")).to_contain_text(NO_ANSWER)
    expect(page.locator("#answer")).to_be_hidden()
    expect(page.locator("#error")).to_be_hidden()


def test_keyboard_skip_link_first_then_the_search_box(page, base_url):
    page.goto(base_url + "/")
    page.keyboard.press("Tab")
    expect(page.locator("a.skip-link")).to_be_focused()
    expect(page.locator("a.skip-link")).to_be_in_viewport()  # shown when focused
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#q")).to_be_focused()

    # nothing focused on arrival, yet typing goes into the search box
    page.goto(base_url + "/")
    page.keyboard.type("bhyt 2021")
    expect(page.locator("#q")).to_have_value("bhyt 2021")
    page.keyboard.press("Enter")
    wait_done(page)
    expect(page.locator("#result-list > li").first).to_be_visible()


def test_empty_query_error_then_page_still_works(page, base_url):
    page.goto(base_url + "/")
    page.press("#q", "Enter")
    wait_done(page)
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Bạn chưa nhập câu hỏi")
    expect(page.locator("#q")).to_be_focused()
    expect(error).not_to_contain_text("The query")  # Vietnamese only: the API's English stays in the API
    expect(page.locator("#result-list > li")).to_have_count(0)

    # Markup in a query is text, never markup.
    ask(page, '<img src=x onerror="window.pwned=1"> chỉ tiêu BHYT năm 2021')
    expect(error).to_be_hidden()
    expect(page.locator("#q")).to_have_value('<img src=x onerror="window.pwned=1"> chỉ tiêu BHYT năm 2021')
    expect(page.locator("#result-list > li").first).to_be_visible()
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.pwned === undefined")


def test_errors_are_in_vietnamese_only(page, base_url):
    """A shared link with a filter no document has: the page's own words for the API's code."""
    page.goto(base_url + "/?q=" + quote("thu ngân sách") + "&district=" + quote("Cau Giay"))
    wait_done(page)
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Bộ lọc đã chọn")
    for english in ("Unknown", "Known values", "Chi tiết"):
        expect(error).not_to_contain_text(english)

    page.goto(base_url + "/")
    ask(page, "?!* …")  # nothing to search for
    expect(error).to_contain_text("Câu hỏi chưa có từ nào để tìm")
    expect(error).not_to_contain_text("The query")

    page.goto(base_url + "/?q=" + quote("bhyt") + "&year=1800")
    wait_done(page)
    expect(error).to_contain_text("Đường link có tham số không hợp lệ")
    expect(error).not_to_contain_text("year")


def test_changing_a_filter_reruns_the_search(page, base_url, searches):
    """A filter applies at once: results, answer and link follow it, no second click."""
    page.goto(base_url + "/")
    ask(page, "chỉ tiêu BHYT năm 2021")
    expect(page.locator("#answer-citation")).to_contain_text("Nghị quyết")
    assert paths(searches) == ["/answer"]

    page.select_option("#f-type", "tin bài")
    wait_done(page)
    assert paths(searches) == ["/answer"] * 2
    assert parse_qs(urlparse(page.url).query)["type"] == ["tin bài"]
    assert parse_qs(urlparse(searches[-1]).query)["type"] == ["tin bài"]
    kinds = page.locator("#result-list > li dl.meta").all_inner_texts()
    assert kinds and all("Tin bài" in k for k in kinds)
    if page.locator("#answer").is_visible():  # an answer, if any, from a news post too
        expect(page.locator("#answer-citation")).to_contain_text("Tin bài")

    page.select_option("#f-district", "Tây Hồ")
    wait_done(page)
    expect(page.locator("#filters-active")).to_have_text("(2 đang áp dụng)")
    query = parse_qs(urlparse(page.url).query)
    assert (query["district"], query["type"], query["q"]) == (["Tây Hồ"], ["tin bài"], ["chỉ tiêu BHYT năm 2021"])
    metas = page.locator("#result-list > li dl.meta").all_inner_texts()
    assert metas and all("Tây Hồ" in m and "Tin bài" in m for m in metas)

    page.select_option("#f-type", "")
    page.select_option("#f-district", "")
    wait_done(page)
    assert paths(searches) == ["/answer"] * 5
    assert "type" not in parse_qs(urlparse(page.url).query)
    expect(page.locator("#answer-citation")).to_contain_text("21/NQ-HĐND")  # unfiltered again

    # with no question yet, a filter waits for the first search
    page.goto(base_url + "/")
    page.select_option("#f-district", "Tây Hồ")
    expect(page.locator("#filters-active")).to_have_text("(1 đang áp dụng)")
    assert paths(searches) == ["/answer"] * 5


def test_shared_passage_link(page, base_url):
    """…&doc=…&p=ID marks that passage, fetched by id when no search lists it; a link to a
    passage that no longer exists says so instead of marking something else."""
    result = get_json(f"{base_url}/search?q={quote('thu ngan sach 6 thang dau nam 2024')}&k=1")["results"][0]
    doc_id = result["doc"]["id"]
    page.goto(f"{base_url}/?doc={quote(doc_id)}&p={result['id']}")
    expect(page.locator("#doc-title")).to_have_text(result["doc"]["title"])
    expect(page.locator("#passage")).to_be_in_viewport()
    assert words(page.locator("#passage").inner_text())[:5] == words(result["text"].replace("**", ""))[:5]
    expect(page.locator("#passage-gone")).to_be_hidden()

    for gone in (999999, next(r["id"] for r in get_json(f"{base_url}/search?q=bhyt&k=20")["results"]
                              if r["doc"]["id"] != doc_id)):  # an id of another document: not this one's
        page.goto(f"{base_url}/?doc={quote(doc_id)}&p={gone}")
        expect(page.locator("#passage-gone")).to_be_in_viewport()
        expect(page.locator("#passage-gone")).to_contain_text("không còn nữa")
        expect(page.locator("#doc-title")).to_have_text(result["doc"]["title"])  # the document is still shown
        expect(page.locator("#passage")).to_have_count(0)
        expect(page.locator("#error")).to_be_hidden()


def test_api_docs_render_offline(browser, base_url):
    """/docs shows the operations with every request on this server (no CDN)."""
    context = browser.new_context()
    pg = context.new_page()
    requests: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.set_default_timeout(WAIT)
    try:
        pg.goto(base_url + "/docs")
        for path in ("/search", "/answer", "/passages/{passage_id}", "/health"):
            expect(pg.locator(f'.opblock-summary-path[data-path="{path}"]')).to_be_visible()
        expect(pg.get_by_text("The best answer with its citation").first).to_be_visible()
        pg.goto(base_url + "/redoc")  # leads to /docs (ReDoc itself would fetch its logo from a CDN)
        expect(pg).to_have_url(base_url + "/docs")
        expect(pg.locator('.opblock-summary-path[data-path="/search"]')).to_be_visible()
    finally:
        context.close()
    assert any(u.endswith("/docs-assets/swagger-ui-bundle.js") for u in requests)
    assert any(u.endswith("/docs-assets/swagger-ui.css") for u in requests)
    foreign = [u for u in requests if not u.startswith((base_url + "/", "data:"))]
    assert not foreign, f"the docs loaded resources from elsewhere: {foreign}"


def test_example_chip_shared_link_and_document(page, base_url):
    page.goto(base_url + "/")
    page.get_by_role("button", name="số giấy phép xây dựng đã cấp").click()
    wait_done(page)
    assert parse_qs(urlparse(page.url).query)["q"] == ["số giấy phép xây dựng đã cấp"]
    expect(page.locator("#q")).to_have_value("số giấy phép xây dựng đã cấp")
    expect(page.locator("#result-list > li").first).to_be_visible()

    # "Xem thêm" appends the next page (offset).
    expect(page.locator("#result-list > li")).to_have_count(10)
    page.click("#more")
    expect(page.locator("#result-list > li")).to_have_count(20)

    # Filters narrow the search and travel in the link.
    page.select_option("#f-district", "Tây Hồ")  # runs the search on screen again
    wait_done(page)
    ask(page, "bảo hiểm y tế")
    assert parse_qs(urlparse(page.url).query)["district"] == ["Tây Hồ"]
    districts = page.locator("#result-list > li dl.meta").all_inner_texts()
    assert districts and all("Tây Hồ" in d for d in districts)
    page.select_option("#f-district", "")
    wait_done(page)

    # A shared link runs the search on arrival.
    page.goto(base_url + "/?q=" + quote("chỉ tiêu BHYT năm 2021"))
    wait_done(page)
    expect(page.locator("#q")).to_have_value("chỉ tiêu BHYT năm 2021")
    expect(page.locator("#answer-citation")).to_contain_text("21/NQ-HĐND")

    # The whole document, with the answering passage marked and scrolled to.
    # the value of the answering row itself (other rows of its table may follow it)
    answer_value = page.locator("#answer-text .answer-value dd").first.inner_text()
    page.locator("#answer-citation a").click()
    doc = get_json(f"{base_url}/documents/bac-tu-liem-nq-21-2020-ke-hoach-nam-2021")
    expect(page.locator("#doc-view")).to_be_visible()
    expect(page.locator("#doc-title")).to_have_text(doc["title"])
    expect(page.locator("#doc-title")).to_be_focused()
    assert "doc=bac-tu-liem-nq-21-2020-ke-hoach-nam-2021" in page.url
    assert words(page.locator("#doc-text").inner_text()) == words(doc["text"].replace("**", ""))
    expect(page.locator("#passage")).to_be_in_viewport()
    expect(page.locator("#passage")).to_contain_text(answer_value)

    page.click("#doc-back")
    expect(page.locator("#doc-view")).to_be_hidden()
    expect(page.locator("#answer")).to_be_visible()


def test_screenshots(page, base_url):
    page.goto(base_url + "/?q=" + quote("chỉ tiêu BHYT năm 2021"))
    wait_done(page)
    expect(page.locator("#answer")).to_be_visible()
    page.screenshot(path=str(SCREENSHOT))

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(base_url + "/?q=" + quote("thu ngan sach 6 thang dau nam 2024"))
    wait_done(page)
    page.screenshot(path=str(SCREENSHOT_PHONE))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
