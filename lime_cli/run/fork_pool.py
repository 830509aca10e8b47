"""Forked workers whose results are read by the calling thread, between its own batches.

Why not ``concurrent.futures.ProcessPoolExecutor``: its manager thread reads
and unpickles every result, and its queue's feeder thread pickles every
batch, in this process, while this process's main thread explains batches of
its own. Their turns at the interpreter's lock slowed that thread by about a
sixth (measured on table rows with --jobs 2: 0.61 ms a row while a fork was
fed, 0.52 ms with the fork idle; with this pool 0.51-0.56 ms, and a
20,000-row run 0.45 s shorter). Here the caller pickles each batch and
one sender thread only writes the bytes (so a large batch never blocks the
caller while its worker is busy writing a result); results are read and
unpickled by the caller when it looks (:meth:`ForkPool.poll`). Each worker
likewise writes its replies from a thread, so it goes on explaining while a
reply waits for the caller to look (see :func:`_serve`).

Linux only (``os.fork``); :mod:`lime_cli.run.forked` decides when forking is safe.
"""

from __future__ import annotations

import os
import pickle
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from multiprocessing import connection
from typing import Any


class WorkerLost(RuntimeError):
    """The worker running a batch died (killed, out of memory): the batch is to be redone."""


class _Worker:
    def __init__(self, pid: int, conn: Any) -> None:
        self.pid = pid
        self.conn = conn
        self.pending: dict[int, Future[Any]] = {}
        self.alive = True


class ForkPool:
    """``count`` forks of this process, each running what :meth:`submit` sends it.

    ``initializer(*initargs)`` runs first in each fork. Futures complete only
    when the caller calls :meth:`poll` (or :meth:`wait`). ``_processes``
    holds the workers' process ids, for :func:`lime_cli.run.forked.kill`.
    """

    def __init__(
        self, count: int, initializer: Callable[..., Any], initargs: Sequence[Any] = ()
    ) -> None:
        self._workers: list[_Worker] = []
        self._processes: dict[int, None] = {}
        self._keys = 0
        for _ in range(count):
            self._fork(initializer, initargs)
        self._outbox: queue.SimpleQueue[tuple[Any, bytes] | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_all, name="fork-pool-sender")
        self._sender.daemon = True
        self._sender.start()

    def _fork(self, initializer: Callable[..., Any], initargs: Sequence[Any]) -> None:
        ours, theirs = connection.Pipe()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the caller's code
            code = 0
            try:
                ours.close()
                for other in self._workers:  # earlier workers' ends, inherited
                    other.conn.close()
                initializer(*initargs)
                _serve(theirs)
            except BaseException:  # noqa: BLE001 - nothing to report to: the parent sees EOF
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        self._workers.append(_Worker(pid, ours))
        self._processes[pid] = None

    def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        """Send ``function(*args)`` to the worker with the fewest batches under way."""
        alive = [w for w in self._workers if w.alive]
        if not alive:
            raise WorkerLost("every worker has died")
        worker = min(alive, key=lambda w: len(w.pending))
        self._keys += 1
        payload = pickle.dumps((self._keys, function, args), protocol=pickle.HIGHEST_PROTOCOL)
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        worker.pending[self._keys] = future
        self._outbox.put((worker.conn, payload))
        return future

    def _send_all(self) -> None:
        """The sender thread: writes batches in order; a dead worker's are dropped
        (its loss is seen by :meth:`poll`, which fails its futures)."""
        while True:
            item = self._outbox.get()
            if item is None:
                return
            conn, payload = item
            try:
                conn.send_bytes(payload)
            except (OSError, ValueError):  # the worker has gone, or its pipe was closed
                pass

    def poll(self, timeout: float | None = 0.0) -> None:
        """Complete the futures whose results have arrived, waiting up to ``timeout``
        seconds (None: until one arrives) when none has yet."""
        waiting = {w.conn: w for w in self._workers if w.alive and w.pending}
        if not waiting:
            return
        for conn in connection.wait(list(waiting), timeout):
            worker = waiting[conn]
            while worker.alive and worker.pending:
                try:
                    key, ok, value = pickle.loads(conn.recv_bytes())  # type: ignore[union-attr]
                except (EOFError, OSError):  # the worker died
                    self._lost(worker)
                    break
                future = worker.pending.pop(key)
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
                if not conn.poll(0):  # type: ignore[union-attr]
                    break

    def wait(self, futures: Sequence[Future[Any]], timeout: float) -> None:
        """Poll until ``futures`` are done or ``timeout`` seconds have passed."""
        import time

        end = time.monotonic() + timeout
        while not all(f.done() for f in futures):
            left = end - time.monotonic()
            if left <= 0:
                return
            self.poll(left)

    def _lost(self, worker: _Worker) -> None:
        worker.alive = False
        for future in worker.pending.values():
            future.set_exception(WorkerLost(f"worker {worker.pid} died"))
        worker.pending.clear()
        worker.conn.close()
        try:
            os.waitpid(worker.pid, os.WNOHANG)
        except OSError:
            pass

    def shutdown(self, wait: bool = True, **_: Any) -> None:
        """Ask the workers to end (they finish the batch under way); with ``wait``,
        reap them. Futures not yet done stay so."""
        for worker in self._workers:
            if worker.alive:
                self._outbox.put((worker.conn, pickle.dumps(None)))
        self._outbox.put(None)
        if wait:
            self._sender.join(timeout=5)
        for worker in self._workers:
            if wait and worker.alive:
                try:
                    os.waitpid(worker.pid, 0)
                except OSError:
                    pass
            worker.alive = False
            worker.conn.close()


def _serve(conn: Any) -> None:
    """A worker's loop: run each message's function, send back (key, ok, value).

    Replies are written by a thread of their own, so this loop goes on with the
    next batch while a reply waits to be read. The caller reads only between
    its own batches, and a reply larger than the socket's buffer (a batch of
    128 table rows as JSON Lines is about 240 KB; Linux buffers 208 KB by
    default) used to hold this worker still until then: 0.7 s of a 20,000-row
    run's 5.6 s with --jobs 2.
    """
    replies: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    sender = threading.Thread(target=_send_replies, args=(conn, replies), name="reply-sender")
    sender.daemon = True
    sender.start()
    try:
        while True:
            try:
                message = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):  # the parent has gone
                return
            if message is None:
                return
            key, function, args = message
            try:
                reply = (key, True, function(*args))
            except Exception as exc:  # the parent decides what a failed batch means
                reply = (key, False, exc)
            try:
                payload = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # a result or an error that cannot be pickled
                payload = pickle.dumps((key, False, RuntimeError(f"{type(exc).__name__}: {exc}")))
            replies.put(payload)
    finally:
        replies.put(None)
        sender.join()


def _send_replies(conn: Any, replies: queue.SimpleQueue[bytes | None]) -> None:
    """A worker's reply thread: writes each reply in order until told to stop
    (or the parent has gone)."""
    while True:
        payload = replies.get()
        if payload is None:
            return
        try:
            conn.send_bytes(payload)
        except (OSError, ValueError):  # the parent has gone: nothing to send to
            return
