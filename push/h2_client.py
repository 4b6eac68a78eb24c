"""A small HTTP/2 client for Web Push (RFC 8030 over RFC 9113), on the ``h2`` library's public API.

Why not httpx: it spent about half of the sender's CPU (httpx, httpcore, h2, anyio) on what a push sender never
needs (redirects, cookies, pools, per-request task groups). Here one connection per push-service origin carries
every message as its own stream; frames of all the streams started in one event-loop turn leave in one write;
the server's SETTINGS_MAX_CONCURRENT_STREAMS and flow-control windows are respected; each request is bounded by
a timeout (a stream never answered is reset and reported, not waited on for ever).

A request that may not have been answered raises ``NoAnswer`` (the caller retries it later): on GOAWAY, a reset
stream, a lost connection or a timeout. Nothing is resent here, so nothing is sent twice in one attempt.
An origin that does not offer h2 in ALPN is remembered and served by an httpx client (HTTP/1.1).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import httpx
from hpack import NeverIndexedHeaderTuple

_CONFIG = h2.config.H2Configuration(
    client_side=True, header_encoding=None,
    # Our headers are built here, lowercase and valid. Normalizing would also mark ``authorization`` as
    # never-indexed (HPACK), so the same VAPID header would be Huffman-coded and sent whole with every message;
    # on a connection that carries only our own requests there is no one to mount a compression attack.
    validate_outbound_headers=False, normalize_outbound_headers=False,
    # We read two response headers (:status, Retry-After); checking every header of every answer costs more.
    validate_inbound_headers=False, normalize_inbound_headers=False)


class NoAnswer(Exception):
    """The push service's answer did not arrive; the message may or may not have been accepted."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    retry_after: str | None = None


class _Stream:
    __slots__ = ("answer", "body", "offset", "retry_after", "status")

    def __init__(self, body: bytes, answer: asyncio.Future[Answer]) -> None:
        self.body, self.offset, self.answer = body, 0, answer
        self.status: int | None = None
        self.retry_after: str | None = None


class _Connection(asyncio.Protocol):
    """One TLS connection to one origin, speaking h2; used by ``PushClient`` only."""

    def __init__(self, authority: bytes, stream_limit: int) -> None:
        self.authority = authority
        self.stream_limit = stream_limit
        self.h2 = h2.connection.H2Connection(config=_CONFIG)
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, _Stream] = {}
        self.blocked: dict[int, _Stream] = {}  # bodies waiting for a flow-control window, oldest first
        self.slots: collections.deque[asyncio.Future[None]] = collections.deque()  # requests waiting for a stream
        self.max_streams = 0  # until the server's first SETTINGS frame
        self.usable = True  # False after GOAWAY, an error or connection loss: new requests go elsewhere
        self.loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = self.loop.create_future()
        self.h2_selected = False
        self._flush_scheduled = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        tls = transport.get_extra_info("ssl_object")
        self.h2_selected = tls is not None and tls.selected_alpn_protocol() == "h2"
        if self.h2_selected:  # else the client closes it and speaks HTTP/1.1 to this origin
            self.h2.initiate_connection()
            self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.H2Error as error:
            self._fail(f"HTTP/2 protocol error: {type(error).__name__}")
            return
        for event in events:
            if isinstance(event, h2.events.ResponseReceived):
                stream = self.streams.get(event.stream_id)  # type: ignore[arg-type]
                if stream is not None:
                    for name, value in event.headers or ():
                        if name == b":status":
                            stream.status = int(value)
                        elif name == b"retry-after":
                            stream.retry_after = value.decode("latin-1")
            elif isinstance(event, h2.events.DataReceived):  # a problem body: read and let go
                self.h2.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id or 0)
            elif isinstance(event, h2.events.StreamEnded):
                self._ended(event.stream_id or 0)
            elif isinstance(event, h2.events.StreamReset):
                self._forget(event.stream_id or 0, NoAnswer(f"stream reset by the push service "
                                                            f"({_code(event.error_code)})"))
            elif isinstance(event, h2.events.WindowUpdated):
                self._send_blocked()
            elif isinstance(event, h2.events.RemoteSettingsChanged):
                self.max_streams = min(self.h2.remote_settings.max_concurrent_streams, self.stream_limit)
                if not self.ready.done():
                    self.ready.set_result(None)
                self._send_blocked()  # INITIAL_WINDOW_SIZE may have grown
                self._wake()
            elif isinstance(event, h2.events.ConnectionTerminated):
                # h2 takes no frame after GOAWAY, so no stream here can still be answered; those the server
                # numbered as processed (up to last_stream_id) may have been accepted.
                self._fail(f"push service closed the connection (GOAWAY {_code(event.error_code)})")
                return
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("connection lost")
        if not self.ready.done():
            self.ready.set_exception(NoAnswer("connection closed before HTTP/2 settings"))

    # requests

    async def request(self, headers: list[tuple[bytes, bytes]], body: bytes, deadline: float) -> Answer:
        while len(self.streams) >= self.max_streams and self.usable:
            slot = self.loop.create_future()
            self.slots.append(slot)
            try:
                async with asyncio.timeout_at(deadline):
                    await slot
            except BaseException:
                if slot.done() and not slot.cancelled():  # woken, then timed out: pass the free stream on
                    self._wake()
                raise
        if not self.usable:
            raise NoAnswer("connection closing; not sent")
        try:
            stream_id = self.h2.get_next_available_stream_id()
        except h2.exceptions.NoAvailableStreamIDError as error:  # after 2**30 streams: drain, then a new one
            self.usable = False
            self._close_if_drained()
            raise NoAnswer("connection out of stream ids; not sent") from error
        answer: asyncio.Future[Answer] = self.loop.create_future()
        stream = self.streams[stream_id] = _Stream(body, answer)
        try:
            self.h2.send_headers(stream_id, headers, end_stream=not body)
            if body:
                self._send_body(stream_id, stream)
        except h2.exceptions.H2Error as error:
            self._forget(stream_id, NoAnswer(f"HTTP/2 refused the request: {type(error).__name__}"))
        self._schedule_flush()
        # The deadline resolves the answer itself rather than cancelling this task: an answer that arrives in
        # the same turn as the deadline is kept (reporting an accepted message as unanswered would resend it).
        timer = self.loop.call_at(deadline, _expire, answer)
        try:
            return await answer
        finally:
            timer.cancel()
            if self.streams.get(stream_id) is stream:  # timed out or cancelled: stop the stream, free its slot
                self._reset(stream_id)

    def _send_body(self, stream_id: int, stream: _Stream) -> None:
        body, size = stream.body, len(stream.body)
        while stream.offset < size:
            window = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
            if window <= 0:
                self.blocked[stream_id] = stream
                return
            chunk = body[stream.offset:stream.offset + window]
            stream.offset += len(chunk)
            self.h2.send_data(stream_id, chunk, end_stream=stream.offset == size)
        self.blocked.pop(stream_id, None)

    def _send_blocked(self) -> None:
        for stream_id, stream in list(self.blocked.items()):
            self._send_body(stream_id, stream)
            if stream_id in self.blocked and self.h2.outbound_flow_control_window <= 0:
                break

    def _ended(self, stream_id: int) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is None:
            return
        if stream_id in self.blocked:  # answered before the whole body was sent
            del self.blocked[stream_id]
            self._reset(stream_id, h2.errors.ErrorCodes.NO_ERROR)
        if not stream.answer.done():
            if stream.status is None:
                stream.answer.set_exception(NoAnswer("stream ended without a status"))
            else:
                stream.answer.set_result(Answer(stream.status, stream.retry_after))
        self._wake()
        self._close_if_drained()

    def _forget(self, stream_id: int, error: NoAnswer) -> None:
        stream = self.streams.pop(stream_id, None)
        self.blocked.pop(stream_id, None)
        if stream is not None and not stream.answer.done():
            stream.answer.set_exception(error)
        self._wake()
        self._close_if_drained()

    def _reset(self, stream_id: int, code: h2.errors.ErrorCodes = h2.errors.ErrorCodes.CANCEL) -> None:
        self.streams.pop(stream_id, None)
        self.blocked.pop(stream_id, None)
        if self.usable:
            try:
                self.h2.reset_stream(stream_id, code)
            except h2.exceptions.H2Error:  # already closed on h2's side
                pass
            self._schedule_flush()
        self._wake()
        self._close_if_drained()

    def _wake(self) -> None:
        free = self.max_streams - len(self.streams) if self.usable else len(self.slots)
        while free > 0 and self.slots:
            slot = self.slots.popleft()
            if not slot.done():
                slot.set_result(None)
                free -= 1

    # writing and closing

    def _schedule_flush(self) -> None:
        # Every request started in this turn of the event loop adds its frames first; one write sends them all.
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _close_if_drained(self) -> None:
        if not self.usable and not self.streams and self.transport is not None and not self.transport.is_closing():
            self._fail("drained")

    def _fail(self, reason: str) -> None:
        self.usable = False
        streams, self.streams, self.blocked = self.streams, {}, {}
        for stream in streams.values():
            if not stream.answer.done():
                stream.answer.set_exception(NoAnswer(reason))
        self._wake()
        if self.transport is not None and not self.transport.is_closing():
            self._flush()
            self.transport.close()

    def close(self) -> None:
        if self.h2_selected and self.usable and self.transport is not None and not self.transport.is_closing():
            self.h2.close_connection()
        self._fail("client closed")


def _expire(answer: asyncio.Future[Answer]) -> None:
    if not answer.done():
        answer.set_exception(NoAnswer("no answer in time"))


def _code(code: object) -> str:
    return getattr(code, "name", str(code))


def _split(url: str) -> tuple[str, str]:
    """(origin, path) of an https URL, without parsing it whole for every message."""
    start = url.find("://") + 3
    slash = url.find("/", start)
    return (url, "/") if slash < 0 else (url[:slash], url[slash:])


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's trust anchors, plus an extra CA only for a development push service on loopback."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    return context


class PushClient:
    """HTTP/2 connections to push services, one per origin, with HTTP/1.1 (httpx) for origins without h2."""

    def __init__(self, ca_file: str | None = None, *, timeout: float = 10.0, max_streams: int = 100,
                 fallback: httpx.AsyncClient | None = None) -> None:
        """``max_streams``: at most this many requests in flight per connection, fewer if the push service says
        so (100, as browsers and httpcore; hypercorn stalled with a thousand streams open, its own limit)."""
        self.context = tls_context(ca_file)
        self.context.set_alpn_protocols(["h2", "http/1.1"])
        self.timeout, self.max_streams = timeout, max_streams
        self.ca_file = ca_file
        self._fallback, self._owns_fallback = fallback, fallback is None
        self._connections: dict[str, _Connection] = {}
        self._connecting: dict[str, asyncio.Task[_Connection | None]] = {}
        self.http1_origins: set[str] = set()

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        """POST within ``timeout`` seconds (connecting and waiting for a free stream included)."""
        origin, path = _split(url)
        deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            connection = None
            if origin not in self.http1_origins:
                connection = self._connections.get(origin)
                if connection is None or not connection.usable:
                    async with asyncio.timeout_at(deadline):
                        connection = await self._connect(origin)
            if connection is not None:
                return await connection.request(
                    [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", connection.authority),
                     # Each subscription's path is sent once: kept out of the HPACK table, it does not evict
                     # the headers every message repeats (VAPID, TTL, Topic), which then cost a byte each.
                     NeverIndexedHeaderTuple(b":path", path.encode()),
                     (b"content-length", str(len(body)).encode()),
                     *((name.encode(), value.encode()) for name, value in headers.items())], body, deadline)
            async with asyncio.timeout_at(deadline):
                response = await self._http1().post(url, content=body, headers=headers)
            return Answer(response.status_code, response.headers.get("retry-after"))
        except TimeoutError as error:
            raise NoAnswer("no answer in time") from error
        except (OSError, httpx.TransportError) as error:  # ssl.SSLError is an OSError
            raise NoAnswer(type(error).__name__) from error

    async def _connect(self, origin: str) -> _Connection | None:
        """The origin's h2 connection, opened once however many requests ask at the same time; None: no h2."""
        task = self._connecting.get(origin)
        if task is None:
            task = self._connecting[origin] = asyncio.create_task(self._open(origin))

            def opened(done: asyncio.Task[_Connection | None]) -> None:
                del self._connecting[origin]
                if not done.cancelled():
                    done.exception()  # retrieved even if every caller timed out

            task.add_done_callback(opened)
        return await asyncio.shield(task)  # one caller's timeout must not cancel the others' connection

    async def _open(self, origin: str) -> _Connection | None:
        parts = urlsplit(origin)
        host, port = parts.hostname or "", parts.port or 443
        authority = origin.split("://", 1)[1].encode()
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(self.timeout):
                _, connection = await asyncio.get_running_loop().create_connection(
                    lambda: _Connection(authority, self.max_streams), host, port, ssl=self.context,
                    server_hostname=host)
                if not connection.h2_selected:  # HTTP/1.1 only: httpx serves this push service from now on
                    connection.ready.cancel()
                    connection.close()
                    self.http1_origins.add(origin)
                    return None
                await connection.ready
        except BaseException:
            if connection is not None:
                connection.close()
            raise
        old = self._connections.get(origin)
        if old is not None and not old.streams:  # else it closes itself once its streams are answered
            old.close()
        self._connections[origin] = connection
        return connection

    def _http1(self) -> httpx.AsyncClient:
        if self._fallback is None:  # its own TLS context: httpx sets ALPN on the context it is given
            self._fallback = httpx.AsyncClient(verify=tls_context(self.ca_file), timeout=self.timeout,
                                               follow_redirects=False)
        return self._fallback

    async def aclose(self) -> None:
        for task in list(self._connecting.values()):
            task.cancel()
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
        if self._owns_fallback and self._fallback is not None:
            await self._fallback.aclose()

    async def __aenter__(self) -> PushClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
