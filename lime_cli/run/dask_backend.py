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

Reaching the scheduler is bounded as a whole (Dask's own timeout covers
only the TCP connection, not its handshake, so a port that accepts
connections but is not a scheduler's waited forever), and a cluster that has
no worker while a batch is awaited is said once on stderr (it waited in
silence): the run goes on waiting, as workers may join late.

Needs the ``dask`` extra: ``pip install 'lime-explain[dask]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from lime_cli.errors import InputError, UsageError

#: Backend names for Dask start with this; the rest is the scheduler's address.
PREFIX = "dask:"
#: Batches in flight per worker thread (enough to keep each busy, few enough
#: that results wait in memory only briefly).
AHEAD_PER_WORKER = 4
#: Seconds to reach the scheduler, all told: the TCP connection, Dask's
#: handshake and the client's registration (the README's "within 10 s").
REACH_SECONDS = 10.0
#: Of those, the seconds left for the handshake and registration however long
#: the TCP connection took (a scheduler answers in milliseconds): the TCP part
#: gives up first, so running out of the whole means the connection was
#: accepted and nothing answered as a Dask scheduler.
HANDSHAKE_SECONDS = 2.0
#: Seconds without a worker, while a batch is awaited, before saying so.
WORKERLESS_SECONDS = 5.0
#: Seconds between looks at the cluster while a batch is awaited.
POLL_SECONDS = 1.0

#: Schemes whose location is HOST:PORT (others, such as inproc:// or ucx://,
#: are left for Dask to check).
_HOST_PORT_SCHEMES = ("tcp", "tls", "ws", "wss")
#: What an address that answers, but not as a Dask scheduler, most likely is.
_OTHER_SERVER = (
    "another server's port, such as the dashboard's (8787 by default; the scheduler's is 8786)?"
)
#: HOST:PORT: a name or IPv4 address, or an IPv6 address in brackets.
_HOST_PORT = re.compile(r"(?:[\w.-]+|\[[0-9A-Fa-f:.]+(?:%\w+)?\]):([0-9]{1,5})")


def check_address(address: str) -> str:
    """The address in Dask's form: ``tcp://HOST:PORT`` (or any Dask address with a
    scheme) or ``local:N``; exit 2 otherwise.

    A bare ``HOST:PORT`` is taken as ``tcp://HOST:PORT``, as Dask itself takes it
    (``DASK_SCHEDULER_ADDRESS=localhost:8786`` is common), and is given back in
    that form, so that every message names the address the same way.
    """
    if address[:6].lower() == "local:":
        address = "local:" + address[6:]  # LOCAL:2 is local:2, as TCP:// is tcp://
        count = address.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise UsageError(f"--scheduler {address}: local:N needs a worker count N >= 1")
        return address
    if address != address.strip() or not address.strip():
        raise UsageError(
            f"--scheduler {address!r}: expected tcp://HOST:PORT (a Dask scheduler) or local:N, "
            "without spaces"
        )
    scheme, sep, location = address.partition("://")
    scheme = scheme.lower()  # TCP:// is tcp:// (schemes ignore case), as Dask would not
    if not sep:
        scheme, location = "tcp", address
    if scheme in _HOST_PORT_SCHEMES:
        port = _HOST_PORT.fullmatch(location)
        if port is None or not 1 <= int(port.group(1)) <= 65535:
            raise UsageError(
                f"--scheduler {address}: expected tcp://HOST:PORT (a Dask scheduler) or local:N"
            )
    elif not scheme or not location:
        raise UsageError(
            f"--scheduler {address}: expected tcp://HOST:PORT (a Dask scheduler) or local:N"
        )
    return f"{scheme}://{location}"


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
        watch = WorkerWatch(client, address)
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
            outcomes = _result(future, watch)
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


def _result(future: Any, watch: WorkerWatch) -> Any:
    """The batch's outcomes, awaited a second at a time so that ``watch`` can say
    when the cluster has no worker (Ctrl-C ends the wait as before)."""
    while True:
        try:
            outcomes = future.result(timeout=POLL_SECONDS)
        except asyncio.TimeoutError:  # Dask's (asyncio's: not the builtin before 3.11)
            if future.done():  # done meanwhile, or the batch's own TimeoutError
                return future.result()
            watch.waiting()
            continue
        watch.progress()
        return outcomes


class WorkerWatch:
    """Says once on stderr that the scheduler has no worker when a wait goes on
    without one (a scheduler whose workers are not started yet, or all stopped).

    Waiting is right (workers may join late, and the run goes on when they
    do), but in silence it looks like a hang: without a terminal (or with
    ``--quiet``) there is no progress bar. So after :data:`WORKERLESS_SECONDS`
    without a worker, one line, even with ``--quiet`` (like the other lines
    that explain why nothing happens); said again only if workers came back
    (or a batch did) and then went again. Written to ``sys.stderr``, which a
    progress bar redirects above itself.
    """

    def __init__(
        self, client: Any, address: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._address = address
        self._clock = clock
        self._since: float | None = None  # when no worker was first seen
        self._said = False

    def progress(self) -> None:
        """Workers are there (a batch came back): their absence later is news again."""
        self._since = None
        self._said = False

    def waiting(self) -> None:
        """A batch is still awaited: look at the cluster, and say it has no worker
        once that has lasted :data:`WORKERLESS_SECONDS`."""
        if not _connected(self._client):  # the scheduler itself went: the run says so
            return
        if _worker_count(self._client) > 0:
            self.progress()
            return
        now = self._clock()
        if self._since is None:
            self._since = now
        elif not self._said and now - self._since >= WORKERLESS_SECONDS:
            self._said = True
            sys.stderr.write(
                f"lime-explain: waiting for workers: the scheduler at {self._address} has none\n"
            )
            sys.stderr.flush()


def _worker_count(client: Any) -> int:
    """The workers the scheduler has now (asked for the count only, not each
    worker's details: cheap on a cluster of thousands; Dask before 2025 has no
    count and sends them all)."""
    info = client.scheduler_info(n_workers=0)
    return int(info.get("n_workers", len(info.get("workers", ()))))


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
                    dashboard_address=None,  # no dashboard: nothing here reads it
                    # Dask's scheduler hosts an HTTP server all the same (its health
                    # and metrics pages), on 8787 unless told: when 8787 was taken,
                    # Dask warned in four lines. A free port on this machine instead.
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                    silence_logs=logging.WARNING if verbose else logging.CRITICAL,
                )
                client = dask.Client(cluster)
        except BaseException:  # a Ctrl-C held back is raised as the block ends
            _close(client, cluster)
            raise
        return client, cluster
    return _reach(dask, address), None


def _reach(dask: Any, address: str) -> Any:
    """A client of the scheduler at ``address``, reached within :data:`REACH_SECONDS`
    or one line (exit 3; exit 2 for an address scheme Dask does not know).

    Dask's own timeout (``Client(timeout=...)``, ``distributed.comm.timeouts.connect``)
    bounds only the TCP connection: ``distributed.comm.core.connect`` retries
    it under that timeout, then writes its handshake and reads the peer's with
    no timeout at all (dask/distributed#8071). Something that accepts
    connections but never answers in Dask's protocol (an HTTP server such as
    the dashboard's port, 8787, given for the scheduler's, 8786) kept the
    command waiting forever. The whole start is bounded here instead (see
    :func:`_bounded_client`); and what such a server answers, if anything, is
    read by Dask as a message whose length is garbage (a 3 EiB buffer, a
    struct error): any error once connected means "not a Dask scheduler".
    """
    source = f"{_source_of_scheduler()} {address}"
    scheme = address.partition("://")[0]
    try:
        from distributed.comm import registry

        registry.get_backend(scheme)
    except ValueError as exc:  # unknown address scheme 'foo' (known schemes: ...)
        raise UsageError(f"{source}: {exc}") from None
    if scheme in _TLS_SCHEMES and _tls_context_missing(dask):
        # Dask would fail before connecting, with a TypeError read as "not a scheduler".
        raise UsageError(
            f"{source}: an encrypted address needs Dask's TLS settings (its configuration's "
            "distributed.comm.tls: the CA file, and this client's certificate and key, "
            "e.g. DASK_DISTRIBUTED__COMM__TLS__CA_FILE)"
        )
    try:
        return _bounded_client(dask)(address, timeout=REACH_SECONDS)
    except asyncio.TimeoutError:  # before OSError: the builtin TimeoutError is one since 3.11
        raise InputError(
            f"{source}: something accepts connections there but does not answer as a Dask "
            f"scheduler (no answer within {REACH_SECONDS:g} s): {_OTHER_SERVER}"
        ) from None
    except ImportError as exc:  # the scheduler's refusal (Dask's versions differ)
        raise InputError(f"{source}: the Dask scheduler refused this client: {exc}") from None
    except OSError as exc:
        if _comm_closed(exc):  # accepted, then closed while Dask waited for an answer
            raise InputError(
                f"{source}: something accepts connections there but closes them without "
                f"answering as a Dask scheduler: {_OTHER_SERVER}"
            ) from None
        raise InputError(f"{source}: cannot reach the Dask scheduler ({exc})") from None
    except Exception as exc:  # its answer is not Dask's protocol
        raise InputError(
            f"{source}: something answers there, but not as a Dask scheduler "
            f"({type(exc).__name__}): {_OTHER_SERVER}"
        ) from exc


#: Schemes whose connections are encrypted with TLS (Dask needs its TLS settings).
_TLS_SCHEMES = ("tls", "wss")


def _tls_context_missing(dask: Any) -> bool:
    """Whether Dask's configuration gives no TLS context for a client."""
    try:
        args = dask.security.Security().get_connection_args("client")
    except Exception:  # a configuration Dask cannot read: let the connection say so
        return False
    return args.get("ssl_context") is None


def _bounded_client(dask: Any) -> Any:
    """Dask's Client class, with its start bounded as a whole (see :func:`_reach`).

    ``Client.__init__`` starts the client through ``Client.start``, which runs
    the connection in Dask's event loop thread through ``distributed.utils.sync``:
    that takes a ``callback_timeout`` for the whole coroutine, which Dask never
    passes here. A start that fails leaves no thread behind: Dask closes a
    client whose start failed, but keeps the event loop thread it started for it
    running (a daemon, so it cannot keep the process alive; in a test's process
    they piled up).
    """

    class _BoundedStart(dask.Client):  # type: ignore[misc]  # Dask is optional: Any
        def start(self, **kwargs: Any) -> None:
            # The TCP part gives up first (Dask says why: refused, unknown host).
            kwargs["timeout"] = REACH_SECONDS - HANDSHAKE_SECONDS
            try:
                super().start(callback_timeout=REACH_SECONDS, **kwargs)
            except BaseException:
                _close(self, None)
                runner = getattr(self, "_loop_runner", None)
                if runner is not None:
                    with contextlib.suppress(Exception):
                        runner.stop()
                raise

    return _BoundedStart


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
    its parent's, print two tracebacks before our line), nor do its warnings
    (Python's, not its loggers': a version mismatch, a port taken) or those of
    tornado, its event loop (a Ctrl-C on a local cluster once printed tornado's
    "coroutine 'Future._result' was never awaited" before our line)."""
    loggers = logging.root.manager.loggerDict
    for name in ["distributed", "tornado", *loggers]:
        if name.split(".")[0] in ("distributed", "tornado"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", module=r"(distributed|dask|tornado)(\.|$)")


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
    """Close what was opened (either may be None), ignoring what is already gone."""
    for closing in (client, cluster):
        if closing is not None:
            try:
                closing.close()
            except Exception:  # already gone
                pass
