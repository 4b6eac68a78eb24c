"""The port every transport implements, and a wrapper that counts traffic."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@runtime_checkable
class CardTransport(Protocol):
    # Largest response data one READ BINARY may ask for: 256 (short) or 65536 (extended length).
    max_response_length: int

    def transmit(self, apdu: bytes) -> bytes:
        """Send one C-APDU, return the R-APDU (data + SW1 SW2)."""
        ...

    def close(self) -> None: ...


@dataclass
class TrafficCounter:
    apdus: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


@dataclass
class CountingTransport:
    """Wraps a transport and counts APDUs and bytes (for the benchmark and tests)."""

    inner: CardTransport
    counter: TrafficCounter = field(default_factory=TrafficCounter)
    log: list[tuple[bytes, bytes]] | None = None

    @property
    def max_response_length(self) -> int:
        return self.inner.max_response_length

    def transmit(self, apdu: bytes) -> bytes:
        response = self.inner.transmit(apdu)
        self.counter.apdus += 1
        self.counter.bytes_sent += len(apdu)
        self.counter.bytes_received += len(response)
        if self.log is not None:
            self.log.append((apdu, response))
        return response

    def close(self) -> None:
        self.inner.close()
