"""The ASGI app: POST /v1/alertmanager (Bearer token), GET /health, GET /metrics.

A refused request costs no disk: a 401 or 413 is counted in `rollback_webhooks_total` and
logged at most once a minute. The token is checked before the body is read, and the body is
read only up to `MAX_BODY` as it streams in."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rollback.alerts import Webhook
from rollback.deploy import HEALTH_PATH, WEBHOOK_PATH
from rollback.ledger import Report
from rollback.logs import Throttle
from rollback.service import Service

MAX_BODY = 1024 * 1024  # Alertmanager groups are small; refuse anything absurd
REFUSED_LOG_EVERY = 60.0  # seconds between two log lines about refused requests


async def bounded_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to be longer than `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(service: Service) -> Starlette:
    expected = f"Bearer {service.settings.webhook_token.get_secret_value()}".encode()
    clock = service.executor.options.clock
    metrics = service.metrics
    audit = service.audit
    emit = service.executor.emit
    refused = {
        reason: Throttle(f"refused_{reason}", REFUSED_LOG_EVERY, clock)
        for reason in ("unauthorized", "too_large")
    }

    def refuse(request: Request, reason: str, status: int) -> Response:
        emit(Report(None, None, counts=(("webhooks", (reason,)),)))
        refused[reason].note(client=_client(request), status=status)
        return JSONResponse({"error": reason.replace("_", " ")}, status_code=status)

    async def webhook(request: Request) -> Response:
        arrived = clock()
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return refuse(request, "unauthorized", 401)
        body = await bounded_body(request, MAX_BODY)
        if body is None:
            return refuse(request, "too_large", 413)
        try:
            payload = Webhook.model_validate_json(body)
        except ValidationError as error:
            problems = [
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in error.errors(include_input=False, include_url=False)
            ][:5]
            emit(
                Report("invalid", None, {"detail": "; ".join(problems)},
                       counts=(("webhooks", ("invalid",)),))
            )  # fmt: skip
            return JSONResponse({"error": "invalid payload", "problems": problems}, 400)
        emit(Report(None, None, counts=(("webhooks", ("accepted",)),)))
        decision = service.budget.handle(payload) or service.executor.handle(payload, arrived)
        return JSONResponse({"decision": decision, "dryRun": service.settings.dry_run})

    async def health(_: Request) -> Response:
        body: dict[str, object] = {
            "status": "ok",
            "environment": service.policy.environment,
            "dryRun": service.settings.dry_run,
        }
        problem = audit.problem()
        if problem is None:
            return JSONResponse(body)
        return JSONResponse({**body, "status": "failing", "problems": [problem]}, 503)

    async def metrics_endpoint(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        service.close()

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            Route(HEALTH_PATH, health, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"
