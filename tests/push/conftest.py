from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.push.helpers import LocalPushService, running_push_service


@pytest.fixture
async def push_service(tmp_path: Path) -> AsyncIterator[LocalPushService]:
    async with running_push_service(tmp_path) as service:
        yield service
