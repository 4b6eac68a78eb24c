"""The public REST API under /corporate/: the NTA Web-API Ver.4 (/4/num, /4/diff, /4/name), plus JSON.

Same parameters, limits (10 numbers, 50-day windows, 2,000 rows a page, `divide`), output types and
error codes as the NTA, so existing clients work by changing the host. Each request names its
application id (`id`); ids are checked against their hash (kept in the worker for at most a second, and
forgotten at once when this process revokes one: api.platform.revocations),
rate-limited per id across every worker (api.platform.rate_limits; 429 with Retry-After) and counted.
Lookups carry ETag and Last-Modified and answer 304 to a matching conditional request.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from api.platform.db import read_only_factory
from api.platform.rate_limits import Limit, RateLimiter, burst_limit
from api.platform.revocations import RecentLookups
from corporate import application_ids, formats, name_search, records, service
from corporate.api_errors import ApiError, error_body
from corporate.checkdigit import is_valid
from corporate.openapi import DOCS_HTML, openapi_document
from corporate.usage import UsageCounter

PAGE_SIZE = 2000
MAX_NUMBERS = 10
MAX_WINDOW_DAYS = 50
DIFF_EPOCH = date(2015, 12, 1)
ASSIGNMENT_EPOCH = date(2015, 10, 5)
ID_CACHE_ENTRIES = 10_000  # bounded memory under a flood of made-up ids
DATA_DATE_SECONDS = 30.0
USAGE_FLUSH_SECONDS = 5.0
MODES = {"1": "prefix", "2": "partial"}
_NOT_KEPT: Any = object()


def _date(raw: str | None) -> date | None:
    if raw is None or len(raw) != 10:
        raise ValueError
    return date.fromisoformat(raw)


def _flag(params: Any, name: str, default: str, code: str) -> bool:
    value = params.get(name, default)
    if value not in ("0", "1"):
        raise ApiError(code)
    return value == "1"


def _divide(params: Any) -> int:
    raw = params.get("divide", "1")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 99999:
        raise ApiError("090")
    return int(raw)


def _address(params: Any) -> tuple[str | None, str | None]:
    raw = params.get("address")
    if raw is None or raw == "":
        return None, None
    if not raw.isascii() or not raw.isdigit():
        raise ApiError("050")
    if len(raw) == 3:
        raise ApiError("051")
    if len(raw) == 2:
        return raw, None
    if len(raw) == 5:
        return raw[:2], raw[2:]
    raise ApiError("050")


def _kinds(params: Any) -> tuple[str, ...]:
    raw = params.get("kind")
    if raw is None or raw == "":
        return ()
    codes = raw.split(",")
    if len(codes) > 4 or any(code not in records.KIND_FILTERS for code in codes):
        raise ApiError("060")
    return tuple(kind for code in dict.fromkeys(codes) for kind in records.KIND_FILTERS[code])


def _pages(count: int) -> int:
    return max(1, math.ceil(count / PAGE_SIZE))


@dataclass
class CorporateApi:
    session_factory: async_sessionmaker[AsyncSession]
    limiter: RateLimiter
    limit: Limit
    # Lookups and searches only read: on SQLite they must not queue for the write lock.
    read_factory: async_sessionmaker[AsyncSession] = field(init=False)
    # The engine whose pooled connections serve /4/num's point reads (api.platform.db.PointRead).
    engine: AsyncEngine = field(init=False)
    usage: UsageCounter = field(default_factory=lambda: UsageCounter(interval=USAGE_FLUSH_SECONDS))
    clock: Callable[[], float] = time.monotonic
    today: Callable[[], date] = date.today
    _ids: RecentLookups[bytes, uuid.UUID | None] = field(init=False)
    _data_date: tuple[date | None, float] = (None, -math.inf)

    def __post_init__(self) -> None:
        self.read_factory = read_only_factory(self.session_factory)
        self.engine = self.session_factory.kw["bind"]
        # What an id's lookup found (its row, or None: unknown or revoked), under the rule of revocation caches.
        self._ids = RecentLookups(ID_CACHE_ENTRIES, (application_ids.REVOCATIONS,), clock=lambda: self.clock())

    # --- plumbing shared by the three endpoints

    async def _application(self, raw: str | None) -> uuid.UUID:
        if not raw:
            raise ApiError("001")
        key = application_ids.hash_key(raw)
        found = self._ids.get(key, _NOT_KEPT)
        if found is _NOT_KEPT:
            started = self._ids.fill_started()
            async with self.read_factory() as session:
                found = await application_ids.resolve(session, raw)
            self._ids.put(key, found, started)
        if found is None:
            raise ApiError("001")
        return found  # type: ignore[no-any-return]

    async def _admit(self, request: Request) -> None:
        application = await self._application(request.query_params.get("id"))
        wait = await self.limiter.hit(self.limit, "corporate", str(application))
        if wait is not None:
            raise ApiError("002", retry_after=wait)
        now = self.clock()
        self.usage.count(application)
        if self.usage.due(now):
            pending = self.usage.take_pending(now)
            async with self.session_factory() as session, session.begin():
                await application_ids.add_usage(session, pending, self.today())

    async def _last_update(self) -> date | None:
        value, expires = self._data_date
        if expires < self.clock():
            async with self.read_factory() as session:
                value = await service.last_update_date(session)
            self._data_date = (value, self.clock() + DATA_DATE_SECONDS)
        return value

    async def _respond(
        self, request: Request, work: Callable[[Any, str], Awaitable[tuple[formats.Answer, bool]]]
    ) -> Response:
        output_type = request.query_params.get("type")
        known_type = output_type if output_type in formats.TYPES else None
        try:
            if output_type is None or output_type == "":
                raise ApiError("070")
            if known_type is None:
                raise ApiError("071")
            await self._admit(request)
            answer, cacheable = await work(request.query_params, output_type)
        except ApiError as error:
            body, media_type = error_body(error, known_type, request.url.path)
            headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
            return Response(body, status_code=error.kind.status, media_type=media_type, headers=headers)
        body = formats.render(answer, output_type)
        headers = {"Cache-Control": "private, max-age=60"}
        if cacheable:
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            headers["ETag"] = etag
            if answer.states:
                modified = max(state.imported_at for state in answer.states).replace(microsecond=0)
                headers["Last-Modified"] = format_datetime(modified, usegmt=True)
                since = request.headers.get("if-modified-since")
            else:
                modified, since = None, None
            if _not_modified(request.headers.get("if-none-match"), etag, since, modified):
                return Response(status_code=304, headers=headers)
        return Response(body, media_type=formats.MEDIA_TYPES[output_type], headers=headers)

    # --- the endpoints

    async def num(self, request: Request) -> Response:
        async def work(params: Any, output_type: str) -> tuple[formats.Answer, bool]:
            raw = params.get("number")
            if not raw:
                raise ApiError("040")
            numbers = raw.split(",")
            if len(numbers) > MAX_NUMBERS:
                raise ApiError("042")
            for number in numbers:
                if len(number) != 13 or not number.isascii() or not number.isdigit():
                    raise ApiError("041")
                if not is_valid(number):
                    raise ApiError("043")
            history = _flag(params, "history", "0", "044")
            states = await service.lookup_with(self.engine, numbers, history=history)
            updated = await self._last_update()
            return formats.Answer(updated, len(states), 1, 1, states), True

        return await self._respond(request, work)

    async def diff(self, request: Request) -> Response:
        async def work(params: Any, output_type: str) -> tuple[formats.Answer, bool]:
            if not params.get("from"):
                raise ApiError("010")
            try:
                start = _date(params.get("from"))
            except ValueError:
                raise ApiError("011") from None
            try:
                end = _date(params.get("to"))
            except ValueError:
                raise ApiError("012") from None
            assert start is not None and end is not None
            if start < DIFF_EPOCH:
                raise ApiError("013")
            if end < start:
                raise ApiError("014")
            if end - start > timedelta(days=MAX_WINDOW_DAYS):
                raise ApiError("015")
            prefecture, city = _address(params)
            kinds = _kinds(params)
            divide = _divide(params)
            async with self.read_factory() as session:
                page = await service.diff(session, start, end, prefecture_code=prefecture, city_code=city,
                                          kinds=kinds, offset=(divide - 1) * PAGE_SIZE, limit=PAGE_SIZE)
                updated = await self._last_update()
            return formats.Answer(updated, page.count, divide, _pages(page.count), page.states,
                                  first_sequence=(divide - 1) * PAGE_SIZE + 1), False

        return await self._respond(request, work)

    async def name(self, request: Request) -> Response:
        async def work(params: Any, output_type: str) -> tuple[formats.Answer, bool]:
            text = params.get("name")
            if not text:
                raise ApiError("100")
            mode = MODES.get(params.get("mode", "1"))
            if mode is None:
                raise ApiError("102")
            target = params.get("target", "1")
            if target not in ("1", "2", "3"):
                raise ApiError("103")
            past = _flag(params, "change", "0", "104")
            closed = _flag(params, "close", "1", "105")
            try:
                assigned_from = _date(params["from"]) if params.get("from") else None
                assigned_to = _date(params["to"]) if params.get("to") else None
            except ValueError:
                raise ApiError("150") from None
            if assigned_from and assigned_from < ASSIGNMENT_EPOCH:
                raise ApiError("152")
            if assigned_from and assigned_to and assigned_to < assigned_from:
                raise ApiError("153")
            if target == "3" and not text.isascii():
                raise ApiError("101")
            prefecture, city = _address(params)
            search = name_search.NameSearch(
                text=text, mode=mode, target="english" if target == "3" else "any",  # type: ignore[arg-type]
                exact_characters=target == "2", prefecture_code=prefecture, city_code=city, kinds=_kinds(params),
                include_closed=closed, include_past_names=past, assigned_from=assigned_from,
                assigned_to=assigned_to)
            divide = _divide(params)
            try:
                async with self.read_factory() as session:
                    count, found = await service.search_names(session, search, offset=(divide - 1) * PAGE_SIZE,
                                                              limit=PAGE_SIZE)
                    updated = await self._last_update()
            except name_search.InvalidSearch:
                raise ApiError("101") from None
            total = count or 0
            return formats.Answer(updated, total, divide, _pages(total), [state for _, state in found],
                                  first_sequence=(divide - 1) * PAGE_SIZE + 1), False

        return await self._respond(request, work)


def _not_modified(if_none_match: str | None, etag: str, if_modified_since: str | None,
                  modified: Any) -> bool:
    if if_none_match is not None:  # RFC 9110: If-None-Match takes precedence
        return etag in [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")] \
            or if_none_match.strip() == "*"
    if if_modified_since and modified is not None:
        try:
            return modified <= parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
    return False


def build_routes(api: CorporateApi) -> list[BaseRoute]:
    async def openapi(_: Request) -> JSONResponse:
        return JSONResponse(openapi_document())

    async def docs(_: Request) -> HTMLResponse:
        return HTMLResponse(DOCS_HTML)

    return [Mount("/corporate", routes=[
        Route("/4/num", api.num, methods=["GET"]),
        Route("/4/diff", api.diff, methods=["GET"]),
        Route("/4/name", api.name, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ])]


def routes(settings: Any, session_factory: async_sessionmaker[AsyncSession]) -> list[BaseRoute]:
    """The route factory named in api.app.ROUTE_FACTORIES."""
    limiter = RateLimiter(settings.rate_limit_storage, prefix=settings.rate_limit_prefix)
    return build_routes(CorporateApi(session_factory=session_factory, limiter=limiter,
                                     limit=burst_limit(settings.corporate_rate, settings.corporate_burst)))
