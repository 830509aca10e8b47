"""One set of drawn rows, and the model's answers for them, shared by every row of a run.

Why: lime's tabular samples do not depend on the row being explained. Each
column's bin (or category) is drawn at its training frequency and a value
inside it; the row only decides which samples share its bins (the
interpretable matrix ``z``, a comparison) and is itself sample 0. So the
draws, and the model's answers for them, can be made once and reused by every
row: a run of R rows with N samples asks the model about N + R rows instead
of R x N. For the GradientBoosting pipeline of bench/bench_scale.py that is
most of a row's time (the model took 4.2 of 5.4 ms a row).

Each row's explanation is still an explanation from N samples drawn as lime
draws them; what changes is that rows share their sampling error instead of
each having its own (``--fresh-samples`` draws each row's own, as lime does).
The draws depend on the seed alone, so a row's explanation depends only on
the seed and the row's values: not on its number, its batch, the order or the
worker.

Shared only when no held column is one the model uses (``--freeze-columns``,
``--ignore-columns`` of a used column): those hold each row's own value in
every sample, so its samples are its own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from lime_cli.run.settings import rng_for
from lime_cli.tabular.domain import ColumnPlan, Draw, RowLayout, TabularSample, TabularSampler

#: Pools kept per process (a pool holds a run's draws: a few MB at most). A
#: run has one per model (compare: two); tests run many in one process.
_KEPT = 4
_pools: OrderedDict[str, SharedDraws] = OrderedDict()
_pools_lock = threading.Lock()


def can_share(columns: ColumnPlan, layout: RowLayout) -> bool:
    """Whether rows can share draws: every held column is one the model never looks at."""
    return set(columns.held) <= set(layout.unused)


def pool_for(key: str, sampler: TabularSampler, seed: int) -> SharedDraws:
    """This process's pool for the run ``key`` names (made on first use).

    Every process of a run (forked, loky or Dask workers) makes the same
    draws from the seed, and asks its own copy of the model about them.
    """
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = SharedDraws(sampler, seed)
            while len(_pools) > _KEPT:
                _pools.popitem(last=False)
        else:
            _pools.move_to_end(key)
        return pool


class SharedDraws:
    """Rows drawn from the training statistics once, and the model's answers for them.

    Grown in blocks, one per round of the sample plan (``--num-samples auto``
    adds rounds): block ``b`` is drawn from the stream of (seed, b), so its
    rows are the same whoever draws it first. ``numeric`` (n, m) floats,
    ``numeric_levels`` (n, m) and ``categorical_levels`` (n, c) ints and
    ``answers`` (n, classes) hold the ``n`` rows drawn so far; a row's sample
    ``i + 1`` is draw ``i``.
    """

    def __init__(self, sampler: TabularSampler, seed: int) -> None:
        self.sampler = sampler
        self.seed = seed
        m, c = len(sampler.numeric_idx), len(sampler.categorical_idx)
        self.numeric = np.empty((0, m))
        self.numeric_levels = np.empty((0, m), dtype=np.intp)
        self.categorical_levels = np.empty((0, c), dtype=np.intp)
        self.answers: np.ndarray | None = None
        self._blocks = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.numeric.shape[0]

    def grow(
        self,
        count: int,
        holding: tuple[np.ndarray, np.ndarray],
        predict: Callable[[TabularSample], np.ndarray],
    ) -> None:
        """Have at least ``count`` draws, asking ``predict`` about the new ones.

        ``holding`` is a row's (numeric (1, m), categorical (1, c)) values: held
        columns (ones the model never looks at) take them, so the model gets
        well-formed input. A failing ``predict`` leaves the pool as it was.
        """
        with self._lock:
            if count <= len(self):
                return
            rng = rng_for(self.seed, f"shared tabular draws {self._blocks}".encode())
            fresh = count - len(self)
            m, c = len(self.sampler.numeric_idx), len(self.sampler.categorical_idx)
            draw = self.sampler.draw(fresh, rng, Draw.empty(fresh, m, c))
            self.sampler.hold(draw.numeric, draw.categorical, holding)
            empty_z = np.empty((fresh, 0))
            answers = predict(TabularSample(empty_z, draw.numeric, draw.categorical))
            self.numeric = np.concatenate([self.numeric, draw.numeric])
            self.numeric_levels = np.concatenate([self.numeric_levels, draw.numeric_levels])
            self.categorical_levels = np.concatenate(
                [self.categorical_levels, draw.categorical_levels]
            )
            self.answers = answers if self.answers is None else np.vstack([self.answers, answers])
            self._blocks += 1

    def samples_for(self, domain: Any, total: int, answer: np.ndarray) -> tuple[Any, Any]:
        """A row's ``total`` samples as the engine fits them: ``z`` (total, features),
        column-ordered, and the model's answers (total, classes), the row's own
        ``answer`` (1, classes) first."""
        count = total - 1
        assert self.answers is not None and count <= len(self)
        z = domain.z_from(
            self.numeric[:count],
            self.numeric_levels[:count],
            self.categorical_levels[:count],
        )
        return z, np.concatenate([answer, self.answers[:count]])
