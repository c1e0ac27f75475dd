"""What operations needs around every request: a request id, one structured log line,
Prometheus metrics at ``/metrics``, a time budget and a cap on requests in flight
(503 instead of piling up), security headers with a Content-Security-Policy the
pages satisfy, and CORS only for the origins configured.

One ASGI middleware (``Operations``) does the per-request part, so the budget can
answer 503 while an endpoint's thread is still busy; ``install_operations`` adds it
and the ``/metrics`` route to an app.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import time
import uuid
from typing import Any, Callable
from urllib.parse import parse_qs

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

access_log = logging.getLogger("qa.access")

# Never held to the budget nor refused for load: what monitoring and staff need to see.
UNLIMITED = ("/health", "/metrics")
QUERY_LOGGED = 60  # characters of a query kept in the log: enough to debug, not a record of what people ask
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def content_security_policy(html: bytes) -> str:
    """A policy that allows the page's own inline scripts (by hash) and nothing from elsewhere."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'" for body in _INLINE_SCRIPT.findall(html))
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' {hashes}".strip(),
        "style-src 'self' 'unsafe-inline'",  # style attributes; no script can run from them
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("qa_requests_total", "HTTP requests", ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("qa_request_seconds", "Time to answer a request", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("qa_errors_total", "Requests answered with a server error (5xx)", ["route"],
                              registry=self.registry)
        self.refused = Counter("qa_refused_total", "Requests refused with 503", ["reason"], registry=self.registry)
        self.in_flight = Gauge("qa_requests_in_flight", "Requests being answered", registry=self.registry)
        self.documents = Gauge("qa_index_documents", "Documents in the index searches use", registry=self.registry)
        self.passages = Gauge("qa_index_passages", "Passages in the index searches use", registry=self.registry)
        self.jobs = Gauge("qa_ingest_jobs", "Staff ingest jobs by status", ["status"], registry=self.registry)

    def render(self, refresh: Callable[[], None]) -> bytes:
        refresh()
        return generate_latest(self.registry)


def _route_of(scope: dict[str, Any]) -> str:
    """The route's template (``/documents/{doc_id}``), never the raw path: bounded label values."""
    route = scope.get("route")
    return getattr(route, "path", None) or ("static" if scope.get("path", "").startswith("/static") else "other")


def _logged_query(scope: dict[str, Any]) -> str | None:
    raw = scope.get("query_string", b"").decode("latin-1")
    q = parse_qs(raw).get("q")
    if not q:
        return None
    text = q[0]
    return text if len(text) <= QUERY_LOGGED else text[:QUERY_LOGGED] + "…"


class Operations:
    """ASGI middleware: request id, budget and in-flight cap, headers, metrics and the log line."""

    def __init__(self, app, metrics: Metrics, budget_s: float, max_in_flight: int):
        self.app = app
        self.metrics = metrics
        self.budget_s = budget_s
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex[:16]
        path = scope.get("path", "")
        limited = path not in UNLIMITED
        started = time.perf_counter()
        state = {"status": 500, "started": False, "html": False}

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                state["started"] = True
                state["status"] = message["status"]
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                extra.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": list(message.get("headers", [])) + extra}
                content_type = dict(message["headers"]).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    state["html"] = True
                    state["start"] = message  # sent with its CSP once the body is known
                    state["body"] = b""
                    return
            elif message["type"] == "http.response.body" and state["html"]:
                state["body"] += message.get("body", b"")
                if message.get("more_body"):
                    return
                start = state["start"]
                policy = content_security_policy(state["body"])
                start = {**start, "headers": [h for h in start["headers"] if h[0] != b"content-security-policy"]
                         + [(b"content-security-policy", policy.encode())]}
                await send(start)
                message = {"type": "http.response.body", "body": state["body"]}
            await send(message)

        if limited and self.in_flight >= self.max_in_flight:
            self.metrics.refused.labels("overloaded").inc()
            await self._refuse(send_with_headers, "overloaded",
                               "The service is busy right now; try again in a few seconds.")
        else:
            self.in_flight += 1
            self.metrics.in_flight.inc()
            try:
                if limited:
                    await asyncio.wait_for(self.app(scope, receive, send_with_headers), self.budget_s)
                else:
                    await self.app(scope, receive, send_with_headers)
            except asyncio.TimeoutError:
                self.metrics.refused.labels("over_budget").inc()
                if not state["started"]:
                    await self._refuse(send_with_headers, "over_budget",
                                       f"The request took longer than {self.budget_s:g} s; try again or narrow the question.")
            finally:
                self.in_flight -= 1
                self.metrics.in_flight.dec()
        self._record(scope, request_id, state["status"], time.perf_counter() - started)

    async def _refuse(self, send, code: str, message: str) -> None:
        body = json.dumps({"detail": message, "code": code}).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"retry-after", b"2"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _record(self, scope, request_id: str, status: int, seconds: float) -> None:
        route = _route_of(scope)
        self.metrics.requests.labels(route, scope.get("method", ""), str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        if status >= 500:
            self.metrics.errors.labels(route).inc()
        entry = {"request_id": request_id, "method": scope.get("method"), "route": route, "status": status,
                 "ms": round(seconds * 1000, 1)}
        q = _logged_query(scope)
        if q is not None:
            entry["q"] = q
        access_log.info(json.dumps(entry, ensure_ascii=False))


def install_operations(app: FastAPI, service, settings) -> Metrics:
    """Add the middleware, CORS (only when origins are configured) and ``/metrics`` to ``app``."""
    metrics = Metrics()

    def refresh() -> None:
        searcher = service.searcher
        if searcher is not None:
            documents, passages = searcher.index.counts()
            metrics.documents.set(documents)
            metrics.passages.set(passages)
        jobs = getattr(service, "jobs", None)
        if jobs is not None:
            for status, n in jobs.counts().items():
                metrics.jobs.labels(status).set(n)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(metrics.render(refresh), media_type=CONTENT_TYPE_LATEST)

    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET"],
                           allow_headers=["authorization", "content-type"])
    app.add_middleware(Operations, metrics=metrics, budget_s=settings.request_budget_s,
                       max_in_flight=settings.max_in_flight)
    return metrics
