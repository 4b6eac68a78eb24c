"""Every table types its own columns: a process that imports one domain alone reads its values correctly."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from api.platform.settings import PROJECT_ROOT
from tests.payments.conftest import child_env

# Every module api.models gathers the tables from (a new one is covered once it is listed there).
MODEL_MODULES = tuple(module for module in re.findall(r"^from (\S+) import", (PROJECT_ROOT / "api" / "models.py")
                                                      .read_text(), re.M) if module != "api.platform.db")


@pytest.mark.parametrize("module", MODEL_MODULES)
def test_tables_type_their_columns_without_the_tables_they_point_at(module: str) -> None:
    """A process that imports one domain's tables alone (as the payment commands do) still reads UUIDs as UUIDs:
    a foreign key column without its own type stays NullType until the table it points at is imported."""
    script = (f"from sqlalchemy.types import NullType\nimport {module}\nfrom api.platform.db import Base\n"
              "print([f'{t.name}.{c.name}' for t in Base.metadata.tables.values() for c in t.c "
              "if isinstance(c.type, NullType)])")
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            check=True, env=child_env())
    assert result.stdout.strip() == "[]"
