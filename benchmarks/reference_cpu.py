"""How every benchmark uses the CPU: an explicit torch thread count, and idle threads that sleep.

Import this module before torch. OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads it. With
``PASSIVE``, an idle thread sleeps instead of spinning. On this 2-core machine, shared with one other
process, spinning threads made a GAN step about 10x slower (558 ms against 42 ms at the CPU preset).
"""

from __future__ import annotations

import os
import sys

if "torch" in sys.modules:
    raise ImportError("import reference_cpu before torch: OpenMP reads OMP_WAIT_POLICY only when torch loads")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REFERENCE_THREADS = 2  # the course's reference machine: every CPU figure in benchmarks/results uses two


def use_threads(num_threads: int = REFERENCE_THREADS) -> int:
    """Set torch's thread count through ``genlearn.configure_threads`` and return it."""
    from genlearn.device import configure_threads

    return configure_threads(num_threads)
