"""Attachments: size and type checked by content (magic numbers, not the declared type or the file name), kept
in chunks outside the application's row, and read back one chunk at a time."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import Uuid, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.applications.catalogue import procedure
from api.applications.drafts import editable_application
from api.applications.models import Application, ApplicationAttachment, AttachmentChunk
from api.platform.db import utcnow
from api.platform.errors import PortalError

CHUNK = 256 * 1024
MAX_FILENAME = 200
# What the content starts with, per media type the procedures take.
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def too_large(limit: int) -> PortalError:
    """The refusal of a file over ``limit`` bytes, the same on every transport."""
    return PortalError("ATTACHMENT_TOO_LARGE", f"The file is larger than {limit} bytes.",
                       extensions={"maxBytes": limit})


def sniff(content: bytes) -> str | None:
    return next((media for magic, media in _MAGIC if content.startswith(magic)), None)


async def add_attachment(session_factory: async_sessionmaker[AsyncSession], actor_id: uuid.UUID,
                         application_id: uuid.UUID, requirement: str, filename: str, declared_type: str,
                         content: bytes, *, max_bytes: int | None = None) -> ApplicationAttachment:
    """Attach (or replace) the file for one of the procedure's attachment requirements; ``max_bytes`` (the
    portal's limit, MYNAPORTAL_MAX_ATTACHMENT_BYTES) caps the procedure's own."""
    if not 0 < len(filename) <= MAX_FILENAME or any(ord(c) < 0x20 for c in filename):
        raise PortalError("BAD_USER_INPUT", "The file name is 1 to 200 printable characters.",
                          extensions={"field": "filename"})
    async with session_factory() as session, session.begin():
        application = await editable_application(session, actor_id, application_id)
        wanted = procedure(application.procedure_code).attachment(requirement)
        if wanted is None:
            raise PortalError("BAD_USER_INPUT", "This procedure asks for no such attachment.",
                              extensions={"field": "requirement"})
        limit = wanted.max_bytes if max_bytes is None else min(wanted.max_bytes, max_bytes)
        if len(content) > limit:
            raise too_large(limit)
        found = sniff(content)
        if found is None or found not in wanted.media_types or found != declared_type:
            raise PortalError("ATTACHMENT_TYPE_INVALID", "The file's content is not a "
                              + " / ".join(wanted.media_types) + " matching its declared type.",
                              extensions={"accepted": list(wanted.media_types)})
        await session.execute(delete(ApplicationAttachment).where(
            ApplicationAttachment.application_id == application_id, ApplicationAttachment.requirement == requirement))
        attachment = ApplicationAttachment(application_id=application_id, requirement=requirement,
                                           filename=filename, media_type=found, size=len(content),
                                           sha256=hashlib.sha256(content).digest(), created_at=utcnow())
        session.add(attachment)
        await session.flush()
        session.add_all(AttachmentChunk(attachment_id=attachment.id, seq=seq, data=content[offset:offset + CHUNK])
                        for seq, offset in enumerate(range(0, len(content), CHUNK)))
        application.updated_at = utcnow()
        application.revision += 1
        return attachment


_OF_APPLICATION = (select(ApplicationAttachment)
                   .where(ApplicationAttachment.application_id == bindparam("application", type_=Uuid))
                   .order_by(ApplicationAttachment.requirement))  # built once: every submission reads it


async def attachments_of(session: AsyncSession, application_id: uuid.UUID) -> list[ApplicationAttachment]:
    return list(await session.scalars(_OF_APPLICATION, {"application": application_id}))


async def attachment_with_application(session_factory: async_sessionmaker[AsyncSession], attachment_id: uuid.UUID
                                      ) -> tuple[ApplicationAttachment, Application] | None:
    async with session_factory() as session:
        attachment = await session.get(ApplicationAttachment, attachment_id)
        if attachment is None:
            return None
        return attachment, await session.get_one(Application, attachment.application_id)


async def stream_content(session_factory: async_sessionmaker[AsyncSession],
                         attachment_id: uuid.UUID) -> AsyncIterator[bytes]:
    """The content, one chunk per read: a large file never sits whole in memory."""
    seq = 0
    while True:
        async with session_factory() as session:
            data = await session.scalar(select(AttachmentChunk.data).where(
                AttachmentChunk.attachment_id == attachment_id, AttachmentChunk.seq == seq))
        if data is None:
            return
        yield data
        seq += 1
