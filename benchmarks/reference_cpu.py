"""How every benchmark uses the CPU: the reference machine's two torch threads, set in one place.

OpenMP's wait policy is left at its default on purpose. Measured here on a quiet machine, at two threads,
``OMP_WAIT_POLICY=PASSIVE`` made a training step 45-90% slower (GPT 16 -> 25 ms, names GPT 14 -> 27 ms,
DCGAN 16 -> 23 ms, VAE 10 -> 14 ms), because idle threads sleep and must be woken for every small op.
It pays only when another process shares the cores, where spinning threads made a GAN step about 10x
slower. Benchmarks therefore run alone, under ``flock /tmp/genlearn-cpu.lock``, with the default policy.
"""

from __future__ import annotations

from genlearn.device import configure_threads

REFERENCE_THREADS = 2  # the course's reference machine: every CPU figure in benchmarks/results uses two


def use_threads(num_threads: int = REFERENCE_THREADS) -> int:
    """Set torch's thread count through ``genlearn.configure_threads`` and return it."""
    return configure_threads(num_threads)
