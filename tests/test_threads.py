"""The thread policy: OMP_NUM_THREADS wins; otherwise the allowed cores that are free now."""

import torch

from genlearn import threads
from genlearn.device import configure_threads


def test_omp_num_threads_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.default_thread_count() == 1


def _fake_stat(monkeypatch, before, after):
    readings = iter([before, after])
    monkeypatch.setattr(threads, "_idle_and_total", lambda cores: next(readings))
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: None)


def test_busy_cores_are_not_counted(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "allowed_cores", lambda: [0, 1])
    # core 0 busy the whole probe, core 1 idle: one free core
    _fake_stat(monkeypatch, ([0, 0], [0, 0]), ([0, 100], [100, 100]))
    assert threads.default_thread_count() == 1
    _fake_stat(monkeypatch, ([0, 0], [0, 0]), ([95, 100], [100, 100]))
    assert threads.default_thread_count() == 2
    # every core busy: still one thread
    _fake_stat(monkeypatch, ([0, 0], [0, 0]), ([0, 0], [100, 100]))
    assert threads.default_thread_count() == 1


def test_no_proc_stat_means_every_allowed_core(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "allowed_cores", lambda: [0, 1, 2])
    monkeypatch.setattr(threads, "_idle_and_total", lambda cores: None)
    assert threads.default_thread_count() == 3


def test_configure_threads_sets_torch(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert configure_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert configure_threads() == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_real_probe_reads_this_machine():
    cores = threads.allowed_cores()
    free = threads.free_cores(cores, probe_seconds=0.05)
    assert free is None or 0 <= free <= len(cores)
