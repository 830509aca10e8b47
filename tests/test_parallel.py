"""--jobs: this process works while workers start, workers join when ready, results in order.

The executor is driven with a toy task whose outcomes name the process
that made them, so the tests see who did what; the CLI's byte-for-byte
equality across --jobs is in test_many_inputs.py and test_tabular_cli.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from lime_cli.run import executor


@dataclass(frozen=True)
class Toy:
    """Explains an int as (item, pid); slow here (``seconds`` per item), fast in workers,
    so a worker that starts gets work whatever the machine's load.

    ``die_on``: a worker (not the parent ``home``) that gets this item exits
    at once, as a killed worker would.
    """

    home: int
    seconds: float = 0.05
    die_on: int | None = None

    @property
    def model(self) -> Any:
        from lime_cli.run.settings import ModelSpec

        return ModelSpec(os.devnull)

    @property
    def batch_size(self) -> int:
        return 1

    def with_model(self, model: Any) -> Toy:
        return self

    def explain_batch(self, items: Sequence[int]) -> list[Any]:
        if self.die_on in items and os.getpid() != self.home:
            os._exit(1)
        here = os.getpid() == self.home
        time.sleep((self.seconds if here else 0.001) * len(items))
        return [((item, os.getpid()), None) for item in items]


def outcomes(task: Toy, count: int, jobs: int) -> list[Any]:
    return [result for result, _ in executor.run(task, list(range(count)), jobs)]


@pytest.fixture(autouse=True)
def idle_machine(monkeypatch):
    """These tests are about the executor's choices, not this machine's load."""
    monkeypatch.setattr(executor, "_idle_cores", lambda: 2.0)


def test_workers_share_the_work_once_ready_and_order_is_kept(monkeypatch):
    monkeypatch.setattr(executor, "WORKER_START_SECONDS", 0.0)
    results = outcomes(Toy(os.getpid()), 400, 2)
    assert [item for item, _ in results] == list(range(400))
    pids = {pid for _, pid in results}
    assert os.getpid() in pids and len(pids) == 2  # this process and one worker


def test_a_short_job_starts_no_workers(monkeypatch):
    monkeypatch.setattr(executor, "WORKER_START_SECONDS", 60.0)
    results = outcomes(Toy(os.getpid(), seconds=0.001), 40, 4)
    assert [item for item, _ in results] == list(range(40))
    assert {pid for _, pid in results} == {os.getpid()}


@pytest.mark.slow
def test_a_killed_worker_has_its_batch_redone_here(monkeypatch):
    monkeypatch.setattr(executor, "WORKER_START_SECONDS", 0.0)
    results = outcomes(Toy(os.getpid(), die_on=300), 400, 2)
    assert [item for item, _ in results] == list(range(400))
    assert results[300][1] == os.getpid()


def test_no_workers_when_no_core_is_left_for_them(monkeypatch):
    monkeypatch.setattr(executor, "WORKER_START_SECONDS", 0.0)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # this process has the only core
    results = outcomes(Toy(os.getpid(), seconds=0.001), 100, 2)
    assert [item for item, _ in results] == list(range(100))
    assert {pid for _, pid in results} == {os.getpid()}


def test_no_workers_when_other_programs_keep_the_cores_busy(monkeypatch):
    monkeypatch.setattr(executor, "WORKER_START_SECONDS", 0.0)
    monkeypatch.setattr(executor, "_idle_cores", lambda: 0.2)
    results = outcomes(Toy(os.getpid(), seconds=0.001), 100, 2)
    assert {pid for _, pid in results} == {os.getpid()}
