"""The ASGI app: POST /v1/alertmanager (Bearer token), GET /health, GET /metrics."""

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
from rollback.service import Service

MAX_BODY = 1024 * 1024  # Alertmanager groups are small; refuse anything absurd


def create_app(service: Service) -> Starlette:
    expected = f"Bearer {service.settings.webhook_token.get_secret_value()}".encode()
    clock = service.executor.options.clock
    metrics = service.metrics
    audit = service.audit

    async def webhook(request: Request) -> Response:
        arrived = clock()
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            metrics.webhooks.labels("unauthorized").inc()
            audit.write("unauthorized", groupKey=None, client=_client(request))
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        body = await request.body()
        if len(body) > MAX_BODY:
            metrics.webhooks.labels("invalid").inc()
            return JSONResponse({"error": "payload too large"}, status_code=413)
        try:
            payload = Webhook.model_validate_json(body)
        except ValidationError as error:
            metrics.webhooks.labels("invalid").inc()
            problems = [
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in error.errors(include_input=False, include_url=False)
            ][:5]
            audit.write("invalid", groupKey=None, detail="; ".join(problems))
            return JSONResponse({"error": "invalid payload", "problems": problems}, 400)
        metrics.webhooks.labels("accepted").inc()
        decision = service.executor.handle(payload, arrived)
        return JSONResponse({"decision": decision, "dryRun": service.settings.dry_run})

    async def health(_: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "environment": service.policy.environment,
                "dryRun": service.settings.dry_run,
            }
        )

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
