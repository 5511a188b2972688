"""The rollback service as a real process, `python -m rollback serve`, on 127.0.0.1: for what
only a process shows (SIGKILL, a file-size limit, its stdout and exit code). Started here,
stopped by its PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.monitoring import loopback
from tests.monitoring.loopback import LOOPBACK, free_port

ROOT = Path(__file__).resolve().parents[2]
# Runs `python -m rollback ARGS` with RLIMIT_FSIZE set: writing a file past it fails (EFBIG), as
# on a full volume (Python ignores SIGXFSZ). Pipes are not files: its stdout still flows.
LIMITED = (
    "import resource, runpy, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (n, n)); "
    "sys.argv = ['rollback', *sys.argv[2:]]; runpy.run_module('rollback', run_name='__main__')"
)


class ServiceProcess:
    def __init__(self, env: dict[str, str], *, fsize: int | None = None) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        args = ["serve", "--port", str(self.port)]
        argv = (
            [sys.executable, "-c", LIMITED, str(fsize), *args]
            if fsize is not None
            else [sys.executable, "-m", "rollback", *args]
        )
        base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**base, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = 30.0) -> ServiceProcess:
        """Until /health answers at all (503 is an answer: a full disk is reported, not fatal)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"the service exited {code}:\n{self.output()}")
            try:
                loopback.get(f"{self.url}/health", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"the service did not answer in {timeout}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine or the OOM killer stops it."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(timeout=5)
