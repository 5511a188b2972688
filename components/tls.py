"""One TLS context per process, shared by every HTTP client.

httpx builds a context for each client it creates, loading the whole CA bundle it trusts
(`SSL_CERT_FILE`, `SSL_CERT_DIR` or certifi's): about 20 ms of CPU each time, for the same
trust in every client of a process. Nothing changes a context once built, so they share one.
"""

import functools
import ssl

import httpx


@functools.cache
def context() -> ssl.SSLContext:
    """What httpx would verify with (`verify=True`, the environment's trust settings)."""
    return httpx.create_ssl_context()
