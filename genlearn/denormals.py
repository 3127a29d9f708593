"""Denormal (subnormal) floats flushed to zero, for the whole process, as soon as genlearn's device module loads.

Numbers below float32's smallest normal (about 1.2e-38) take a slow path on x86 CPUs, often 10-100x slower
per operation. Training produces them as it goes: Adam's second moments of gradients that have faded, the
weights of dead units. With them kept, the VAE's cpu preset slows down over its first few thousand steps, and
with them flushed it holds its speed (``benchmarks/denormals.py``, ``benchmarks/results/denormals.json``).
Flushing changes only values that small, which are zero for any purpose of the course's models.

The setting is per thread, and torch's worker threads take it from the main thread when torch creates them (at
its first ``set_num_threads`` or parallel operation); set later, it never reaches them. Hence it is set when
the module that picks devices is imported, which every model, the command line and the notebooks import before
they compute anything.
"""

from __future__ import annotations

import torch


def flush_denormals() -> bool:
    """Flush denormals to zero in this thread and in the threads created after this call; False where the CPU
    cannot (only x86 with SSE3 can)."""
    return torch.set_flush_denormal(True)
