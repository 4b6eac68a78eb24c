"""Attachments: size and type by content, replaced per requirement, content in chunks read back in order."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from api.applications.attachments import CHUNK, add_attachment, sniff, stream_content
from api.applications.models import ApplicationAttachment, AttachmentChunk
from api.platform.errors import PortalError
from tests.api.applications.conftest import OneStop

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2100  # ~540 KB: three chunks


def test_sniffing_reads_the_content() -> None:
    assert [sniff(b"%PDF-1.4"), sniff(PNG), sniff(b"\xff\xd8\xff\xe0"), sniff(b"MZ\x90"), sniff(b"")] == [
        "application/pdf", "image/png", "image/jpeg", None, None]


async def test_attachments_are_checked_by_content_and_stored_in_chunks(one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    attachment = await add_attachment(one_stop.factory, one_stop.father, draft.id, "bank_account_proof", "a.png",
                                      "image/png", PNG)
    assert (attachment.size, attachment.sha256) == (len(PNG), hashlib.sha256(PNG).digest())
    chunks = [chunk async for chunk in stream_content(one_stop.factory, attachment.id)]
    assert [len(c) for c in chunks] == [CHUNK, CHUNK, len(PNG) - 2 * CHUNK] and b"".join(chunks) == PNG

    async def refused(code: str, name: str, declared: str, content: bytes, requirement: str = "bank_account_proof"
                      ) -> None:
        with pytest.raises(PortalError) as caught:
            await add_attachment(one_stop.factory, one_stop.father, draft.id, requirement, name, declared, content)
        assert caught.value.code == code

    await refused("ATTACHMENT_TYPE_INVALID", "virus.pdf", "application/pdf", b"MZ\x90\x00" + b"\x00" * 100)
    await refused("ATTACHMENT_TYPE_INVALID", "a.pdf", "application/pdf", PNG)  # declared PDF, is a PNG
    await refused("ATTACHMENT_TOO_LARGE", "big.pdf", "application/pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024))
    await refused("BAD_USER_INPUT", "a.pdf", "application/pdf", b"%PDF-1", requirement="passport")
    await refused("BAD_USER_INPUT", "", "application/pdf", b"%PDF-1")
    # The refused files left nothing; a new file for the same requirement replaces the old one.
    replaced = await add_attachment(one_stop.factory, one_stop.father, draft.id, "bank_account_proof", "b.pdf",
                                    "application/pdf", b"%PDF-1.7 small")
    async with one_stop.factory() as session:
        assert await session.scalar(select(func.count()).select_from(ApplicationAttachment)) == 1
        assert list(await session.scalars(select(AttachmentChunk.attachment_id))) == [replaced.id]
