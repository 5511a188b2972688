"""Abuse on loopback: refused requests cost no disk, bodies are refused while they stream in,
deep or huge payloads are refused, the audit log stays bounded through rotation (and the
ledger survives it), and a storm of distinct groups sends a bounded number of messages."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from rollback.app import MAX_BODY
from tests.monitoring.loopback import Receiver
from tests.rollback.conftest import TOKEN, WAIT, ServiceFactory, audit_events
from tests.rollback.standins import Client, RecordingActions, webhook

pytestmark = pytest.mark.e2e  # the service and its stand-ins on 127.0.0.1

MB = 1024 * 1024


def test_refused_requests_cost_no_disk_and_a_log_line_a_minute(
    make_recorded: ServiceFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    service = make_recorded()
    size = service.audit.path.stat().st_size
    with Client(service, TOKEN) as client:
        answers = {
            client.send(webhook(f"g{n}"), token="wrong-" * 5).status_code for n in range(300)
        }
        metrics = client.http.get("/metrics").text
        written = service.audit.path.stat().st_size
    assert answers == {401}
    assert written == size  # not a byte
    assert 'rollback_webhooks_total{outcome="unauthorized"} 300.0' in metrics
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    refused = [line for line in lines if line["event"] == "refused_unauthorized"]
    assert len(refused) == 1 and refused[0]["client"] == "127.0.0.1"


def answer_to_a_partial_post(url: str, headers: dict[str, str], *, chunked: bool) -> str:
    """Start a 100 MB POST, send part of it, and wait for the answer without finishing: the
    status code that comes while the rest of the body has not been sent. With Content-Length,
    no byte of the body is sent; chunked, one byte more than MAX_BODY."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        head = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head += ["Transfer-Encoding: chunked"] if chunked else [f"Content-Length: {100 * MB}"]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        if chunked:
            piece = b"x" * (MAX_BODY + 1)
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        answer = sock.recv(4096).decode(errors="replace")  # times out (10 s) if none comes
    return answer.split(" ", 2)[1]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_100_mb_body_is_refused_before_it_is_read(
    make_recorded: ServiceFactory, platforms: RecordingActions, chunked: bool
) -> None:
    service = make_recorded()
    with Client(service, TOKEN) as client:
        url = f"{client.url}/v1/alertmanager"
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        refused = answer_to_a_partial_post(url, auth, chunked=chunked)
        anonymous = answer_to_a_partial_post(url, {}, chunked=chunked)
        assert client.http.get("/health").status_code == 200  # it goes on serving
        metrics = client.http.get("/metrics").text
        events = [r["event"] for r in service.audit.records()]
    assert refused == "413" and anonymous == "401"
    assert 'rollback_webhooks_total{outcome="too_large"} 1.0' in metrics
    assert events == ["started"]
    assert platforms.calls == []


def test_deep_json_and_too_many_alerts_are_refused(
    make_recorded: ServiceFactory, platforms: RecordingActions
) -> None:
    service = make_recorded()
    deep = 100_000
    nested = (
        '{"version":"4","groupKey":"g","status":"firing","alerts":[],"x":'
        + "[" * deep
        + "]" * deep
        + "}"
    )
    many = webhook("g-many")
    many["alerts"] = many["alerts"] * 1_001
    with Client(service, TOKEN) as client:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        deep_answer = client.http.post("/v1/alertmanager", content=nested, headers=headers)
        many_answer = client.send(many)
        assert client.http.get("/health").status_code == 200
    assert deep_answer.status_code == 400
    assert "recursion limit" in deep_answer.json()["problems"][0]
    assert many_answer.status_code == 400
    assert "alerts: Tuple should have at most 1000 items" in many_answer.json()["problems"][0]
    assert platforms.calls == []


def test_the_audit_log_stays_bounded_and_the_ledger_survives_rotation(
    make_recorded: ServiceFactory, platforms: RecordingActions, tmp_path: Path
) -> None:
    limit = 64 * 1024
    first = make_recorded(ROLLBACK_AUDIT_MAX_BYTES=str(limit))
    acted = webhook("g-acted", alertname="HighErrorRate", service="backend", strategy="fast")
    with Client(first, TOKEN) as client:
        client.send(acted)
        assert first.executor.wait_idle(WAIT)
        for _ in range(1_500):  # Alertmanager's re-sends: one "duplicate" record each
            client.send(acted)
    files = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("audit"))
    assert files == ["audit.jsonl", "audit.jsonl.1"]
    assert all((tmp_path / name).stat().st_size <= limit for name in files)
    first.close()
    second = make_recorded(ROLLBACK_AUDIT_MAX_BYTES=str(limit))  # rebuilt from the two files
    other = webhook("g-other", alertname="HighLatencyP95", service="backend", strategy="fast")
    with Client(second, TOKEN) as client:
        assert client.send(acted).json()["decision"] == "duplicate"
        assert client.send(other).json()["decision"] == "escalated"  # the lock survived too
        assert second.executor.wait_idle(WAIT)
    assert platforms.rolled_back() == ["backend"]


def test_a_storm_of_distinct_groups_sends_a_bounded_number_of_messages(
    make_recorded: ServiceFactory, platforms: RecordingActions, receiver: Receiver
) -> None:
    limit, window, groups = 5, 1.0, 60
    service = make_recorded(ROLLBACK_NOTIFY_LIMIT=str(limit), ROLLBACK_NOTIFY_WINDOW="1s")
    services = ("frontend", "backend", "worker")
    payloads = [
        webhook(f"storm-{n}", alertname=f"Storm{n}", service=services[n % 3], strategy="fast")
        for n in range(groups)
    ]
    answers: list[dict[str, Any]] = []
    with Client(service, TOKEN) as client:
        started = time.monotonic()
        threads = [
            threading.Thread(target=lambda p=p: answers.append(client.send(p).json()))
            for p in payloads
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert service.executor.wait_idle(WAIT)
        elapsed = time.monotonic() - started
    posts = sorted(n.arrived for n in receiver.received if n.path == "/slack")
    # the cap: no `limit + 1` posts within one window, less a quarter of it for the way from
    # sender to receiver on a loaded machine (an uncapped storm sends all 60 within it)
    assert all(b - a >= window * 0.75 for a, b in zip(posts, posts[limit:], strict=False))
    assert len(posts) <= limit * (elapsed // window + 1)
    # nothing dropped: each group is named in a message, alone or in a digest
    texts = "\n".join(n.body["text"] for n in receiver.received if n.path == "/slack")
    assert all(f"fast rollback for Storm{n}/" in texts for n in range(groups))
    notified = {r["groupKey"] for r in audit_events(service, "notification")}
    assert {f"storm-{n}" for n in range(groups)} <= notified
    # and the rollbacks: one per service, the others wait (the loop guard)
    assert sorted(platforms.rolled_back()) == sorted(services)
    assert sorted(a["decision"] for a in answers).count("accepted") == 3
