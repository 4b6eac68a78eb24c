"""Relay connections built from domain pages (keyset pagination lives in the domain)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from strawberry import relay

from api.platform.pagination import Page, PageRequest

N = TypeVar("N")


def page_request(first: int | None, after: str | None) -> PageRequest:
    """``first`` and ``after`` as the domain's page request (refused as BAD_USER_INPUT when out of range)."""
    return PageRequest.parse(first, after)


def to_connection(page: Page[Any], node: Callable[[Any], N]) -> relay.Connection[N]:
    edges = [relay.Edge(cursor=cursor, node=node(item)) for cursor, item in page.items]
    return relay.Connection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
