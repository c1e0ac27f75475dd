"""Operations around every request (qa.observability) on the real app and index:
request ids, the access log, Prometheus metrics, security headers and CSP, CORS,
the time budget and the cap on requests in flight."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

TOKEN = "ops-token"


def make_app(settings, embedder):
    from qa.api import create_app

    return create_app(settings, embedder=embedder)


@pytest.fixture(scope="module")
def client(settings, embedder, built_index):
    s = settings.model_copy(update={"admin_token": None})
    with TestClient(make_app(s, embedder)) as c:
        yield c


def test_every_response_has_a_request_id_and_keeps_the_callers(client):
    assert len(client.get("/health").headers["x-request-id"]) >= 8
    assert client.get("/health", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"] == "abc-123"


def test_the_access_log_is_one_json_line_with_a_truncated_query_and_never_the_token(client, caplog):
    long_query = "chỉ tiêu tỷ lệ bao phủ bảo hiểm y tế năm 2021 của quận Bắc Từ Liêm " * 3
    with caplog.at_level(logging.INFO, logger="qa.access"):
        client.get("/search", params={"q": long_query}, headers={"Authorization": f"Bearer {TOKEN}"})
    entries = [json.loads(r.getMessage()) for r in caplog.records if r.name == "qa.access"]
    entry = entries[-1]
    assert entry["route"] == "/search" and entry["status"] == 200 and entry["ms"] > 0 and entry["request_id"]
    assert entry["q"].startswith("chỉ tiêu") and len(entry["q"]) <= 61 and entry["q"].endswith("…")
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_metrics_count_requests_by_route_and_report_the_index(client, built_index):
    client.get("/search", params={"q": "BHYT"})
    client.get("/documents/khong-co")
    text = client.get("/metrics").text
    assert 'qa_requests_total{method="GET",route="/search",status="200"}' in text
    assert 'route="/documents/{doc_id}",status="404"' in text  # the route's template, not the raw path
    assert "qa_request_seconds_bucket" in text
    documents, passages = built_index.counts()
    assert f"qa_index_documents {float(documents)}" in text and f"qa_index_passages {float(passages)}" in text


def test_pages_carry_security_headers_and_a_policy_that_allows_only_their_own_scripts(client):
    for path in ("/", "/docs"):
        r = client.get(path)
        assert r.status_code == 200
        policy = r.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "'sha256-" in policy
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" not in client.get("/health").headers  # JSON needs none


def test_cors_is_closed_by_default_and_opens_for_configured_origins(client, settings, embedder):
    origin = {"Origin": "https://example.org"}
    assert "access-control-allow-origin" not in client.get("/health", headers=origin).headers
    s = settings.model_copy(update={"cors_origins": ["https://example.org"]})
    with TestClient(make_app(s, embedder)) as c:
        assert c.get("/health", headers=origin).headers["access-control-allow-origin"] == "https://example.org"
        assert "access-control-allow-origin" not in c.get("/health", headers={"Origin": "https://evil.test"}).headers


def test_a_request_over_its_budget_gets_503_and_health_stays_up(settings, embedder, built_index):
    s = settings.model_copy(update={"request_budget_s": 0.000_001})
    with TestClient(make_app(s, embedder)) as c:
        r = c.get("/search", params={"q": "thu ngân sách 6 tháng đầu năm 2024"})
        assert r.status_code == 503 and r.json()["code"] == "over_budget" and r.headers["retry-after"]
        assert c.get("/health").status_code == 200
        assert 'qa_refused_total{reason="over_budget"}' in c.get("/metrics").text


def test_requests_beyond_the_cap_are_refused_at_once_but_not_health(settings, embedder, built_index):
    s = settings.model_copy(update={"max_in_flight": 0})
    with TestClient(make_app(s, embedder)) as c:
        r = c.get("/search", params={"q": "BHYT"})
        assert r.status_code == 503 and r.json()["code"] == "overloaded"
        assert c.get("/health").status_code == 200 and c.get("/metrics").status_code == 200
