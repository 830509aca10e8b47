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
    at once, as a killed worker would; with ``died`` (a path), one that gets
    this item or any later one, having created that file first. ``joined`` (a
    path): a worker creates that file, and from then on items are fast here
    too, so a long job waits as long as a worker may take to start on a
    loaded machine but ends soon after it has joined.
    """

    home: int
    seconds: float = 0.05
    die_on: int | None = None
    died: str | None = None
    joined: str | None = None

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
        if self.die_on is not None and os.getpid() != self.home:
            if (self.died is None and self.die_on in items) or (
                self.died is not None and max(items) >= self.die_on
            ):
                if self.died is not None:
                    open(self.died, "w").close()  # noqa: SIM115 - proof that a worker died
                os._exit(1)
        here = os.getpid() == self.home
        if self.joined is not None and not here:
            open(self.joined, "a").close()  # noqa: SIM115 - a worker has joined
        slow = here and not (self.joined is not None and os.path.exists(self.joined))
        time.sleep((self.seconds if slow else 0.001) * len(items))
        return [((item, os.getpid()), None) for item in items]


def outcomes(task: Toy, count: int, jobs: int) -> list[Any]:
    return [result for result, _ in executor.run(task, list(range(count)), jobs)]


@pytest.fixture(autouse=True)
def idle_machine(monkeypatch):
    """These tests are about the executor's choices, not this machine's load."""
    monkeypatch.setattr(executor, "_idle_cores", lambda: 2.0)


def test_workers_share_the_work_once_ready_and_order_is_kept(monkeypatch, tmp_path):
    monkeypatch.setattr(executor, "WORKER_START_SECONDS", 0.0)
    # Up to 100 s of work here before a worker joins (one took over 20 s to
    # start in a CI run once); a few seconds in all once one has.
    results = outcomes(Toy(os.getpid(), joined=str(tmp_path / "joined")), 2000, 2)
    assert [item for item, _ in results] == list(range(2000))
    pids = {pid for _, pid in results}
    assert os.getpid() in pids and len(pids) == 2  # this process and one worker


#: (since, until): the span of perf_counter time during which the fake CPU clock
#: of :func:`_busy_cores_clock` counts two cores busy.
_BUSY: list[float] = [0.0, 0.0]


def _busy_cores_clock() -> float:
    """A process CPU clock by which two cores are busy during ``_BUSY`` and none
    otherwise (the toy's own work is sleeping). Faked: threads that really spin
    (hashing, which releases the GIL) kept two cores busy in a quiet process, but
    only 1.2 of them while other tests ran, so the test would depend on the load."""
    since, until = _BUSY
    return 2.0 * max(0.0, min(time.perf_counter(), until) - since)


@pytest.fixture
def busy_cores(monkeypatch):
    """The process's CPU clock replaced by :func:`_busy_cores_clock`, no core busy yet."""
    monkeypatch.setattr(time, "process_time", _busy_cores_clock)
    _BUSY[:] = [0.0, 0.0]
    return _BUSY


@dataclass(frozen=True)
class Spun(Toy):
    """A toy during whose first batch other threads of this process keep two cores
    busy for ``spin`` seconds (from when that batch starts), by the CPU clock of
    :func:`_busy_cores_clock`, which the test puts in place of the process's."""

    spin: float = 0.1

    def explain_batch(self, items: Sequence[int]) -> list[Any]:
        if 0 in items and os.getpid() == self.home:
            now = time.perf_counter()
            _BUSY[:] = [now, now + self.spin]
        return super().explain_batch(items)


def test_threads_left_spinning_by_earlier_work_do_not_keep_workers_away(
    monkeypatch, tmp_path, busy_cores
):
    """A first batch of 50 ms during which other threads of this process keep both
    cores busy looks like a model that uses every core; a CI run once started no
    worker so (threads of earlier tests still spinning). Their 0.1 s of spinning
    must not decide it."""
    monkeypatch.setattr(executor, "WORKER_START_SECONDS", 0.0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    results = outcomes(Spun(os.getpid(), joined=str(tmp_path / "joined")), 2000, 2)
    assert [item for item, _ in results] == list(range(2000))
    assert len({pid for _, pid in results}) == 2


def test_a_model_that_keeps_every_core_busy_gets_no_workers(monkeypatch, busy_cores):
    """The other side of that judgement: the cores busy for as long as this process
    explains (a forest with n_jobs=-1) leave no core for a worker."""
    monkeypatch.setattr(executor, "WORKER_START_SECONDS", 0.0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    results = outcomes(Spun(os.getpid(), seconds=0.01, spin=3600.0), 100, 2)
    assert [item for item, _ in results] == list(range(100))
    assert {pid for _, pid in results} == {os.getpid()}


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


@dataclass(frozen=True)
class Batched(Toy):
    """A toy whose inputs share calls, as text documents do: up to 8 a batch with one
    job, one at a time when processes share them; it records each batch it gets."""

    log: str = os.devnull

    @property
    def batch_size(self) -> int:
        return 8

    @property
    def share_size(self) -> int:
        return 1

    def explain_batch(self, items: Sequence[int]) -> list[Any]:
        with open(self.log, "a", encoding="utf-8") as log:
            log.write(f"{len(items)}\n")
        return super().explain_batch(items)


def test_working_alone_the_batches_are_those_of_one_job(monkeypatch, tmp_path):
    """With no core left for a worker, --jobs 2 explains in batches as large as
    --jobs 1's, not in the small ones cut for sharing (documents would share
    fewer model calls)."""
    monkeypatch.setattr(executor, "_idle_cores", lambda: 0.2)
    log = tmp_path / "batches"
    results = outcomes(Batched(os.getpid(), seconds=0.0, log=str(log)), 20, 2)
    assert [item for item, _ in results] == list(range(20))
    # Cut for sharing: 2 items a batch (20 / (2 jobs x 8 batches each)). The first is
    # explained as cut (timed before workers would start); the rest are joined.
    assert [int(line) for line in log.read_text().split()] == [2, 8, 8, 2]
    solo = tmp_path / "solo"
    outcomes(Batched(os.getpid(), seconds=0.0, log=str(solo)), 20, 1)
    assert [int(line) for line in solo.read_text().split()] == [8, 8, 4]


def test_on_one_core_the_first_batch_decides_and_the_rest_are_joined(
    monkeypatch, tmp_path, busy_cores
):
    """With one core, no judging makes room for a worker: the batches after the
    first are joined as --jobs 1's (judging went on for 0.25 s of small batches)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    busy_cores[:] = [time.perf_counter(), float("inf")]
    log = tmp_path / "batches"
    results = outcomes(Batched(os.getpid(), seconds=0.0, log=str(log)), 20, 2)
    assert [item for item, _ in results] == list(range(20))
    assert [int(line) for line in log.read_text().split()] == [2, 8, 8, 2]


# -- workers forked from this process (scikit-learn models on Linux) -----------------


@pytest.fixture
def forking(monkeypatch):
    """Tasks count as forkable (the toy's model is not a real one); workers started
    the other way would fail the test."""
    from lime_cli.run import forked

    def not_this_way(*args: Any) -> None:
        raise AssertionError("workers were started as new processes, not forked")

    monkeypatch.setattr(forked, "forkable", lambda task: True)
    monkeypatch.setattr(executor, "_start_workers", not_this_way)


def test_forked_workers_share_the_work_from_the_first_batch(forking):
    results = outcomes(Toy(os.getpid()), 400, 2)
    assert [item for item, _ in results] == list(range(400))
    pids = {pid for _, pid in results}
    assert os.getpid() in pids and len(pids) == 2
    # A fork is ready at once: no first batch here alone, timed before workers start.
    assert results[0][1] != os.getpid() or results[20][1] != os.getpid()


def test_a_short_job_is_shared_with_forked_workers_too(forking, monkeypatch):
    monkeypatch.setattr(executor, "WORKER_START_SECONDS", 60.0)  # a new interpreter's
    results = outcomes(Toy(os.getpid(), seconds=0.01), 40, 2)
    assert [item for item, _ in results] == list(range(40))
    assert len({pid for _, pid in results}) == 2


def test_no_forked_workers_when_other_programs_keep_the_cores_busy(forking, monkeypatch):
    monkeypatch.setattr(executor, "_idle_cores", lambda: 0.2)
    results = outcomes(Toy(os.getpid(), seconds=0.001), 100, 2)
    assert {pid for _, pid in results} == {os.getpid()}


@pytest.mark.slow
def test_a_killed_forked_worker_has_its_batches_redone_here(forking, tmp_path):
    died = tmp_path / "died"
    results = outcomes(Toy(os.getpid(), die_on=300, died=str(died)), 400, 2)
    assert died.exists()  # a worker got a batch from item 300 on, and exited
    assert [item for item, _ in results] == list(range(400))
    assert {pid for _, pid in results[300:]} == {os.getpid()}


ORPHAN_SCRIPT = """
import os, sys
sys.path.insert(0, sys.argv[1])
from test_parallel import Toy
from lime_cli.run import executor, forked
forked.forkable = lambda task: True
executor._idle_cores = lambda: 2.0
for (item, pid), _ in executor.run(Toy(os.getpid(), seconds=0.02), range(100000), 2):
    if pid != os.getpid():
        print(pid, flush=True)
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux's /proc")
def test_forked_workers_end_when_their_parent_is_killed(tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    tests = str(Path(__file__).parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(tests).parent), tests])}
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT, tests], stdout=subprocess.PIPE, env=env
    )
    try:
        worker = int(parent.stdout.readline())  # a batch came back from a forked worker
        assert _running(worker)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
    deadline = time.monotonic() + 10
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _running(worker)
    if alive:
        os.kill(worker, signal.SIGKILL)  # do not leave it behind
    assert not alive


@dataclass(frozen=True)
class LargeBatched(Batched):
    """A toy whose inputs would share batches of 100,000 (table rows with few samples)."""

    @property
    def batch_size(self) -> int:
        return 100_000


def test_working_alone_on_a_stream_batches_stay_as_small_as_one_jobs(monkeypatch, tmp_path):
    """A stream (rows read a chunk at a time) is explained in batches of at most
    STREAM_BATCH with --jobs 1; working alone, --jobs 2 joins up to that, no further
    (a batch's explanations are held in memory, and lost on Ctrl-C)."""
    monkeypatch.setattr(executor, "_idle_cores", lambda: 0.2)
    for jobs, expected in ((2, [1, 512, 512, 512, 463]), (1, [512, 512, 512, 464])):
        log = tmp_path / f"batches{jobs}"
        task = LargeBatched(os.getpid(), seconds=0.0, log=str(log))
        results = [result for result, _ in executor.run(task, iter(range(2000)), jobs)]
        assert [item for item, _ in results] == list(range(2000))
        assert [int(line) for line in log.read_text().split()] == expected
