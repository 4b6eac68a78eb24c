"""Mutual TLS for the agency API: which verified client certificate, if any, sent this request.

uvicorn does not hand the peer certificate to the app. Two public ways bring it:

- a server that implements the ASGI TLS extension puts the chain in ``scope["extensions"]["tls"]
  ["client_cert_chain"]`` (PEM, the client's own certificate first);
- the agency listener here (``serve_agency_listener``): a TLS terminator that verifies the client certificate
  against the agencies' CA bundle during the handshake and relays each connection, byte for byte, to uvicorn on
  loopback over a connection of its own. It remembers which verified certificate came in on which relay
  connection (by the relay socket's local address, which is the ``client`` uvicorn reports), for as long as that
  connection lives. Only live relay connections of this process are in that table: a request that reached
  uvicorn any other way has no client certificate.

A client that presents an untrusted or expired certificate fails the TLS handshake itself (OpenSSL's alert);
one that presents none gets through to the app, which decides (RFC 9457 ``CLIENT_CERTIFICATE_REQUIRED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

Address = tuple[str, int]
# Bytes a relay pump moves per read: a TLS record's worth.
_CHUNK = 65536


class VerifiedPeers:
    """Relay connection (its local address towards uvicorn) -> the DER client certificate verified on it."""

    def __init__(self) -> None:
        self._by_address: dict[Address, bytes] = {}

    def add(self, address: Address, certificate: bytes) -> None:
        self._by_address[address] = certificate

    def discard(self, address: Address) -> None:
        self._by_address.pop(address, None)

    def get(self, client: Any) -> bytes | None:
        # uvicorn's proxy-header rewriting reports (host, 0): never a relay connection's address.
        if not isinstance(client, list | tuple) or len(client) != 2 or not client[1]:
            return None
        return self._by_address.get((str(client[0]), int(client[1])))

    def __len__(self) -> int:
        return len(self._by_address)


# This process's relay connections (the terminator and the app it relays to share the process).
VERIFIED_PEERS = VerifiedPeers()


def peer_certificate(scope: dict[str, Any]) -> bytes | None:
    """The DER client certificate verified for this request's connection, or None."""
    tls = scope.get("extensions", {}).get("tls") if isinstance(scope.get("extensions"), dict) else None
    if isinstance(tls, dict):
        chain = tls.get("client_cert_chain") or []
        if chain and not tls.get("client_cert_error"):
            return ssl.PEM_cert_to_DER_cert(chain[0])
    return VERIFIED_PEERS.get(scope.get("client"))


def server_context(certificate: Path, key: Path, client_authorities: Path) -> ssl.SSLContext:
    """TLS 1.2+ server side; asks every client for a certificate and verifies it against the agencies' CAs
    (chain, validity, clientAuth usage); a client may still connect without one (the app answers it)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(client_authorities))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(certificate), str(key))
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


class TlsTerminator:
    """Accepts TLS on ``listen``, relays each connection to ``upstream`` in plain text (see the module)."""

    def __init__(self, context: ssl.SSLContext, upstream: Address, peers: VerifiedPeers = VERIFIED_PEERS) -> None:
        self.context, self.upstream, self.peers = context, upstream, peers
        self.server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int = 0) -> Address:
        self.server = await asyncio.start_server(self._relay, host, port, ssl=self.context,
                                                 ssl_handshake_timeout=10)
        bound = self.server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            # Connections still open would be collected half-way through their relay when the loop ends: end them.
            for task in list(self._relays):
                task.cancel()
            await asyncio.gather(*self._relays, return_exceptions=True)
            await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        task.add_done_callback(self._relays.discard)
        ssl_object = writer.get_extra_info("ssl_object")
        certificate = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError as error:
            logger.warning("agency listener: upstream unreachable: %s", error)
            writer.close()
            return
        local = up_writer.get_extra_info("sockname")
        address = (str(local[0]), int(local[1]))
        if certificate:
            self.peers.add(address, certificate)
        try:
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        finally:
            self.peers.discard(address)
            for stream in (up_writer, writer):
                stream.close()
                with contextlib.suppress(OSError, ssl.SSLError, asyncio.CancelledError):
                    await stream.wait_closed()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
    except (OSError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if sink.can_write_eof():
                sink.write_eof()


def loopback_socket() -> socket.socket:
    """A listening socket on 127.0.0.1 at a port the OS picks (uvicorn's side of the relay)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serve_agency_listener(app: Callable[..., Any], context: ssl.SSLContext, host: str, port: int = 0,
                                *, lifespan: str = "on") -> AsyncIterator[Address]:
    """The app served by uvicorn on a loopback port of its own, reachable only through the TLS terminator on
    ``host:port``; yields the terminator's address. uvicorn's proxy headers are off: the client is the relay."""
    import uvicorn

    sock = loopback_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, proxy_headers=False,
                                           lifespan=lifespan))  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    terminator = TlsTerminator(context, sock.getsockname())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        yield await terminator.start(host, port)
    finally:
        await terminator.close()
        server.should_exit = True
        await task
        sock.close()
