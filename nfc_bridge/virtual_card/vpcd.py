"""Serve a virtual card to pcscd through vsmartcard's vpcd driver (jpki.md §5).

vpcd (inside pcscd) listens on 35963 for slot 0; the card connects to it. Frames both ways are a
2-byte big-endian length then the payload; 1-byte payloads are control (00 off, 01 on, 02 reset,
04 get ATR), anything longer is a C-APDU answered by one R-APDU.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from nfc_bridge.virtual_card.card import VirtualCard

log = logging.getLogger(__name__)

VPCD_PORT = 35963
CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        # vpcd writes the length and the APDU in two send() calls: with delayed ACKs here and Nagle
        # there, each APDU would stall ~40 ms. Quick ACKs (Linux; re-armed per read) avoid that.
        if hasattr(socket, "TCP_QUICKACK"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        part = sock.recv(n - len(buf))
        if not part:
            raise ConnectionError("vpcd closed the connection")
        buf += part
    return buf


class VpcdCardServer:
    """Inserts ``card`` into the vpcd reader until ``stop()`` (which removes it)."""

    def __init__(self, card: VirtualCard, host: str = "127.0.0.1", port: int = VPCD_PORT) -> None:
        self.card = card
        self.host, self.port = host, port
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def connect(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sock = socket.create_connection((self.host, self.port), timeout=2.0)
                self._sock.settimeout(None)
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.connected.set()
                return
            except OSError:
                if time.monotonic() > deadline or self._stop.is_set():
                    raise
                time.sleep(0.1)

    def serve_forever(self) -> None:
        """Serve until stop(). If vpcd drops the link (it re-creates its listening socket after a
        card goes away, which can reset a connection made meanwhile) connect again, as vicc does."""
        while not self._stop.is_set():
            if self._sock is None:
                try:
                    self.connect()
                except OSError:
                    return
            self._serve_connection()

    def _serve_connection(self) -> None:
        sock = self._sock
        assert sock is not None
        try:
            while not self._stop.is_set():
                size = int.from_bytes(_recv_exact(sock, 2), "big")
                payload = _recv_exact(sock, size)
                if size == 1:
                    ctrl = payload[0]
                    if ctrl in (CTRL_OFF, CTRL_ON, CTRL_RESET):
                        self.card.reset()
                    elif ctrl == CTRL_ATR:
                        self._send(sock, self.card.atr)
                    continue
                self._send(sock, self.card.process(payload))
        except (ConnectionError, OSError) as exc:
            if not self._stop.is_set():
                log.info("vpcd link closed (%s); reconnecting", exc)
                time.sleep(0.1)
        finally:
            self._close()

    @staticmethod
    def _send(sock: socket.socket, payload: bytes) -> None:
        sock.sendall(len(payload).to_bytes(2, "big") + payload)

    def start(self, timeout: float = 10.0) -> VpcdCardServer:
        """Connect, then serve in a daemon thread."""
        self.connect(timeout)
        self._thread = threading.Thread(target=self.serve_forever, name="vpcd-card", daemon=True)
        self._thread.start()
        return self

    def _close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def stop(self) -> None:
        self._stop.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close()
