"""`mynaportal serve` in a process of its own, for the tests that need a real server (several workers, another
worker beside the test's app, the CLI as people run it).

The server's output goes to a file, not a pipe: a pipe nobody reads while the test runs fills at 64 KiB and then
blocks the server's logging, and with it the server. The file is also what a failure to start shows.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

COMMAND = shutil.which("mynaportal", path=str(Path(sys.executable).parent)) or "mynaportal"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    base: str
    process: subprocess.Popen[bytes]
    log_path: Path
    final_log: str | None = None  # once stopped: all it wrote (its file is then removed)

    def log(self) -> str:
        """What the server wrote to stdout and stderr so far (all of it once the server stopped)."""
        if self.final_log is not None:
            return self.final_log
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serving(env: Mapping[str, str], *, workers: int = 1, ready_within: float = 60.0) -> Iterator[Served]:
    """Start `mynaportal serve` on a free port, wait until /readyz answers 200, stop it (and wait) on the way out.
    Its public URL is where it serves unless ``env`` says otherwise."""
    port = free_port()
    env = {"MYNAPORTAL_PUBLIC_URL": f"http://127.0.0.1:{port}", **env}
    argv = [COMMAND, "serve", "--port", str(port)] + (["--workers", str(workers)] if workers > 1 else [])
    with tempfile.NamedTemporaryFile(prefix="mynaportal-serve-", suffix=".log", delete=False) as log:
        served = Served(f"http://127.0.0.1:{port}",
                        subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT),
                        Path(log.name))
    try:
        _wait_until_ready(served, ready_within)
        yield served
    finally:
        _stop(served.process)
        served.final_log = served.log()
        served.log_path.unlink()


def _wait_until_ready(served: Served, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if httpx.get(f"{served.base}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if served.process.poll() is not None or time.monotonic() > deadline:
            state = "exited" if served.process.poll() is not None else f"not ready within {within:.0f} s"
            raise AssertionError(f"`mynaportal serve` {state}; its output:\n{served.log()[-4000:]}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:  # a worker stuck in shutdown must not hang the suite
        process.kill()
        process.wait(timeout=10)
