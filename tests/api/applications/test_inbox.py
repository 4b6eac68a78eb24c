"""The municipality's inbox pages: keyset pages oldest first, by status, with the municipality's own codes."""

from __future__ import annotations

import pytest

from api.applications import inbox
from api.applications.staff import InboxActor
from api.platform.errors import PortalError
from api.platform.pagination import PageRequest
from tests.api.applications.conftest import OneStop


async def test_pages_follow_the_cursor_oldest_first_and_filter_by_status(one_stop: OneStop) -> None:
    card = await one_stop.card(one_stop.father)
    sent = []
    for _ in range(3):
        draft = await one_stop.ready_draft()
        sent.append(await one_stop.submit(one_stop.father, draft.id,
                                          await one_stop.signed(card, one_stop.father, draft.id)))
    actor = InboxActor(one_stop.chiyoda_id, "131016", "test", True)
    first = await inbox.list_inbox(one_stop.factory, actor, PageRequest.parse(2, None), "received")
    assert [row.application.reception_number for _, row in first.items] == [a.reception_number for a in sent[:2]]
    assert first.has_next_page
    row = first.items[0][1]
    assert (row.application.status, row.application.procedure_code, row.application.basis) == (
        "received", "child_allowance_claim", "parent")
    assert row.applicant_code is not None and row.subject_code is not None
    assert row.applicant_code != row.subject_code
    rest = await inbox.list_inbox(one_stop.factory, actor, PageRequest.parse(2, first.items[-1][0]), None)
    assert [row.application.reception_number for _, row in rest.items] == [sent[2].reception_number]
    assert not rest.has_next_page
    assert (await inbox.list_inbox(one_stop.factory, actor, PageRequest.parse(2, None), "reviewing")).items == []
    other = InboxActor(one_stop.chiyoda_id, "141003", "test", True)
    assert (await inbox.list_inbox(one_stop.factory, other, PageRequest.parse(2, None), None)).items == []
    with pytest.raises(PortalError) as caught:
        await inbox.list_inbox(one_stop.factory, actor, PageRequest.parse(2, None), "draft")
    assert caught.value.code == "BAD_USER_INPUT"
