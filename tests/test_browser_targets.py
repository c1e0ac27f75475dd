"""The "Chỉ tiêu" view of the citizens' page in a real browser (Debian's Chromium via
Playwright) over the real engine: the real corpus and model, a real index, uvicorn.
The server, browser and page fixtures are test_browser's (a page fails its test on a
script error, a CSP violation or any request off the server)."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlparse

import pytest

from tests.test_browser import CHROMIUM, expect, get_json, wait_done
from tests.test_browser import base_url, browser, page  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed: run `make browser`")

BHYT = "ty-le-bao-phu-bao-hiem-y-te"
BTL_PLAN = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"
TAY_HO = "tay-ho-tin-chuong-trinh-toan-khoa-2020-2025"


def wait_targets(page) -> None:
    expect(page.locator("#targets-submit")).to_be_enabled()
    expect(page.locator("#status")).not_to_have_class("status loading")


def link_target(href: str) -> tuple[str, str]:
    query = parse_qs(urlparse(href).query)
    return query["doc"][0], query.get("p", [""])[0]


def test_health_insurance_timeline_shows_both_values_with_links_to_their_passages(page, base_url):
    timeline = get_json(f"{base_url}/targets/{BHYT}")
    sources = {(r["value_written"], r["source"]["doc_id"], str(r["source"]["passage_id"]))
               for e in timeline["entries"] for r in e["plans"]}
    assert {("91,5", BTL_PLAN), ("95", TAY_HO)} <= {(v, d) for v, d, _ in sources}

    page.goto(base_url + "/?view=chi-tieu&q=" + quote("bảo hiểm y tế"))
    wait_targets(page)
    expect(page.locator("#targets-view")).to_be_visible()
    expect(page.locator(".search-card")).to_be_hidden()
    expect(page.locator("#tab-targets")).to_have_attribute("aria-current", "page")
    expect(page.locator("#tq")).to_have_value("bảo hiểm y tế")
    # the matching indicators, the best one open
    expect(page.locator("#indicator-list > li").first).to_contain_text("Tỷ lệ bao phủ bảo hiểm y tế")
    expect(page.locator("#indicator-list > li.is-current a")).to_have_attribute("aria-current", "true")
    expect(page.locator("#timeline-title")).to_have_text("Tỷ lệ bao phủ bảo hiểm y tế")

    # both plans in the table, each linking to its own passage
    rows = page.locator("#timeline-body > tr")
    expect(rows).to_have_count(len(timeline["entries"]))
    links = page.locator("#timeline-body a")
    found = set()
    for i in range(links.count()):
        link = links.nth(i)
        doc_id, passage = link_target(link.get_attribute("href"))
        found.add((link.inner_text().split()[0].rstrip("%"), doc_id, passage))
    assert {("91,5", BTL_PLAN), ("95", TAY_HO)} <= {(v, d) for v, d, _ in found}
    assert found <= {(v, d, p) for v, d, p in sources} | {(v, d, p) for v, d, p in found if v not in ("91,5", "95")}
    assert all(p for _, _, p in found)  # every value names its passage
    tay_ho_row = rows.filter(has_text="Tây Hồ")
    expect(tay_ho_row.locator("th")).to_have_text("giai đoạn 2020-2025")
    expect(rows.filter(has_text="Bắc Từ Liêm").locator("th")).to_have_text("năm 2021")

    # the chart: an SVG image with one bar a plan, described for screen readers
    chart = page.locator("#timeline-chart svg")
    expect(chart).to_have_attribute("role", "img")
    assert chart.locator("rect").count() == 2
    description = page.locator("#timeline-chart-desc").text_content()
    assert "91,5%" in description and "95%" in description

    # a value opens its passage in the document view; back returns to the timeline
    value = page.locator("#timeline-body a", has_text="91,5%")
    value.click()
    expect(page.locator("#doc-view")).to_be_visible()
    expect(page.locator("#doc-title")).to_have_text(get_json(f"{base_url}/documents/{BTL_PLAN}")["title"])
    expect(page.locator("#passage")).to_be_in_viewport()
    expect(page.locator("#passage")).to_contain_text("Tỷ lệ bao phủ bảo hiểm y tế")
    expect(page.locator("#passage")).to_contain_text("91,5")
    page.click("#doc-back")
    expect(page.locator("#targets-view")).to_be_visible()
    expect(page.locator("#timeline-title")).to_have_text("Tỷ lệ bao phủ bảo hiểm y tế")
    expect(page.locator("#timeline-body a", has_text="91,5%")).to_be_focused()


def test_reached_from_the_tab_and_from_an_answer(page, base_url):
    page.goto(base_url + "/")
    page.click("#tab-targets")
    expect(page.locator("#targets-card")).to_be_visible()
    expect(page.locator("#tq")).to_be_focused()
    page.fill("#tq", "bhyt")
    page.press("#tq", "Enter")
    wait_targets(page)
    assert parse_qs(urlparse(page.url).query) == {"view": ["chi-tieu"], "q": ["bhyt"]}
    # another indicator of the list opens its own timeline, and the link says which
    page.locator("#indicator-list a", has_text="Số người đóng bảo hiểm y tế").click()
    wait_targets(page)
    expect(page.locator("#timeline-body")).to_contain_text("259.195 Người")
    assert parse_qs(urlparse(page.url).query)["indicator"] == ["so-nguoi-tham-gia-bao-hiem-y-te"]
    page.select_option("#t-district", "Tây Hồ")  # a filter runs the search again
    wait_targets(page)
    expect(page.locator("#indicator-list > li").first).to_contain_text("Tỷ lệ")
    expect(page.locator("#timeline-body > tr")).to_have_count(1)
    expect(page.locator("#timeline-body")).to_contain_text("Tây Hồ")

    # the answer states the figure as a target and links to its timeline
    page.click("#tab-search")
    expect(page.locator(".search-card")).to_be_visible()
    page.fill("#q", "thu ngan sach 6 thang dau nam 2024")
    page.press("#q", "Enter")
    wait_done(page)
    target = page.locator("#answer-target")
    expect(target.locator(".target-figure")).to_have_text("2.979 tỷ đồng")
    expect(target).to_contain_text("Ước thực hiện · 6 tháng đầu năm 2024 · Bắc Từ Liêm")
    # a table row shows its value already: the kind and period under it, and the link
    page.fill("#q", "tỷ lệ bao phủ bảo hiểm y tế năm 2021")
    page.press("#q", "Enter")
    wait_done(page)
    expect(page.locator("#answer-text .answer-value dd").first).to_have_text("91,5")
    expect(target).to_be_visible()
    expect(target.locator(".target-figure")).to_have_count(0)
    expect(target).to_contain_text("Kế hoạch · năm 2021 · Bắc Từ Liêm")
    expect(page.locator("#tab-targets")).to_have_attribute(
        "href", "/?view=chi-tieu&q=" + quote("tỷ lệ bao phủ bảo hiểm y tế năm 2021").replace("%20", "+"))
    target.get_by_role("link", name="Xem diễn biến chỉ tiêu qua các kỳ").click()
    wait_targets(page)
    expect(page.locator("#timeline-title")).to_have_text("Tỷ lệ bao phủ bảo hiểm y tế")
    expect(page.locator("#timeline-title")).to_be_focused()
    page.go_back()
    expect(page.locator("#answer")).to_be_visible()


def test_unknown_indicator_and_phone_width(page, base_url):
    page.goto(base_url + "/?view=chi-tieu&q=" + quote("xyz không có"))
    wait_targets(page)
    expect(page.locator("#status")).to_contain_text("Không có chỉ tiêu nào phù hợp")
    expect(page.locator("#timeline")).to_be_hidden()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base_url + "/?view=chi-tieu&q=" + quote("thu ngân sách"))
    wait_targets(page)
    expect(page.locator("#timeline")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling of the page
    # the wide table scrolls in its own labelled region, reachable by keyboard
    region = page.get_by_role("region", name="Diễn biến theo kỳ: mỗi số liệu dẫn tới đoạn văn gốc")
    expect(region).to_have_attribute("tabindex", "0")
    box = page.locator("#timeline-chart svg").bounding_box()
    assert box and box["width"] <= 390
