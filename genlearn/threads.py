"""How many CPU threads torch should use: the cores this process may run on that are free right now.

With more threads than free cores, OpenMP threads spin-wait for cores they cannot get, and a step
slows down 6-50x beside another busy process. So the default counts the cores in this process's
affinity mask (a container or a JupyterHub limit may allow fewer than ``os.cpu_count()``) and then
the share of them that was idle over a short probe of ``/proc/stat``. ``OMP_NUM_THREADS``, when set,
wins, so an administrator or a student can always choose.
"""

from __future__ import annotations

import os
import time

PROBE_SECONDS = 0.2
# A core counts as free when it was idle at least this share of the probe.
FREE_SHARE = 0.5


def allowed_cores() -> list[int]:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _idle_and_total(cores: list[int]) -> tuple[list[int], list[int]] | None:
    try:
        with open("/proc/stat") as stat:
            lines = stat.read().splitlines()
    except OSError:
        return None
    fields = {line.split()[0]: [int(v) for v in line.split()[1:]] for line in lines if line.startswith("cpu")}
    rows = [fields.get(f"cpu{core}") for core in cores]
    if any(row is None for row in rows):
        return None
    # idle + iowait count as idle; every field counts toward the total.
    return [row[3] + row[4] for row in rows], [sum(row) for row in rows]


def free_cores(cores: list[int], probe_seconds: float = PROBE_SECONDS) -> int | None:
    """How many of ``cores`` were mostly idle over the probe, or None where the kernel does not say."""
    before = _idle_and_total(cores)
    if before is None:
        return None
    time.sleep(probe_seconds)
    after = _idle_and_total(cores)
    if after is None:
        return None
    free = 0.0
    for idle0, total0, idle1, total1 in zip(*before, *after):
        elapsed = total1 - total0
        free += (idle1 - idle0) / elapsed if elapsed > 0 else 1.0
    # Round with the threshold: two half-idle cores still make one free core.
    return int(free + (1 - FREE_SHARE))


def default_thread_count() -> int:
    """``$OMP_NUM_THREADS`` if set, else the allowed cores that are free now (at least one)."""
    requested = os.environ.get("OMP_NUM_THREADS", "").strip()
    if requested.isdigit() and int(requested) > 0:
        return int(requested)
    cores = allowed_cores()
    free = free_cores(cores)
    return max(1, min(len(cores), free if free is not None else len(cores)))
