from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from api.app import create_app
from api.demo import seed_demo
from api.identity.tokens import issue_token
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from api.platform.settings import PROJECT_ROOT, Settings
from tests.conftest import make_settings
from tests.schema_cache import shared_schema

OPERATIONS = PROJECT_ROOT / "graphql" / "operations"


def operation(name: str) -> str:
    [path] = OPERATIONS.rglob(f"{name}.graphql")
    return path.read_text()


@dataclass
class Portal:
    app: Starlette
    client: httpx.AsyncClient
    father: uuid.UUID
    mother: uuid.UUID
    child: uuid.UUID
    father_token: str

    async def query(self, document: str | None, variables: dict[str, Any] | None = None, *,
                    token: str | None = None, extensions: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post({"query": document, "variables": variables, "extensions": extensions},
                                   token=token)
        return response.json()

    async def post(self, body: Any, *, token: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return await self.client.post("/graphql", json=body, headers=headers)


@asynccontextmanager
async def running_portal(engine: AsyncEngine, cipher: IndividualNumberCipher, settings: Settings
                         ) -> AsyncIterator[Portal]:
    """The demo family seeded, and the app running as a server runs it: its lifespan started (and ended
    afterwards, which closes what it holds), requests through httpx's ASGI transport."""
    async with create_session_factory(engine)() as session, session.begin():
        seed = await seed_demo(session, cipher)
        father, mother, child = seed.people
        token = await issue_token(session, father, ttl=timedelta(minutes=15))
    app = create_app(settings, owns_process=False, schema=shared_schema(settings))
    async with LifespanManager(app) as running, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=running.app), base_url="http://portal.test") as client:
        yield Portal(app, client, father, mother, child, token)


@pytest.fixture
async def portal(engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str) -> AsyncIterator[Portal]:
    async with running_portal(engine, cipher, make_settings(database_url)) as portal:
        yield portal


@pytest.fixture
async def production_portal(
    engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str
) -> AsyncIterator[Portal]:
    settings = make_settings(database_url, environment="production", graphiql=False, introspection=False,
                             persisted_only=True)
    async with running_portal(engine, cipher, settings) as portal:
        yield portal
