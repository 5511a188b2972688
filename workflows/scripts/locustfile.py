"""A short smoke load on a freshly deployed environment (the deploy workflow runs it headless).

SMOKE_URLS: the health endpoints, separated by spaces (read-only: a smoke test must not write
data). SMOKE_MAX_FAILURE_RATIO: the share of failed requests tolerated (default 0);
SMOKE_MAX_P95_MS: the 95th percentile of the response times tolerated, in milliseconds (unset:
not judged). The deploy workflow passes the bounds the alerts fire at. The run fails when nothing
was requested, or either bound was passed.
"""

import os
from typing import Any
from urllib.parse import urlsplit

from locust import HttpUser, between, events, task

URLS = os.environ.get("SMOKE_URLS", "").split()
MAX_FAILURE_RATIO = float(os.environ.get("SMOKE_MAX_FAILURE_RATIO", "0"))
MAX_P95_MS = float(os.environ.get("SMOKE_MAX_P95_MS", "0"))
if not URLS:
    raise SystemExit("SMOKE_URLS is empty: nothing to smoke-test")


class HealthUser(HttpUser):
    host = "{0.scheme}://{0.netloc}".format(urlsplit(URLS[0]))
    wait_time = between(0.5, 1.5)

    @task
    def health(self) -> None:
        for url in URLS:
            self.client.get(url, name=url)


@events.quitting.add_listener
def verdict(environment: Any, **_kwargs: Any) -> None:
    total = environment.stats.total
    p95 = total.get_response_time_percentile(0.95) if total.num_requests else 0
    if total.num_requests == 0:
        print("smoke test: no request was made")
        environment.process_exit_code = 1
    elif total.fail_ratio > MAX_FAILURE_RATIO:
        failed, limit = f"{total.fail_ratio:.1%}", f"{MAX_FAILURE_RATIO:.1%}"
        print(f"smoke test: {failed} of requests failed, more than {limit}")
        environment.process_exit_code = 1
    elif MAX_P95_MS and p95 > MAX_P95_MS:
        print(f"smoke test: p95 {p95:.0f} ms, more than {MAX_P95_MS:.0f} ms")
        environment.process_exit_code = 1
    else:
        summary = f"{total.num_requests} requests, {total.fail_ratio:.1%} failed"
        print(f"smoke test: {summary}, p95 {p95:.0f} ms")
        environment.process_exit_code = 0
