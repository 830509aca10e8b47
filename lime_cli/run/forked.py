"""Local workers made by forking this process: ready in milliseconds, model and all.

A worker started the usual way (a new interpreter: imports, then the model
loaded from its file) takes 1-3 s before it explains anything, so on a short
run it never pays (200 table rows take about a second of work). A fork of
this process has the engine imported and the model loaded already.

Forking is safe only for what a copy of a process can go on using, so it is
chosen only when all of these hold (see :func:`forkable`):

- the system is Linux (macOS's system libraries are not fork-safe) and
  Python is 3.11 or later (earlier, the pool forked its workers one at a
  time, while its own threads ran);
- every model loaded in this process says it is ``fork_safe``: scikit-learn
  estimators that do not spread their work over cores themselves
  (``n_jobs``), before any scikit-learn model has predicted here. Not after,
  because OpenMP runtimes (GNU libgomp, used by HistGradientBoosting) start
  their thread pool at the first parallel loop, and a forked copy of a pool
  deadlocks at its next one (measured: a HistGradientBoosting fork hangs if
  its parent predicted first, runs if not). ONNX Runtime sessions start
  threads when they are made, and HTTP models and Python callables hold
  connections and state of their own: those use new interpreters
  (:func:`lime_cli.run.executor._start_workers`);
- none of the libraries that start thread pools when they load a model has
  been imported (:data:`THREADED_LIBRARIES`: XGBoost and LightGBM models run
  OpenMP loops while they are read, so their pickles count).

A forked worker ignores Ctrl-C (this process stops it), bounds its
numerical libraries' threads to its share of the cores, and is killed by the
kernel if this process dies (it would otherwise wait forever for work).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from lime_cli.run.settings import loaded_models

#: Top-level modules whose models start native thread pools as they load.
THREADED_LIBRARIES = ("xgboost", "lightgbm", "catboost", "onnxruntime", "torch", "tensorflow")


def forkable(task: Any) -> bool:
    """Whether ``task``'s workers may be forks of this process (see the module's notes)."""
    if not sys.platform.startswith("linux") or sys.version_info < (3, 11):
        return False
    try:
        model = task.model.load()
    except Exception:  # the task reports it, for each input
        return False
    if any(name in sys.modules for name in THREADED_LIBRARIES):
        return False
    models = [model, *loaded_models()]
    return all(getattr(each, "fork_safe", False) for each in models)


def start(task: Any, count: int, jobs: int) -> tuple[Any, list[Any]]:
    """``count`` forked workers and a future per worker that is done once it is ready.

    ``jobs`` is how many processes share the cores (this one included). Ctrl-C
    is blocked in this process while the workers are forked, so none of them
    can receive it before it ignores it; one pressed meanwhile stops the
    workers before it reaches the caller. Raises OSError when the system
    cannot fork (out of memory or processes).
    """
    import gc
    import signal

    from lime_cli.run.fork_pool import ForkPool

    threads = max(1, (os.cpu_count() or 1) // jobs)
    # Every object made so far (modules, the model, statistics) out of the cyclic
    # collector's sight: its passes write to each object's header, copying the
    # pages a fork shares with this process, in both (a 20,000-row run: 7.1 s
    # -> 6.8 s, 5% less CPU). They live as long as the process anyway.
    gc.freeze()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    pool = None
    try:
        try:
            pool = ForkPool(count, _begin, (os.getpid(), threads))
            ready = [pool.submit(_ready) for _ in range(count)]
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a pending Ctrl-C lands here
    except BaseException:
        if pool is not None:
            kill(pool)
        raise
    return pool, ready


def kill(pool: Any) -> None:
    """Stop a pool's workers at once, by their process ids (taking none of the pool's
    locks); forked or not (the executor stops its other pools with it too)."""
    import signal

    for pid in list(getattr(pool, "_processes", None) or {}):
        try:
            os.kill(pid, signal.SIGKILL)
        except (OSError, TypeError):  # already gone
            pass


def stop(pool: Any) -> None:
    """Let the workers end (they are idle once every batch is back)."""
    try:
        pool.shutdown(wait=True, cancel_futures=True)
    except Exception:  # a worker already gone
        pass


#: The parent's stream objects, kept referenced in a fork so that they are never
#: freed there (freeing flushes: the parent's buffered output would be written twice).
_inherited: tuple[Any, ...] = ()


def _begin(parent: int, threads: int) -> None:
    """In a new fork: ignore Ctrl-C, die with the parent, fresh stdio, no warnings
    (the parent reports what matters, as for other workers), thread limits."""
    import signal
    import warnings

    global _inherited
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with(parent)
    # The parent's other threads (a progress bar) may have held these streams'
    # locks at the fork; the copies would stay locked forever.
    _inherited = (sys.stdout, sys.stderr)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - lives as long as the worker
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    warnings.simplefilter("ignore")
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        pass


def _die_with(parent: int) -> None:
    """Ask the kernel to kill this process when its parent ends (Linux's PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux's C library
        return
    if os.getppid() != parent:  # the parent ended before the request was made
        os._exit(1)


def _ready() -> bool:
    """A worker's first task: returns as soon as the worker runs."""
    return True
