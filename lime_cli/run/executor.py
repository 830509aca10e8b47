"""The one executor: every command explains its inputs here, in batches, in order.

A modality provides a :class:`Task`: a picklable object that explains a
batch of its inputs and returns one :data:`Outcome` per input. The executor
cuts the inputs into batches and runs them in this process (``jobs=1``) or
through joblib, so the backend (``loky`` processes by default, or any
backend registered with joblib, such as Dask's) is a setting, not a code
path: pass ``backend`` or wrap the call in ``joblib.parallel_config``.

Results do not depend on the batching or the backend: each task derives an
input's random stream from the seed and the input's identity alone
(:func:`lime_cli.run.settings.rng_for`), and outcomes are yielded in input
order as soon as each batch (and every batch before it) is done.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
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

    def rng(self, identity: bytes | int) -> np.random.Generator:
        """The input's own random stream: from the seed and the input's identity alone
        (see :func:`lime_cli.run.settings.rng_for`)."""
        if self.params.seed is None:
            raise ValueError("a task needs a resolved seed (settings_from resolves it)")
        return rng_for(self.params.seed, identity)


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


def batches(items: Sequence[Any], batch_size: int, jobs: int) -> list[Sequence[Any]]:
    """Consecutive slices of ``items``: ``batch_size`` long, shorter when workers share them."""
    size = max(1, batch_size)
    if jobs > 1:
        size = max(1, min(size, math.ceil(len(items) / (jobs * BATCHES_PER_WORKER))))
    return [items[i : i + size] for i in range(0, len(items), size)]


def run(
    task: Task, items: Sequence[Any], jobs: int = 1, backend: str | None = None
) -> Iterator[Outcome]:
    """Every item's outcome, in order, as soon as it is known.

    ``jobs`` workers share the batches when there is more than one batch;
    ``backend`` is a joblib backend name (default: joblib's, ``loky``).
    """
    groups = batches(items, task.batch_size, jobs)
    if jobs <= 1 or len(groups) <= 1:
        for group in groups:
            yield from _explain_batch(task, group)
        return
    from contextlib import nullcontext

    from joblib import Parallel, delayed, parallel_config

    # Without a backend, an enclosing joblib.parallel_config (a caller's Dask
    # cluster, say) decides; joblib's default is loky processes.
    chosen = parallel_config(backend=backend) if backend else nullcontext()
    with chosen:
        results = Parallel(n_jobs=jobs, return_as="generator")(
            delayed(_explain_batch)(task, group) for group in groups
        )
        for outcomes in results:
            yield from outcomes


def _explain_batch(task: Task, items: Sequence[Any]) -> list[Outcome]:
    """The task's outcomes, or the batch's error for each of its items."""
    try:
        outcomes = task.explain_batch(items)
    except Exception as exc:  # a task should not raise; if it does, fail its batch only
        return [(None, exc)] * len(items)
    if len(outcomes) != len(items):
        raise RuntimeError(f"a task returned {len(outcomes)} outcomes for {len(items)} inputs")
    return outcomes
