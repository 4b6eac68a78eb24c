"""What an import reports (rows read, stored, rejected with samples, seconds of each bulk-load phase) and
the progress it reports to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

SAMPLE_REJECTIONS = 100


@dataclass(frozen=True)
class Rejection:
    source: str
    line: int
    reason: str


@dataclass
class ImportReport:
    rows_read: int = 0
    inserted: int = 0
    rejected: int = 0
    samples: list[Rejection] = field(default_factory=list)  # the first SAMPLE_REJECTIONS rejections
    seconds: float = 0.0
    bulk: bool = False  # loaded into an empty table in one transaction, indexes rebuilt after
    phases: dict[str, float] = field(default_factory=dict)  # seconds of each step of a bulk load

    @property
    def unchanged(self) -> int:
        """Valid rows already stored (the same state imported before)."""
        return self.rows_read - self.rejected - self.inserted


class Progress(Protocol):
    def start(self, total_bytes: int) -> None: ...
    def advance(self, rows: int, size: int) -> None: ...
    def phase(self, name: str) -> None: ...  # a bulk load's next step once every row is in
    def finish(self) -> None: ...
