"""Validity badges and the "Văn bản liên quan" panel of the citizens' page, in a real
browser, over a real index of documents that replace one another (``related_index``)."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlparse

import pytest

from tests.test_browser import (CHROMIUM, browser, expect, get_json, page, paths, searches,  # noqa: F401
                                serving, wait_done)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed: run `make browser`")

CIRCULAR_2023 = "congbao:thong-tu-so-20-2023-tt-bldtbxh-41198"
CIRCULAR_2025 = "congbao:thong-tu-so-01-2025-tt-bldtbxh-43956"
NQ21 = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"
TAYHO = "tay-ho-tin-nhiem-vu-3-thang-cuoi-nam-2020"
LABELS = {"in_force": "Còn hiệu lực", "partly_amended": "Sửa đổi một phần", "replaced": "Hết hiệu lực",
          "expired": "Hết hiệu lực", "not_yet_in_force": "Chưa có hiệu lực", "unknown": "Chưa rõ"}


@pytest.fixture(scope="module")
def base_url(related_index, embedder):
    """The page over ``related_index`` (this module's ``page`` fixture uses it)."""
    from qa.api import create_app

    with serving(create_app(related_index.settings, embedder=embedder)) as url:
        yield url


def test_each_result_has_its_documents_status_badge(page, base_url):
    query = "mức điều chỉnh tiền lương tháng đã đóng bảo hiểm xã hội"
    page.goto(f"{base_url}/?q={quote(query)}")
    wait_done(page)
    items = page.locator("#result-list > li")
    expect(items.first).to_be_visible()
    api = get_json(f"{base_url}/answer?q={quote(query)}&k=10")["results"]
    assert items.count() == len(api)
    badges = page.locator("#result-list > li .result-title .status-badge")
    expect(badges).to_have_count(len(api))
    assert badges.all_inner_texts() == [LABELS[r["status"]] for r in api]
    assert api[0]["doc"]["id"] == CIRCULAR_2025 and badges.first.inner_text() == "Còn hiệu lực"


def test_document_view_status_and_related_documents_open_in_the_document_view(page, base_url):
    page.goto(f"{base_url}/?doc={quote(CIRCULAR_2023)}")
    expect(page.locator("#doc-title")).to_contain_text("THÔNG TƯ Quy định mức điều chỉnh tiền lương")
    expect(page.locator("#doc-status .status-badge")).to_have_text("Hết hiệu lực")
    expect(page.locator("#doc-status")).to_contain_text("Có hiệu lực từ")
    panel = page.locator("#doc-related")
    expect(panel).to_be_visible()
    expect(panel.locator("h3")).to_have_text("Văn bản liên quan")
    replaced_by = panel.locator('ul[data-direction="incoming"] li[data-kind="replaces"]')
    expect(replaced_by).to_have_count(1)
    expect(replaced_by).to_contain_text("Bị thay thế bởi")
    expect(replaced_by).to_contain_text("01/2025/TT-BLĐTBXH")
    expect(panel.locator('ul[data-direction="outgoing"] li[data-kind="based_on"]').first).to_contain_text(
        "chưa có trong hệ thống")

    replaced_by.locator("a").click()  # a linked document opens in the document view
    newest = get_json(f"{base_url}/documents/{quote(CIRCULAR_2025)}")
    expect(page.locator("#doc-title")).to_have_text(newest["title"])
    assert f"doc={quote(CIRCULAR_2025, safe='')}" in page.url or f"doc={CIRCULAR_2025}" in page.url
    expect(page.locator("#doc-status .status-badge")).to_have_text("Còn hiệu lực")
    replaces = page.locator('#doc-related ul[data-direction="outgoing"] li[data-kind="replaces"]')
    expect(replaces).to_contain_text("Thay thế")
    expect(replaces.locator("a")).to_have_attribute("href", f"/?doc={quote(CIRCULAR_2023, safe='')}")

    page.go_back()  # the browser's back returns to the document it came from
    expect(page.locator("#doc-status .status-badge")).to_have_text("Hết hiệu lực")


def test_a_document_of_unknown_status_and_one_without_relations(page, base_url):
    page.goto(f"{base_url}/?doc={NQ21}")
    expect(page.locator("#doc-status .status-badge")).to_have_text("Chưa rõ")
    bases = page.locator('#doc-related ul[data-direction="outgoing"] li[data-kind="based_on"]')
    expect(bases).to_have_count(2)
    expect(bases.first).to_contain_text("Căn cứ")
    expect(bases.first).to_contain_text("Luật Tổ chức chính quyền địa phương")
    page.goto(f"{base_url}/?doc={TAYHO}")
    expect(page.locator("#doc-title")).not_to_have_text("Đang tải văn bản…")
    expect(page.locator("#doc-related")).to_be_hidden()


def test_a_short_number_two_documents_share_says_which(page, base_url):
    page.goto(f"{base_url}/?q={quote('nghi quyet 21 nq hdnd bac tu liem')}")
    wait_done(page)
    note = page.locator("#named-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("khớp 2 văn bản")
    shown = note.locator(".named-doc.is-shown")  # the document the first result is from
    expect(shown).to_have_count(1)
    expect(shown).to_contain_text("21/NQ-HĐND – Nghị quyết về kế hoạch phát triển kinh tế - xã hội năm 2021")
    expect(note.locator(".named-doc:not(.is-shown)")).to_contain_text("21/2025/NQ-HĐND")
    expect(page.locator("#result-list > li .result-title a").first).to_contain_text("kế hoạch phát triển kinh tế")
    page.goto(f"{base_url}/?q={quote('01/2025/TT-BLĐTBXH')}")  # one document of that number: nothing to say
    wait_done(page)
    expect(note).to_be_hidden()


def test_the_validity_filter_leaves_out_replaced_documents(page, base_url, searches):
    """"Hiệu lực" is a filter like the others: it re-runs the search with include_expired=false,
    the link says so (and restores it), it counts as applied; the replaced circulars go."""
    query = "mức điều chỉnh tiền lương tháng đã đóng bảo hiểm xã hội"
    page.goto(f"{base_url}/?q={quote(query)}")
    wait_done(page)
    badges = page.locator("#result-list > li .result-title .status-badge")
    expect(badges.first).to_be_visible()
    everything = get_json(f"{base_url}/answer?q={quote(query)}&k=10")["results"]
    assert {"replaced", "expired"} & {r["status"] for r in everything}  # the unfiltered page has them
    assert "Hết hiệu lực" in badges.all_inner_texts()
    expect(page.locator("#filters-active")).to_have_text("")
    expect(page.locator("label[for='f-valid']")).to_have_text("Hiệu lực")
    expect(page.locator("#f-valid option")).to_have_text(["Tất cả văn bản", "Chỉ văn bản còn hiệu lực"])
    assert paths(searches) == ["/answer"] and "include_expired" not in parse_qs(urlparse(searches[0]).query)

    page.select_option("#f-valid", "false")
    wait_done(page)
    assert paths(searches) == ["/answer"] * 2
    assert parse_qs(urlparse(searches[-1]).query)["include_expired"] == ["false"]
    assert parse_qs(urlparse(page.url).query)["include_expired"] == ["false"]
    expect(page.locator("#filters-active")).to_have_text("(1 đang áp dụng)")
    in_force = get_json(f"{base_url}/answer?q={quote(query)}&k=10&include_expired=false")["results"]
    assert in_force and not {"replaced", "expired"} & {r["status"] for r in in_force}
    expect(badges).to_have_count(len(in_force))
    assert "Hết hiệu lực" not in badges.all_inner_texts()
    links = page.locator("#result-list > li .result-title a")
    assert not any(CIRCULAR_2023 in (h or "") or quote(CIRCULAR_2023, safe="") in (h or "")
                   for h in (links.nth(i).get_attribute("href") for i in range(links.count())))
    # a result's link to its document carries the filter, so "back" finds the same results
    assert "include_expired=false" in (links.first.get_attribute("href") or "")

    page.reload()  # the link restores the filter
    wait_done(page)
    expect(page.locator("#f-valid")).to_have_value("false")
    expect(page.locator("#filters-active")).to_have_text("(1 đang áp dụng)")
    assert parse_qs(urlparse(searches[-1]).query)["include_expired"] == ["false"]
    expect(badges).to_have_count(len(in_force))

    page.select_option("#f-valid", "")  # the empty value is no filter
    wait_done(page)
    assert "include_expired" not in parse_qs(urlparse(page.url).query)
    assert "include_expired" not in parse_qs(urlparse(searches[-1]).query)
    expect(page.locator("#filters-active")).to_have_text("")
    expect(badges).to_have_count(len(everything))
    assert "Hết hiệu lực" in badges.all_inner_texts()

    page.go_back()  # history holds the filtered search
    wait_done(page)
    expect(page.locator("#f-valid")).to_have_value("false")
    expect(badges).to_have_count(len(in_force))
    assert parse_qs(urlparse(searches[-1]).query)["include_expired"] == ["false"]
