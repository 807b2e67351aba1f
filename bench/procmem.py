"""Memory of a running process (and its descendants) from Linux's /proc: VmRSS, VmHWM
(the RSS high-water mark), threads from `status`; PSS and USS (private pages) from
`smaps_rollup`. Figures in "MB" meaning MiB (1024² bytes), as `ps` and `top` count."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil

MIB = 1024 * 1024


@dataclass(frozen=True)
class Memory:
    rss_mb: float
    hwm_mb: float
    pss_mb: float
    uss_mb: float
    threads: int
    processes: int  # the process and its descendants (e.g. uvicorn workers)


def _kb_fields(path: Path) -> dict[str, int]:
    fields: dict[str, int] = {}
    for line in path.read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) >= 1 and parts[0].isdigit():
            fields[key.strip()] = int(parts[0])
    return fields


def _one(pid: int) -> tuple[int, int, int, int, int]:
    """(rss, hwm, pss, uss) in kB and the thread count of one process."""
    status = _kb_fields(Path(f"/proc/{pid}/status"))
    rollup = _kb_fields(Path(f"/proc/{pid}/smaps_rollup"))
    uss = rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)
    return status["VmRSS"], status["VmHWM"], rollup.get("Pss", 0), uss, status.get("Threads", 0)


def read(pid: int) -> Memory:
    """The process `pid` plus its descendants: sums, except the high-water mark (the
    largest: peaks of different processes need not coincide)."""
    pids = [pid]
    try:
        pids += [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        pass
    rss = hwm = pss = uss = threads = counted = 0
    for one in pids:
        try:
            r, h, p, u, t = _one(one)
        except (OSError, KeyError):  # gone meanwhile
            continue
        rss, pss, uss, threads, hwm = rss + r, pss + p, uss + u, threads + t, max(hwm, h)
        counted += 1
    return Memory(
        round(rss / 1024, 1),
        round(hwm / 1024, 1),
        round(pss / 1024, 1),
        round(uss / 1024, 1),
        threads,
        counted,
    )
