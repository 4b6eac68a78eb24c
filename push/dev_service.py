"""A local push service for tests and demos (`mynaportal dev-push-service`): the receiving side of RFC 8030.

It plays both the push service and the browsers behind it: it creates subscriptions (keeping each user
agent's private key), checks every request's VAPID JWT (RFC 8292: ES256, ``aud`` = this origin, ``exp``
within 24 h) and the TTL, Urgency and Topic headers, decrypts the payload (RFC 8291) and records it.
It dedupes nothing: every accepted request is counted. ``POST /control`` makes it answer 410, 429 (with
Retry-After), 500, or hold requests unanswered, for the next N requests.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from push.encryption import decrypt
from push.vapid import b64url, b64url_decode

MODES = ("ok", "410", "429", "500", "hold")
URGENCIES = ("very-low", "low", "normal", "high")


@dataclass
class UserAgent:
    id: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def keys(self) -> dict[str, str]:
        public = self.private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"p256dh": b64url(public), "auth": b64url(self.auth)}


@dataclass
class Received:
    subscription: str
    message_id: str  # "<subscription>:<notice id>" from the decrypted payload
    payload: dict[str, Any]
    ttl: int
    urgency: str
    topic: str | None
    vapid_key: str
    received_at: float


@dataclass
class PushServiceState:
    origin: str
    user_agents: dict[str, UserAgent] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    requests: int = 0
    mode: str = "ok"
    mode_left: int | None = None  # None: until changed
    mode_after: int = 0  # requests still answered normally before the mode applies
    retry_after: int = 1
    release: asyncio.Event = field(default_factory=asyncio.Event)
    verified_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (k, exp)
    # (HTTP version, client address and port) -> pushes: how many connections senders used, and which protocol
    connections: dict[tuple[str, str], int] = field(default_factory=dict)

    def take_mode(self) -> str:
        if self.mode_after > 0:
            self.mode_after -= 1
            return "ok"
        mode = self.mode
        if mode != "ok" and self.mode_left is not None:
            self.mode_left -= 1
            if self.mode_left <= 0:
                self.mode, self.mode_left = "ok", None
        return mode


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": "push refused", "status": status, "detail": detail},
                        status_code=status, media_type="application/problem+json")


def _verify_vapid(state: PushServiceState, header: str | None) -> str:
    """Return the VAPID public key (k) if the Authorization header is a valid RFC 8292 credential."""
    if not header or not header.lower().startswith("vapid "):
        raise PermissionError("missing vapid authorization")
    params = dict(part.strip().split("=", 1) for part in header[6:].split(",") if "=" in part)
    token, key = params.get("t"), params.get("k")
    if not token or not key:
        raise PermissionError("vapid t and k are required")
    cached = state.verified_tokens.get(token)
    if cached is not None and cached[0] == key and cached[1] > time.time():
        return key
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        claims = jwt.decode(token, public, algorithms=["ES256"], audience=state.origin,
                            options={"require": ["aud", "exp", "sub"]})
    except (ValueError, jwt.PyJWTError) as error:
        raise PermissionError(f"invalid vapid token: {error}") from error
    if claims["exp"] > time.time() + 24 * 3600:
        raise PermissionError("vapid token expires more than 24 h ahead")
    if not str(claims["sub"]).startswith(("mailto:", "https:")):
        raise PermissionError("vapid sub must be a mailto: or https: URI")
    state.verified_tokens[token] = (key, float(claims["exp"]))
    return key


def create_push_service(origin: str) -> Starlette:
    state = PushServiceState(origin=origin.rstrip("/"))

    async def subscribe(request: Request) -> JSONResponse:
        count = int((await request.json()).get("count", 1))
        if not 1 <= count <= 200_000:
            return _problem(400, "count must be 1 to 200000")
        created = []
        for _ in range(count):
            agent = UserAgent(uuid.uuid4().hex, ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(16))
            state.user_agents[agent.id] = agent
            created.append({"endpoint": f"{state.origin}/push/{agent.id}", "keys": agent.keys()})
        return JSONResponse({"subscriptions": created})

    async def push(request: Request) -> Response:
        # Read the body before any answer: hypercorn drops the whole HTTP/2 connection when a handler answers
        # before the request's DATA frames were taken (KeyError in its h2 protocol), failing every other stream.
        body = await request.body()
        state.requests += 1
        client = request.scope.get("client") or ("", 0)
        connection = (request.scope.get("http_version", "1.1"), f"{client[0]}:{client[1]}")
        state.connections[connection] = state.connections.get(connection, 0) + 1
        agent = state.user_agents.get(request.path_params["subscription"])
        if agent is None:
            return _problem(410, "no such subscription")
        try:
            vapid_key = _verify_vapid(state, request.headers.get("authorization"))
        except PermissionError as error:
            return _problem(401, str(error))
        ttl = request.headers.get("ttl")
        if ttl is None or not ttl.isdigit():
            return _problem(400, "TTL header required (RFC 8030 §5.2)")
        urgency = request.headers.get("urgency", "normal")
        topic = request.headers.get("topic")
        if urgency not in URGENCIES or (topic is not None and (len(topic) > 32 or not topic.replace(
                "-", "").replace("_", "").isalnum())):
            return _problem(400, "bad Urgency or Topic")
        if request.headers.get("content-encoding") != "aes128gcm":
            return _problem(415, "content-encoding must be aes128gcm")
        mode = state.take_mode()
        if mode == "hold":  # never answered: the request is not accepted, so it is not counted
            await state.release.wait()
            return _problem(503, "released without being accepted")
        if mode == "410":
            state.user_agents.pop(agent.id, None)
            return _problem(410, "subscription expired")
        if mode == "429":
            return Response(status_code=429, headers={"retry-after": str(state.retry_after)})
        if mode == "500":
            return _problem(500, "push service failure")
        try:
            payload = json.loads(decrypt(body, receiver=agent.private_key, auth=agent.auth))
        except (ValueError, json.JSONDecodeError):
            return _problem(400, "payload does not decrypt with the subscription's keys")
        message_id = f"{agent.id}:{payload.get('notice')}"
        state.received.append(Received(agent.id, message_id, payload, int(ttl), urgency, topic, vapid_key,
                                       time.time()))
        return Response(status_code=201, headers={"location": f"{state.origin}/messages/{uuid.uuid4().hex}"})

    async def control(request: Request) -> JSONResponse:
        data = await request.json()
        mode = data.get("mode", "ok")
        if mode not in MODES:
            return _problem(400, f"mode must be one of {', '.join(MODES)}")
        if state.mode == "hold" and mode != "hold":
            state.release.set()
        if mode == "hold":
            state.release = asyncio.Event()
        state.mode, state.mode_left = mode, data.get("count")
        state.mode_after = int(data.get("after") or 0)
        state.retry_after = int(data.get("retry_after", 1))
        return JSONResponse({"mode": state.mode, "count": state.mode_left})

    async def not_found(request: Request) -> JSONResponse:
        await request.body()  # see push()
        return _problem(404, "no such push resource")

    async def messages(_: Request) -> JSONResponse:
        return JSONResponse({"messages": [
            {"subscription": r.subscription, "message_id": r.message_id, "payload": r.payload, "ttl": r.ttl,
             "urgency": r.urgency, "topic": r.topic, "vapid_key": r.vapid_key, "received_at": r.received_at}
            for r in state.received]})

    async def stats(_: Request) -> JSONResponse:
        per_message: dict[str, int] = {}
        for r in state.received:
            per_message[r.message_id] = per_message.get(r.message_id, 0) + 1
        versions: dict[str, int] = {}
        for version, _ in state.connections:
            versions[version] = versions.get(version, 0) + 1
        return JSONResponse({"requests": state.requests, "accepted": len(state.received),
                             "subscriptions": len(state.user_agents), "per_message": per_message,
                             "connections_by_http_version": versions})

    app = Starlette(routes=[
        Route("/subscriptions", subscribe, methods=["POST"]),
        Route("/push/{subscription}", push, methods=["POST"]),
        Route("/control", control, methods=["POST"]),
        Route("/messages", messages),
        Route("/stats", stats),
        Route("/{rest:path}", not_found, methods=["POST"]),
    ])
    app.state.push_service = state
    return app


def server_config(host: str, port: int, certfile: str, keyfile: str) -> Config:
    """How hypercorn serves the local push service (the command and the tests): TLS with ALPN h2 and http/1.1,
    as real push services speak (uvicorn has no HTTP/2), and senders multiplex on one connection."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.certfile, config.keyfile = certfile, keyfile
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog, config.loglevel = None, "WARNING"
    config.h2_max_concurrent_streams = 1000
    # hypercorn ends a connection after keep_alive_max_requests (default 1,000), and on HTTP/2 it does so by
    # closing its h2 state at once: the streams still in flight are never answered and their senders wait for a
    # timeout, then send again what the service may have accepted (the "HTTP/2 stall" of the worker's
    # benchmark). Push services keep a sender's connection for hours; so does this one.
    config.keep_alive_max_requests = 2**62
    return config
