"""ForkPool: forked workers whose results the caller reads (lime_cli.run.fork_pool)."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from lime_cli.run.fork_pool import ForkPool, WorkerLost

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="os.fork")


def nothing() -> None:
    """A worker's initializer."""


def echo(value: object) -> object:
    return value


def pid_and(value: int) -> tuple[int, int]:
    return os.getpid(), value * 2


def fail(message: str) -> None:
    raise ValueError(message)


def test_results_come_back_to_their_futures_from_every_worker():
    pool = ForkPool(2, nothing)
    try:
        futures = [pool.submit(pid_and, i) for i in range(40)]
        pool.wait(futures, 60)
        results = [f.result() for f in futures]
    finally:
        pool.shutdown()
    assert [value for _, value in results] == [2 * i for i in range(40)]
    assert {pid for pid, _ in results} == set(pool._processes)  # both workers took some


def test_batches_and_results_larger_than_a_pipe_do_not_block_each_other():
    """The caller never blocks on a send (a thread writes), so a worker writing a large
    result while a large batch waits for it cannot deadlock the two."""
    pool = ForkPool(1, nothing)
    big = os.urandom(8 * 1024 * 1024)
    try:
        futures = [pool.submit(echo, big) for _ in range(3)]
        pool.wait(futures, 60)
        assert all(f.done() and f.result() == big for f in futures)
    finally:
        pool.shutdown()


def big_result(size: int) -> bytes:
    return os.urandom(size)


def leave_mark(path: str) -> str:
    with open(path, "w") as file:
        file.write("ran")
    return path


def test_a_worker_goes_on_while_its_reply_waits_to_be_read(tmp_path):
    """A reply larger than the socket's buffer does not hold the worker still until
    the caller reads it: the next batch runs meanwhile."""
    import time

    mark = tmp_path / "second-batch-ran"
    pool = ForkPool(1, nothing)
    try:
        first = pool.submit(big_result, 8 * 1024 * 1024)
        second = pool.submit(leave_mark, str(mark))
        deadline = time.monotonic() + 60
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # the caller does not read (no poll) meanwhile
        assert mark.exists(), "the worker waited for its first reply to be read"
        pool.wait([first, second], 60)
        assert len(first.result()) == 8 * 1024 * 1024 and second.result() == str(mark)
    finally:
        for pid in pool._processes:  # a worker stuck writing would never end by itself
            os.kill(pid, signal.SIGKILL)
        pool.shutdown()


def test_a_failing_function_fails_its_future_only():
    pool = ForkPool(1, nothing)
    try:
        bad, good = pool.submit(fail, "no"), pool.submit(echo, 3)
        pool.wait([bad, good], 60)
        with pytest.raises(ValueError, match="no"):
            bad.result()
        assert good.result() == 3
    finally:
        pool.shutdown()


def nap(seconds: float) -> int:
    import time

    time.sleep(seconds)
    return os.getpid()


def test_a_killed_worker_fails_its_batches_and_the_others_go_on():
    pool = ForkPool(2, nothing)
    try:
        lost = pool.submit(nap, 60)  # the first worker: busy until killed
        other = pool.submit(pid_and, 3)  # the second
        first, second = pool._workers[0].pid, pool._workers[1].pid
        os.kill(first, signal.SIGKILL)
        pool.wait([lost, other], 60)
        with pytest.raises(WorkerLost):
            lost.result()
        assert other.result() == (second, 6)
        later = [pool.submit(pid_and, i) for i in range(3)]
        pool.wait(later, 60)
        assert {f.result()[0] for f in later} == {second}  # no more work for the dead
    finally:
        pool.shutdown()


def test_shutdown_reaps_the_workers():
    pool = ForkPool(2, nothing)
    ready = [pool.submit(echo, 1) for _ in range(2)]
    pool.wait(ready, 60)
    pool.shutdown(wait=True)
    for pid in pool._processes:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    with pytest.raises(WorkerLost):
        pool.submit(echo, 1)
