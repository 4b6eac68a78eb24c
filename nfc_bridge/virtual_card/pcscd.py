"""Start pcscd with the vpcd driver when it is not already running (tests, benchmark, demos).

No systemd here: pcscd runs in the foreground as our child and is stopped by ``stop()`` only if we
started it. Never pass ``-a``: pcscd would log every APDU, PINs included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

VPCD_DRIVER_PATHS = ("/usr/lib/pcsc/drivers/serial/libifdvpcd.so",)
VPCD_READER_PREFIX = "Virtual PCD"
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")


class PcscdUnavailable(RuntimeError):
    pass


def _vpcd_readers() -> list[str]:
    from nfc_bridge.errors import NoReaderError
    from nfc_bridge.transports.pcsc import list_readers

    try:
        return [r for r in list_readers() if r.startswith(VPCD_READER_PREFIX)]
    except NoReaderError:
        return []


class PcscdService:
    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def missing() -> str | None:
        """Why pcscd + vpcd cannot run here, or None."""
        if shutil.which("pcscd") is None and not Path("/usr/sbin/pcscd").exists():
            return "pcscd is not installed (run `make card-packages` as root)"
        if not any(Path(p).exists() for p in VPCD_DRIVER_PATHS):
            return "the vsmartcard vpcd driver is not installed (package vsmartcard-vpcd)"
        return None

    def start(self, timeout: float = 15.0) -> str:
        """Ensure pcscd with a vpcd reader; return the slot-0 reader name."""
        reason = self.missing()
        if reason:
            raise PcscdUnavailable(reason)
        readers = _vpcd_readers()
        if readers:
            return sorted(readers)[0]
        if PCSCD_SOCKET.exists() and not self._pcscd_running():
            PCSCD_SOCKET.unlink()  # stale socket from a killed pcscd
        if not self._pcscd_running():
            pcscd = shutil.which("pcscd") or "/usr/sbin/pcscd"
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv
                [pcscd, "--foreground", "--error"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            readers = _vpcd_readers()
            if readers:
                return sorted(readers)[0]
            if self.process is not None and self.process.poll() is not None:
                raise PcscdUnavailable(f"pcscd exited with status {self.process.returncode}")
            time.sleep(0.2)
        self.stop()
        raise PcscdUnavailable("pcscd is running but shows no 'Virtual PCD' reader")

    @staticmethod
    def _pcscd_running() -> bool:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if name == "pcscd":
                return True
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
