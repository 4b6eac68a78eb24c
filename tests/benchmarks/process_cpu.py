"""CPU seconds of a process tree from Linux /proc, counting children that ended meanwhile.

A process's own user + system time, plus what its reaped children used (cutime + cstime: the kernel adds a
child's times to its parent when the parent waits for it), plus its live descendants'. So the difference of two
readings is the tree's CPU between them even when processes started and ended in between: PostgreSQL's backends
come and go with their connections (a worker run with `--once` takes its backends with it), and the postmaster
reaps them.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _times(pid: int) -> tuple[float, float]:
    """(own user + system, reaped children's user + system) in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS, (int(fields[13]) + int(fields[14])) / TICKS


def _children(pid: int) -> list[int]:
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid``, its live descendants and every descendant reaped so far."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            own, reaped = _times(current)
            pending += _children(current)
        except FileNotFoundError:  # ended between the listing and the reading; its parent's reaped time has it
            continue
        # A live descendant's reaped children are in its own cutime; the root's are too.
        total += own + reaped
    return total


def postmaster_pid() -> int:
    """The local PostgreSQL server's postmaster: the ``postgres`` process whose parent is not one."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            if Path(f"/proc/{parent}/comm").read_text().strip() != "postgres":
                return int(entry.name)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    raise RuntimeError("no local PostgreSQL server process found")


def postgres_cpu() -> float:
    """CPU seconds of the whole local PostgreSQL server so far (every database's backends, and its own
    background processes): on a machine where only the benchmark uses it, the benchmark's database work."""
    return tree_cpu(postmaster_pid())
