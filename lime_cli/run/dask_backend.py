"""Dask as the executor's distributed backend: ``--scheduler tcp://HOST:PORT`` or ``local:N``.

Selected by the executor's ``backend`` setting (``"dask:ADDRESS"``, which
``--scheduler`` or ``DASK_SCHEDULER_ADDRESS`` sets). Batches of inputs,
sized like local ones for the cluster's worker threads, are sent as tasks
holding the picklable :class:`~lime_cli.run.executor.Task`: its
:class:`~lime_cli.run.settings.ModelSpec` says where the model is (a path
every worker can read, or a URL), and each worker process loads it once and
keeps it (never a pickled onnxruntime session). A bounded number of batches
is in flight at a time, and outcomes come back in input order as soon as
each batch (and every one before it) is done, so JSON Lines outputs grow as
they arrive. A worker that dies has its batches run again elsewhere by the
scheduler; per-input seeds make them come out the same.

Needs the ``dask`` extra: ``pip install 'lime-explain[dask]'``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from lime_cli.errors import InputError, UsageError

#: Backend names for Dask start with this; the rest is the scheduler's address.
PREFIX = "dask:"
#: Batches in flight per worker thread (enough to keep each busy, few enough
#: that results wait in memory only briefly).
AHEAD_PER_WORKER = 4


def check_address(address: str) -> str:
    """``tcp://HOST:PORT`` (or any Dask address with a scheme) or ``local:N``; exit 2 otherwise."""
    if address.startswith("local:"):
        count = address.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise UsageError(f"--scheduler {address}: local:N needs a worker count N >= 1")
        return address
    if "://" not in address:
        raise UsageError(
            f"--scheduler {address}: expected tcp://HOST:PORT (a Dask scheduler) or local:N"
        )
    return address


def run(
    task: Any, items: Iterable[Any], address: str, *, verbose: bool = False
) -> Iterator[tuple[Any, Any]]:
    """Every item with its outcome, in order, explained on the Dask cluster at ``address``.

    Dask's own log messages are silenced (errors are one line, ours) unless
    ``verbose`` (``--debug``): then its warnings and errors, and those of a
    local cluster's workers, reach stderr as Dask prints them.
    """
    from lime_cli.run.executor import (
        BatchesUntilFailure,
        _explain_batch,
        share_size,
        stream_batches,
        stream_share_size,
    )

    futures: deque[tuple[Sequence[Any], Any]] = deque()
    # Workers may run in other folders: relative file names are the client's.
    task = task.with_model(task.model.located_in(os.getcwd()))
    client = cluster = None
    try:
        client, cluster = _connect(address, verbose)
        _load_on_workers(client, task.model)
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        threads = max(1, threads)
        # Batches as small as when processes share them, even for one worker: the
        # output grows (and a stopped run keeps) a batch at a time.
        groups = BatchesUntilFailure(
            stream_batches(
                items, task.batch_size, max(2, threads), share_size(task), stream_share_size(task)
            )
        )
        window = threads * AHEAD_PER_WORKER

        def fill() -> None:
            while len(futures) < window:
                group = next(groups, None)
                if group is None:
                    return
                futures.append((group, client.submit(_explain_batch, task, group, pure=False)))

        fill()
        while futures:
            group, future = futures.popleft()
            outcomes = future.result()
            fill()
            yield from zip(group, outcomes)
        groups.raise_held()
    except BaseException as exc:
        for _, future in futures:
            future.cancel()
        if _connection_lost(exc, client):
            # One line, as for a scheduler never reached (Dask's own message asks
            # to re-run the work: --resume does not redo the inputs written).
            raise InputError(
                f"{_source_of_scheduler()} {address}: lost the Dask scheduler during the run; "
                "a JSON Lines --out keeps the inputs finished, and --resume goes on"
            ) from None
        raise
    finally:
        _close(client, cluster)


def _connection_lost(exc: BaseException, client: Any) -> bool:
    """Whether ``exc`` says the client lost its scheduler (it died, or the network
    went): Dask cancels every future with "scheduler-connection-lost" once it
    gives up reconnecting, and a call under way fails with a closed comm while
    the client is no longer connected (a closed comm from a worker that died,
    with the scheduler still there, is not this)."""
    if getattr(exc, "reason", None) == "scheduler-connection-lost":
        return True
    return _comm_closed(exc) and not _connected(client)


def _comm_closed(exc: BaseException) -> bool:
    """Whether ``exc`` is Dask's CommClosedError (not imported: Dask is optional)."""
    return any(kind.__name__ == "CommClosedError" for kind in type(exc).__mro__)


def _connected(client: Any) -> bool:
    """Whether the client still has its scheduler."""
    return getattr(client, "status", "running") == "running"


def _load_on_workers(client: Any, spec: Any) -> None:
    """Every worker loads the model before any batch is sent: a model no worker can
    load (a file missing there, say) is one error, not one per input."""
    from lime_cli.errors import LimeCliError, ModelError

    try:
        client.run(_load_model, spec)
    except LimeCliError as exc:
        raise type(exc)(f"a Dask worker cannot load the model: {exc.message}") from None
    except OSError as exc:
        if not _comm_closed(exc) or not _connected(client):
            raise  # not a worker gone, or the scheduler itself went: the caller says so
        raise ModelError(
            "a Dask worker died while loading the model (out of memory, or the model's "
            "code ended its process)"
        ) from None


def _load_model(spec: Any) -> None:
    """Run on each worker (by ``client.run``): load the model into its cache."""
    spec.load()


def _connect(address: str, verbose: bool = False) -> tuple[Any, Any]:
    """A client of the scheduler (and the local cluster it started, for ``local:N``),
    with Dask's log messages silenced unless ``verbose``."""
    try:
        import distributed
    except ImportError:
        raise UsageError("--scheduler needs Dask: pip install 'lime-explain[dask]'") from None
    dask: Any = distributed  # untyped: called through Any
    if not verbose:
        _quiet_logs()
    if address.startswith("local:"):
        _quiet_resource_tracker()
        client = cluster = None
        try:
            with _ctrl_c_held():
                cluster = dask.LocalCluster(
                    n_workers=int(address.removeprefix("local:")),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.WARNING if verbose else logging.CRITICAL,
                )
                client = dask.Client(cluster)
        except BaseException:  # a Ctrl-C held back is raised as the block ends
            _close(client, cluster)
            raise
        return client, cluster
    try:
        return dask.Client(address, timeout="10s"), None
    except (OSError, TimeoutError) as exc:
        raise InputError(
            f"{_source_of_scheduler()} {address}: cannot reach the Dask scheduler ({exc})"
        ) from None


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Start a local cluster with SIGINT blocked, so that Ctrl-C reaches only this process.

    A terminal sends Ctrl-C's SIGINT to every process of the foreground
    group, the local cluster's worker processes too, and each printed a
    KeyboardInterrupt traceback of thirty lines before our one line. A
    blocked signal mask is inherited by the threads a thread starts and,
    through fork and exec, by the processes they start: the cluster's event
    loop thread, made here, starts every worker process (restarted ones
    too), so none of them ever takes SIGINT; they stop when this process
    closes the cluster (or dies). This process gets a Ctrl-C pressed meanwhile
    as soon as the block ends, as KeyboardInterrupt.
    """
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX: no process groups either
        yield
        return
    # multiprocessing's resource tracker, started on the first semaphore, blocks
    # SIGINT while it starts and then unblocks it in the starting thread (not
    # restored): started first, here, so that the loop thread keeps the block.
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _quiet_logs() -> None:
    """One line per error, ours: Dask's own loggers print nothing (a lost scheduler
    made ``distributed.client``, whose level Dask's configuration sets apart from
    its parent's, print two tracebacks before our line)."""
    loggers = logging.root.manager.loggerDict
    for name in ["distributed", "tornado", *loggers]:
        if name.split(".")[0] in ("distributed", "tornado"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _quiet_resource_tracker() -> None:
    """Keep the local cluster's semaphores out of stderr after a Ctrl-C.

    Workers stopped by Ctrl-C leave their semaphores to multiprocessing's
    resource tracker, a process of its own that cleans them up and then warns
    about them on stderr, after this command has printed its one line and
    exited. The tracker takes its warning filters from this process's
    ``-W`` options (``sys.warnoptions``) when it starts, which is when the
    cluster makes its first semaphore: the filter is added just before.
    """
    rule = "ignore::UserWarning:multiprocessing.resource_tracker"
    if rule not in sys.warnoptions:
        sys.warnoptions.append(rule)


def _source_of_scheduler() -> str:
    """Where the address came from, as the user would look for it."""
    import click

    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source("scheduler") if ctx is not None else None
    if source == click.core.ParameterSource.ENVIRONMENT:
        return "DASK_SCHEDULER_ADDRESS"
    return "--scheduler"


def _close(client: Any, cluster: Any) -> None:
    for closing in (client, cluster):
        if closing is not None:
            try:
                closing.close()
            except Exception:  # already gone
                pass
