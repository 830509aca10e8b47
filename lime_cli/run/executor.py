"""The one executor: every command explains its inputs here, in batches, in order.

A modality provides a :class:`Task`: a picklable object that explains a
batch of its inputs and returns one :data:`Outcome` per input. The executor
cuts the inputs into batches and runs them in this process (``jobs=1``), in
this process and local workers (forks of this process where that is safe,
see :mod:`lime_cli.run.forked`, new ``loky`` processes otherwise), on a Dask
cluster, or through any backend registered with joblib: the backend is a
setting, not a code path.

Results do not depend on the batching or the backend: each task derives an
input's random stream from the seed and the input's identity alone
(:func:`lime_cli.run.settings.rng_for`), and outcomes are yielded in input
order as soon as each batch (and every batch before it) is done.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from lime_cli.errors import LimeCliError
from lime_cli.explanation import Explanation
from lime_cli.run.settings import ModelSpec, rng_for

if TYPE_CHECKING:  # the engine imports NumPy; --help must not
    import numpy as np
    from typing_extensions import Self

    from lime_cli.engine import LabelRequest, LimeParams

#: One input's result: its explanation, or the error that stopped it.
Outcome = tuple[Explanation | None, BaseException | None]

#: Batches per worker when inputs are spread over workers (evens out the load
#: when some inputs take longer than others).
BATCHES_PER_WORKER = 8


class Task(Protocol):
    """Explains inputs of one modality; picklable, so worker processes can run it.

    ``model`` is the spec of the model it loads (once per process);
    ``with_model`` gives the same task for another model (``compare``).
    ``batch_size`` is how many inputs one call should get: 1 when each input
    is explained on its own, more when a batch shares model calls (tabular
    rows' samples are predicted together).
    """

    @property
    def model(self) -> ModelSpec: ...

    @property
    def batch_size(self) -> int: ...

    def with_model(self, model: ModelSpec) -> Self: ...

    def explain_batch(self, items: Sequence[Any]) -> list[Outcome]:
        """One outcome per item, in order; an item's failure must not stop the others."""
        ...


@dataclass(frozen=True)
class TaskBase:
    """What every task shares: the model to load, the labels to explain, the LIME settings.

    Modalities subclass it as frozen dataclasses with their own fields after these.
    """

    model: ModelSpec
    labels: LabelRequest
    params: LimeParams

    def with_model(self, model: ModelSpec) -> Self:
        """The same task for another model (``compare``'s model B)."""
        import dataclasses

        return dataclasses.replace(self, model=model)

    @property
    def seed(self) -> int:
        """The run's seed (a task is made with it resolved: see settings_from)."""
        if self.params.seed is None:
            raise ValueError("a task needs a resolved seed (settings_from resolves it)")
        return self.params.seed

    def rng(self, identity: bytes | int) -> np.random.Generator:
        """The input's own random stream: from the seed and the input's identity alone
        (see :func:`lime_cli.run.settings.rng_for`)."""
        return rng_for(self.seed, identity)


@dataclass(frozen=True)
class PerItemTask(TaskBase):
    """A task whose inputs are explained one at a time by :meth:`explain_one`."""

    @property
    def batch_size(self) -> int:
        return 1

    def explain_one(self, item: Any) -> Explanation:
        raise NotImplementedError

    def explain_batch(self, items: Sequence[Any]) -> list[Outcome]:
        return [attempt(self.explain_one, item) for item in items]


def attempt(function: Any, item: Any) -> Outcome:
    """Run one input, returning its error instead of raising it (so the others go on)."""
    try:
        return function(item), None
    except (LimeCliError, Exception) as exc:
        return None, exc


def batches(
    items: Sequence[Any], batch_size: int, jobs: int, per_job: int = 1
) -> list[Sequence[Any]]:
    """Consecutive slices of ``items``: ``batch_size`` long, shorter when workers share
    them (:data:`BATCHES_PER_WORKER` each), but not below ``per_job`` (a task's
    ``share_size``: smaller batches cost more than they even out)."""
    size = max(1, batch_size)
    if jobs > 1:
        even = math.ceil(len(items) / (jobs * BATCHES_PER_WORKER))
        size = max(1, min(size, max(per_job, even)))
    return [items[i : i + size] for i in range(0, len(items), size)]


#: Largest batch of a stream when workers share it: small enough to even out
#: the load of a short run (200 table rows in 64-row batches left a fork 128
#: of them; in 16-row batches it ends with this process).
STREAM_BATCH_PER_JOB = 16
#: Batches a run needs before forks are started: a fork costs about a tenth of
#: a second (both processes copy the pages they touch), which 200 table rows
#: on shared draws (two batches, 0.1 s of work) do not repay; batches are sized
#: (a task's ``share_size``) at roughly 0.05-0.1 s of work each.
FORK_MIN_BATCHES = 9
#: How long to wait for forks to say they are ready before the first batch.
FORK_READY_SECONDS = 0.5
#: Largest batch of a stream in one process: a batch's explanations are all in
#: memory at once, and with few samples per input a model call holds many inputs.
STREAM_BATCH = 512


def share_size(task: Any) -> int:
    """Inputs per batch when processes share the work: the task's ``share_size``
    (about a tenth of a second of its work), else :data:`STREAM_BATCH_PER_JOB`."""
    return int(getattr(task, "share_size", STREAM_BATCH_PER_JOB))


def stream_share_size(task: Any) -> int:
    """Inputs per batch of a stream when processes share it: the task's
    ``stream_share_size``, else its :func:`share_size`. A stream is long (text
    lines beyond the first megabyte), so there is no short run to even out:
    text documents share model calls as with one job."""
    return int(getattr(task, "stream_share_size", share_size(task)))


def stream_batches(
    items: Iterable[Any],
    batch_size: int,
    jobs: int,
    per_job: int = STREAM_BATCH_PER_JOB,
    per_job_streamed: int | None = None,
) -> Iterator[Sequence[Any]]:
    """Batches of any iterable: slices of a sequence (see :func:`batches`), or, for a
    stream of unknown length (rows read a chunk at a time), lists of ``batch_size``
    taken as they come, so only the batches under way are in memory: at most
    :data:`STREAM_BATCH`, and ``per_job_streamed`` (default ``per_job``) when
    several processes share them (a task's :func:`stream_share_size` and
    :func:`share_size`)."""
    if isinstance(items, Sequence):
        yield from batches(items, batch_size, jobs, per_job)
        return
    size = min(batch_size, STREAM_BATCH)
    if jobs > 1:
        size = min(size, per_job if per_job_streamed is None else per_job_streamed)
    size = max(1, size)
    iterator = iter(items)
    while True:
        group: list[Any] = []
        try:
            for item in itertools.islice(iterator, size):
                group.append(item)
        except Exception:
            if group:  # read before the stream failed: explained first
                yield group
            raise
        if not group:
            return
        yield group


class BatchesUntilFailure:
    """Batches of an input stream that may fail part way (a CSV's malformed line,
    a file's undecodable byte), as an iterator that ends where the stream failed.

    The error is held, not raised there: a backend explains (and its caller
    writes) every batch read before it, then :meth:`raise_held` raises it. Raised
    at once, it used to stop the run with batches read but not yet explained
    (with workers, those handed out too), which no output then had.
    """

    def __init__(self, groups: Iterator[Sequence[Any]]) -> None:
        self._groups = groups
        self.error: Exception | None = None

    def __iter__(self) -> BatchesUntilFailure:
        return self

    def __next__(self) -> Sequence[Any]:
        if self.error is not None:
            raise StopIteration
        try:
            return next(self._groups)
        except StopIteration:
            raise
        except Exception as exc:  # not Ctrl-C: that stops at once
            self.error = exc
            raise StopIteration from None

    def raise_held(self) -> None:
        """Raise the stream's error, if it failed: an input error as an
        :class:`~lime_cli.errors.UnreadInputError` (the inputs after it were
        never read, so the run is not finished by it)."""
        from lime_cli.errors import InputError, OutputError, UnreadInputError

        error = self.error
        if isinstance(error, InputError) and not isinstance(error, (UnreadInputError, OutputError)):
            raise UnreadInputError(error.message) from None
        if error is not None:
            raise error


def run(
    task: Task, items: Iterable[Any], jobs: int = 1, backend: str | None = None
) -> Iterator[Outcome]:
    """Every item's outcome, in order, as soon as it is known (see :func:`run_pairs`)."""
    for _, outcome in run_pairs(task, items, jobs, backend):
        yield outcome


def run_pairs(
    task: Task,
    items: Iterable[Any],
    jobs: int = 1,
    backend: str | None = None,
    *,
    verbose: bool = False,
) -> Iterator[tuple[Any, Outcome]]:
    """Every item with its outcome, in order, as soon as it is known.

    ``items`` may be a stream (a generator reading a large file a chunk at a
    time): it is read as batches are handed out, never whole. ``jobs``
    processes share the batches when there is more than one batch: this one
    and ``jobs - 1`` local workers (see :func:`_shared`). ``backend``
    ``"dask:ADDRESS"`` sends the batches to a Dask cluster (see
    :mod:`lime_cli.run.dask_backend`); another name is a joblib backend
    (``"threading"``, say) that gets every batch instead. ``verbose``
    (``--debug``) lets Dask's own log messages through.
    """
    if backend is not None and backend.startswith("dask:"):
        from lime_cli.run import dask_backend

        yield from dask_backend.run(task, items, backend.removeprefix("dask:"), verbose=verbose)
        return
    groups = BatchesUntilFailure(
        stream_batches(items, task.batch_size, jobs, share_size(task), stream_share_size(task))
    )
    if jobs <= 1:
        for group in groups:
            yield from zip(group, _explain_batch(task, group))
    elif backend is None or backend == "local":
        yield from _shared(task, _Groups(groups), jobs)
    else:
        from joblib import Parallel, delayed, parallel_config

        listed = list(groups)
        with parallel_config(backend=backend):
            results = Parallel(n_jobs=jobs, return_as="generator")(
                delayed(_explain_batch)(task, group) for group in listed
            )
            for group, outcomes in zip(listed, results):
                yield from zip(group, outcomes)
    groups.raise_held()


#: The backend of runs that name none (``--scheduler`` sets it for the command).
_default_backend: str | None = None


def default_backend() -> str | None:
    """The backend ``--scheduler`` chose for this command (None: local workers)."""
    return _default_backend


def set_default_backend(backend: str | None) -> None:
    global _default_backend
    _default_backend = backend


class _Groups:
    """Batches pulled from an iterator as they are needed, let go once shown."""

    def __init__(self, source: Iterator[Sequence[Any]]) -> None:
        self._source = source
        self._held: dict[int, Sequence[Any]] = {}
        self.pulled = 0
        self.exhausted = False

    def has(self, index: int) -> bool:
        """Whether batch ``index`` exists (reading up to it)."""
        while not self.exhausted and self.pulled <= index:
            group = next(self._source, None)
            if group is None:
                self.exhausted = True
                break
            self._held[self.pulled] = group
            self.pulled += 1
        return index < self.pulled

    def __getitem__(self, index: int) -> Sequence[Any]:
        return self._held[index]

    def release(self, index: int) -> None:
        self._held.pop(index, None)


#: Batches handed to each ready worker ahead of time (so it never waits for the next).
AHEAD_PER_WORKER = 2

#: About how long a local worker takes to start, import the engine and load a
#: model (measured: 1-3 s for scikit-learn pipelines on a laptop). Workers are
#: started only when the work left outweighs twice this.
WORKER_START_SECONDS = 1.5

#: How long this process explains alone, at most, to judge how many cores the model
#: keeps busy, when its first batch leaves no core for a worker. A short batch is no proof:
#: threads that earlier work left spinning (BLAS and ONNX Runtime pools wait for
#: their next task so, for tens of milliseconds) count as the model's there. A
#: 50 ms batch run just after another test in one process measured two cores busy
#: while it slept, and no worker was started.
JUDGE_SECONDS = 0.25

#: How many batches ahead this process reads to judge whether workers would pay
#: (per job; a stream longer than that is taken to be long).
LOOKAHEAD_PER_JOB = 64


def _shared(task: Task, groups: _Groups, jobs: int) -> Iterator[tuple[Any, Outcome]]:
    """This process and ``jobs - 1`` worker processes explain the batches; in order.

    Why not a plain pool: a worker is of use only once it has started and
    loaded the model. Where this process can be forked (a scikit-learn model
    not yet called here, on Linux: see :mod:`lime_cli.run.forked`), workers
    are forks, ready in milliseconds, and share the work from the first batch.
    Otherwise a worker is a new interpreter that imports and loads the model
    (seconds for a large pipeline): this process explains the first batch (or
    the first :data:`JUDGE_SECONDS` of them) and times it, and workers are
    started only if the work left outweighs their start-up and a core is left
    for them (a model that keeps every core busy by itself gains nothing from
    more processes). Either way no worker is started on a machine busy with
    other programs, this process goes on explaining batches, and each worker
    gets batches only once it says it is ready, so ``--jobs N`` is not meant to
    be slower than ``--jobs 1``. A batch whose worker dies is explained here
    again (inputs' seeds make it come out the same). Workers ignore Ctrl-C:
    this process stops them (no tracebacks from half-started workers).
    """
    import os
    import time

    from lime_cli.run import forked

    if not groups.has(0):
        return
    if (
        groups.has(FORK_MIN_BATCHES - 1)
        and _idle_cores() >= IDLE_CORE_NEEDED
        and forked.forkable(task)
    ):
        try:
            pool, warmups = forked.start(task, jobs - 1, jobs)
        except OSError:  # no fork to be had (memory, process limits): the usual way
            pass
        else:
            # Forks are ready in milliseconds: wait for them, so the first batches go
            # to them at once instead of after this process's first batch.
            try:
                pool.wait(warmups, FORK_READY_SECONDS)
            except BaseException:  # Ctrl-C meanwhile
                forked.kill(pool)
                raise
            yield from _with_workers(task, groups, jobs, pool, warmups, start=0)
            forked.stop(pool)
            return
    # Cores the model keeps busy on its own (a forest with n_jobs=-1 uses them all):
    # workers would only compete with it for the same cores. Judged from the first
    # batch, or from the first JUDGE_SECONDS of batches when the first leaves no
    # core for a worker: threads that earlier work left spinning count in a short
    # batch. Not where a core each is more than the machine has: no judging helps.
    room_possible = (os.cpu_count() or 1) >= min(jobs, 2)
    wall = cpu = 0.0
    judged = 0  # batches explained here while judging
    while True:
        started, cpu_started = time.perf_counter(), time.process_time()
        outcomes = _explain_batch(task, groups[judged])
        wall += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
        yield from zip(groups[judged], outcomes)
        groups.release(judged)
        judged += 1
        cores_used = max(1, round(cpu / max(wall, 1e-6)))
        no_core_left = cores_used * min(jobs, 2) > (os.cpu_count() or 1)
        judging = no_core_left and room_possible and wall < JUDGE_SECONDS
        if not judging or not groups.has(judged):
            break
    per_batch = max(wall / judged, 1e-6)
    worth_it = min(math.ceil(WORKER_START_SECONDS * 2 / per_batch), LOOKAHEAD_PER_JOB * jobs)
    needed = judged - 1 + worth_it  # the last batch that must exist for workers to pay
    if no_core_left or _idle_cores() < IDLE_CORE_NEEDED or not groups.has(needed):
        # No core left for a worker (the model uses them, or other programs do),
        # or less work left than two workers' start-up: done sooner here alone.
        yield from _alone(task, groups, start=judged)
        return
    pool, warmups = _start_workers(task, jobs - 1)
    yield from _with_workers(task, groups, jobs, pool, warmups, start=judged)
    if not any(w.done() for w in warmups):
        _stop_workers(pool)  # never used: do not wait for them at exit


def _with_workers(
    task: Task, groups: _Groups, jobs: int, pool: Any, warmups: list[Any], start: int
) -> Iterator[tuple[Any, Outcome]]:
    """Batches from ``start`` on, explained here and by the pool's workers once ready; in order.

    ``warmups`` are futures done once each worker is ready. A worker gets
    :data:`AHEAD_PER_WORKER` batches ahead; this process takes the next batch
    whenever the one to show next is not back yet.
    """
    from concurrent.futures import FIRST_COMPLETED, Future, wait

    waiting: dict[int, Future[Any]] = {}  # batch index -> worker's result
    here: dict[int, list[Outcome]] = {}  # batches explained in this process
    broken = False
    given = start  # batches handed out so far (to a worker or to this process)
    shown = start  # batches yielded so far
    # A ForkPool's results are read here, when this loop looks (no threads of its own).
    poll = getattr(pool, "poll", None)
    try:
        with _thread_share(jobs):
            while groups.has(shown):
                if poll is not None:
                    poll(0)
                if not broken:
                    ready = sum(1 for w in warmups if w.done())
                    busy = sum(1 for f in waiting.values() if not f.done())
                    while groups.has(given) and busy < ready * AHEAD_PER_WORKER:
                        try:
                            waiting[given] = pool.submit(_explain_batch, task, groups[given])
                        except Exception:  # a worker died: the pool takes no more
                            broken = True
                            break
                        given += 1
                        busy += 1
                while shown in here or (shown in waiting and waiting[shown].done()):
                    if shown in here:
                        outcomes = here.pop(shown)
                    else:
                        result = _result(waiting.pop(shown))
                        if result is None:  # its worker died: explain it here
                            broken = True
                            result = _explain_batch(task, groups[shown])
                        outcomes = result
                    yield from zip(groups[shown], outcomes)
                    groups.release(shown)
                    shown += 1
                if not groups.has(shown):
                    break
                if groups.has(given):
                    here[given] = _explain_batch(task, groups[given])
                    given += 1
                elif poll is not None:
                    poll(None)  # until a result arrives
                else:
                    pending = [waiting[shown]] if shown in waiting else []
                    wait(pending, return_when=FIRST_COMPLETED)
    except BaseException:
        _kill_workers(pool)
        raise


#: Idle cores (by the load average) needed to start workers: on a machine whose
#: cores are all busy, more processes only share the same time slices.
IDLE_CORE_NEEDED = 0.5


def _alone(task: Task, groups: _Groups, start: int) -> Iterator[tuple[Any, Outcome]]:
    """The batches from ``start`` on, explained in this process, as ``--jobs 1`` would:
    consecutive batches (cut small for sharing) are joined up to the task's
    ``batch_size``, at most :data:`STREAM_BATCH` (``--jobs 1``'s limit for a
    stream: a batch's explanations are held in memory, and lost on Ctrl-C),
    so inputs that share model calls (text documents, table rows) share them
    as they would with one job."""
    limit = max(1, min(task.batch_size, STREAM_BATCH))
    index = start
    while groups.has(index):
        joined = list(groups[index])
        groups.release(index)
        index += 1
        while groups.has(index) and len(joined) + len(groups[index]) <= limit:
            joined.extend(groups[index])
            groups.release(index)
            index += 1
        yield from zip(joined, _explain_batch(task, joined))


def _idle_cores() -> float:
    """Cores not busy over the last minute, this process's own work left out."""
    import os

    try:
        load = os.getloadavg()[0]
    except OSError:  # not known here
        return float(os.cpu_count() or 1)
    return (os.cpu_count() or 1) - max(0.0, load - 1.0)


def _result(future: Any) -> list[Outcome] | None:
    """A worker's outcomes, or None when the worker died (its batch is to be redone)."""
    try:
        outcomes: list[Outcome] = future.result()
        return outcomes
    except Exception:  # a killed worker (TerminatedWorkerError, BrokenProcessPool)
        return None


def _warm(model: ModelSpec) -> bool:
    """In a worker: import the engine and load the model, so it is ready for batches."""
    from lime_cli import lean_imports

    lean_imports.install()  # a fresh interpreter: as quick to start as the command's own
    import lime_cli.engine  # noqa: F401

    try:
        model.load()
    except Exception:  # the batch will report it, for each of its inputs
        return False
    return True


def _start_workers(task: Task, count: int) -> tuple[Any, list[Any]]:
    """``count`` reusable loky workers, each warming up; Ctrl-C blocked in them.

    A signal blocked at exec stays blocked in the new interpreter, so a
    Ctrl-C at the terminal (sent to every process of the group) while workers
    are still importing does not make each print a traceback; this process
    stops them instead (see :func:`_launch_blocking_ctrl_c`).
    """
    import os

    from joblib.externals.loky import ProcessPoolExecutor

    _launch_blocking_ctrl_c()
    threads = str(max(1, (os.cpu_count() or 1) // (count + 1)))
    env = {name: threads for name in _THREAD_VARIABLES}
    # loky's resource tracker (started with the first workers) warns about
    # the locks of workers stopped by Ctrl-C; that is expected, not news.
    warnings = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = "ignore"
    try:
        pool = _POOLS.get(count)
        if pool is None or _unusable(pool):
            pool = ProcessPoolExecutor(max_workers=count, timeout=60, env=env)
            _POOLS[count] = pool
        warmups = [pool.submit(_warm, task.model) for _ in range(count)]
    finally:
        if warnings is None:
            os.environ.pop("PYTHONWARNINGS", None)
        else:
            os.environ["PYTHONWARNINGS"] = warnings
    return pool, warmups


#: This process's own worker pools by size (kept for the next run of the same
#: command, compare's second model; apart from joblib's, which it configures its own way).
_POOLS: dict[int, Any] = {}


def _unusable(pool: Any) -> bool:
    """A pool that a dead worker broke, or that was shut down."""
    flags = getattr(pool, "_flags", None)
    return flags is None or flags.broken is not None or flags.shutdown


def _launch_blocking_ctrl_c() -> None:
    """Have loky start each worker with Ctrl-C blocked (so it never acts on one).

    This process blocks SIGINT only for the fork and exec of each worker (a
    few milliseconds), from the main thread; the worker inherits the blocked
    mask. Blocked rather than ignored: a Ctrl-C that arrives meanwhile waits
    and reaches this process after, where ignoring it lost it and the run went
    on. Workers that loky starts again from its own thread keep the default.
    """
    import signal
    import threading

    from joblib.externals.loky.backend import fork_exec as module

    launch = getattr(module, "fork_exec", None)
    if launch is None or hasattr(launch, "__wrapped__"):
        return

    def blocking(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return launch(*args, **kwargs)
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return launch(*args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    blocking.__wrapped__ = launch  # type: ignore[attr-defined]
    module.fork_exec = blocking


#: Environment variables that bound the threads of numerical libraries in workers.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _kill_workers(pool: Any) -> None:
    """Stop the workers at once by their process ids, taking no lock: Ctrl-C may have
    stopped this thread inside the pool's own code, holding the lock that shutting
    the pool down would wait for."""
    from lime_cli.run import forked

    for size, kept in list(_POOLS.items()):
        if kept is pool:
            del _POOLS[size]
    forked.kill(pool)


def _stop_workers(pool: Any) -> None:
    """Stop the workers now, without waiting for their batches."""
    for size, kept in list(_POOLS.items()):
        if kept is pool:
            del _POOLS[size]
    try:
        pool.shutdown(wait=False, kill_workers=True)
    except Exception:  # already gone
        pass


def _thread_share(jobs: int) -> Any:
    """This process's share of the cores for numerical libraries' threads."""
    import os

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(limits=max(1, (os.cpu_count() or 1) // jobs))


def _explain_batch(task: Task, items: Sequence[Any]) -> list[Outcome]:
    """The task's outcomes, or the batch's error for each of its items."""
    try:
        outcomes = task.explain_batch(items)
    except Exception as exc:  # a task should not raise; if it does, fail its batch only
        return [(None, exc)] * len(items)
    if len(outcomes) != len(items):
        raise RuntimeError(f"a task returned {len(outcomes)} outcomes for {len(items)} inputs")
    return outcomes
