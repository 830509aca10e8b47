"""Settings every command shares: the model to load, the LIME loop, labels, seeds."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from lime_cli import defaults
from lime_cli.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

    from lime_cli.checks import Rules
    from lime_cli.engine import LabelRequest, LimeParams
    from lime_cli.engine.protocols import Model


def split_names(value: str | None, option: str = "--class-names") -> list[str] | None:
    """``"a,b,c"`` -> ``["a", "b", "c"]``; exit 2 on an empty name."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",")]
    if not all(names):
        raise UsageError(f"{option} must be a comma-separated list of non-empty names")
    return names


def resolve_seed(seed: int | None) -> int:
    """The given seed, or a fresh one to report so the run can be repeated."""
    return seed if seed is not None else secrets.randbits(32)


def rng_for(seed: int, identity: bytes | int) -> np.random.Generator:
    """A random stream derived from the seed and the input's identity alone.

    So an input's explanation does not depend on what else was explained in
    the same process, in which order, in which batch or in which worker.
    """
    import numpy as np

    if isinstance(identity, int):
        key = identity
    else:
        key = int.from_bytes(hashlib.sha256(identity).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))


@dataclass(frozen=True)
class ModelSpec:
    """How to load the model: picklable, so worker processes can load it themselves."""

    path: str
    fmt: str | None = None
    mode: str | None = None
    class_names: tuple[str, ...] | None = None
    trust_model: bool = False
    trusted_modules: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    #: The folder relative file names are read from: None for this process's
    #: working folder; the client's, for Dask workers started elsewhere (see
    #: :meth:`located_in`). Left out of the settings hash (its repr): where the
    #: files are read from does not change an explanation.
    where: str | None = field(default=None, repr=False)

    def located_in(self, folder: str) -> ModelSpec:
        """The same spec, its relative file names read from ``folder`` wherever it is loaded."""
        return dataclasses.replace(self, where=folder)

    def load(self) -> Model:
        """The loaded model adapter, once per process (workers reuse it across inputs)."""
        model = _LOADED_MODELS.get(self)
        if model is None:
            from lime_cli.models import load_model

            path = self.located_model(self.path)
            options = {k: self.located(v) if k in _FILE_OPTIONS else v for k, v in self.options}
            model = load_model(
                path,
                fmt=self.fmt,
                mode=self.mode,
                class_names=list(self.class_names) if self.class_names else None,
                trust_model=self.trust_model,
                trusted_modules=self.trusted_modules,
                **options,
            )
            # Named as the user gave them (JSON, messages), wherever they were read:
            # a file's adapter by its path, a callable's by its spec.
            if path != self.path:
                for name in ("path", "spec"):
                    if hasattr(model, name):
                        setattr(model, name, self.path)
            tokenizer = dict(self.options).get("tokenizer")
            if tokenizer and getattr(model, "tokenizer_path", None) == options["tokenizer"]:
                model.tokenizer_path = tokenizer
            _LOADED_MODELS[self] = model
        return model

    def located_model(self, path: str) -> str:
        """The model as this process loads it: :meth:`located`, and for a
        ``FILE.py:NAME`` callable its file from :attr:`where` when relative
        (``module:name`` specs and URLs are left as given)."""
        from lime_cli.models.loading import model_source

        if self.where is None or model_source(path) != "callable":
            return self.located(path)
        # A callable spec's name is dotted identifiers after its last colon; a file
        # part ending in .py makes it a file (as the callable adapter reads it).
        file, _, name = path.rpartition(":")
        if not file.endswith(".py") or os.path.isabs(file):
            return path
        return f"{os.path.join(self.where, file)}:{name}"

    def located(self, name: Any) -> Any:
        """A file name of this run (the model's, an input's) as this process opens
        it: from :attr:`where` when relative. URLs and callables are left as given
        (:meth:`located_model` finds a ``FILE.py:NAME`` model's file); a callable's
        module must be found by the worker itself."""
        if self.where is None or not isinstance(name, str) or not name:
            return name
        from lime_cli.models.loading import model_source

        if os.path.isabs(name) or model_source(name) is not None:
            return name
        # type(name): a folder's entry keeps its mark (inputs.FolderEntry: its named
        # pipes are never opened), here on a Dask worker too.
        return type(name)(os.path.join(self.where, name))


#: Model options that name files (text models' tokenizer and class names).
_FILE_OPTIONS = frozenset({"tokenizer", "class_names_file"})


#: Per-process cache of loaded models, keyed by their spec (see ModelSpec.load).
_LOADED_MODELS: dict[ModelSpec, Any] = {}


def loaded_models() -> list[Any]:
    """The models this process has loaded (each once, see :meth:`ModelSpec.load`)."""
    return list(_LOADED_MODELS.values())


@dataclass(frozen=True)
class Settings:
    """Everything a run needs that is the same for every modality."""

    spec: ModelSpec
    params: LimeParams
    labels: LabelRequest
    rules: Rules
    jobs: int
    debug: bool
    quiet: bool


#: Option names that :func:`settings_from` consumes; the rest belong to the
#: modality (and to the output options, see ``lime_cli.run.outputs``).
SETTINGS_KEYS = (
    "model_path", "model_format", "mode", "class_names", "trust_model", "trust_modules",
    "label_names", "top_labels", "num_samples", "num_features", "feature_selection",
    "kernel_width", "batch_size", "seed", "jobs", "forbid", "require", "within", "min_score",
    "max_weight", "rules_file", "debug", "quiet", "min_samples", "max_samples", "confidence",
    "stability_target", "min_stability", "protocol", "concurrency", "timeout",
)  # fmt: skip


def build_rules(o: dict[str, Any]) -> Rules:
    """The checks' rules from the options and an optional TOML file."""
    from lime_cli.checks import Rules, load_rules, parse_max_weight

    min_score = o.get("min_score")
    if min_score is not None and not math.isfinite(min_score):
        raise UsageError("--min-score must be a finite number")
    rules = Rules(
        tuple(dict.fromkeys(o.get("forbid") or ())),
        tuple(dict.fromkeys(o.get("require") or ())),
        o.get("within"),
        min_score,
        parse_max_weight(o.get("max_weight") or ()),
        o.get("min_stability"),
    )
    if o.get("rules_file"):
        rules = rules.merged(load_rules(o["rules_file"]))
    return rules


def given(name: str) -> bool:
    """Whether the running command's option ``name`` was given (not its default)."""
    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source(name) if ctx is not None else None
    return source is not None and source not in (
        click.core.ParameterSource.DEFAULT,
        click.core.ParameterSource.DEFAULT_MAP,
    )


def sample_bounds(low: int, high: int) -> tuple[int, int]:
    """``--min-samples`` and ``--max-samples``, a default giving way to a given value.

    ``--max-samples 600`` alone lowers the first round to 600 (rather than
    refusing the default 625 the user never set), and ``--min-samples 30000``
    alone raises the cap to it; two given values that conflict stay an error.
    """
    if low > high and given("max_samples") and not given("min_samples"):
        low = high
    elif low > high and given("min_samples") and not given("max_samples"):
        high = low
    return low, high


def _on_command_line(name: str) -> bool:
    """Whether the option of parameter ``name`` was typed, not a default or taken
    from the environment (DASK_SCHEDULER_ADDRESS is a default a typed --jobs overrides)."""
    ctx = click.get_current_context(silent=True)
    return (
        ctx is not None and ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
    )


def _choose_backend() -> None:
    """A typed --jobs wins over DASK_SCHEDULER_ADDRESS; else an address taken from
    the environment is checked now (exit 2 naming the variable when malformed)."""
    from lime_cli.run import executor

    if _on_command_line("jobs"):
        executor.set_default_backend(None)
        return
    backend = executor.default_backend()
    if backend is None:
        return  # no Dask: its module (asyncio and all, 15 ms) is not imported
    from lime_cli.run.dask_backend import PREFIX, check_address

    if backend.startswith(PREFIX):
        try:
            check_address(backend.removeprefix(PREFIX))
        except UsageError as exc:
            raise UsageError(
                "DASK_SCHEDULER_ADDRESS" + exc.message.removeprefix("--scheduler")
            ) from None


def settings_from(options: dict[str, Any]) -> Settings:
    """Validate the shared options and take them out of ``options`` (the rest are the
    modality's and the outputs')."""
    from lime_cli.engine import LabelRequest, LimeParams

    o = {key: options.pop(key, None) for key in SETTINGS_KEYS}
    options["debug"], options["quiet"] = o["debug"], o["quiet"]  # the outputs need them too
    if o["label_names"] and o["top_labels"]:
        raise UsageError("--labels and --top-labels cannot be used together")
    if _on_command_line("jobs") and _on_command_line("scheduler"):
        raise UsageError(
            "--jobs and --scheduler cannot be used together: --jobs N shares the inputs "
            "among this machine's processes, --scheduler sends them to Dask (local:N for "
            "N local workers)"
        )
    _choose_backend()
    rules = build_rules(o)
    model_paths = o["model_path"]
    paths = [model_paths] if isinstance(model_paths, str) else list(model_paths or ())
    model_options, batch_size = served_model_options(o, paths)
    adaptive = o["num_samples"] == "auto"
    if not adaptive:
        for name, flag in (("stability_target", "--stability"), ("min_samples", "--min-samples"),
                           ("max_samples", "--max-samples")):  # fmt: skip
            if given(name):
                raise UsageError(f"{flag} applies to --num-samples auto only")
    low, high = sample_bounds(
        o["min_samples"] or defaults.MIN_SAMPLES, o["max_samples"] or defaults.MAX_SAMPLES
    )
    params = LimeParams(
        num_samples=defaults.NUM_SAMPLES if adaptive else o["num_samples"] or defaults.NUM_SAMPLES,
        adaptive=adaptive,
        min_samples=low,
        max_samples=high,
        confidence=o["confidence"] or defaults.CONFIDENCE,
        stability_target=o["stability_target"],
        # auto without --stability: stop once as stable as the fixed default would be
        # (an image command replaces this with its own default).
        reference_samples=defaults.NUM_SAMPLES
        if adaptive and o["stability_target"] is None
        else None,
        # Checks look at the `within` strongest features, so at least that many are explained.
        num_features=max(o["num_features"] or defaults.NUM_FEATURES, rules.within or 0),
        feature_selection=o["feature_selection"] or defaults.FEATURE_SELECTION,
        kernel_width=o["kernel_width"],
        batch_size=batch_size,
        seed=resolve_seed(o["seed"]),
    )
    params.validate()
    names = split_names(o["class_names"])
    spec = ModelSpec(
        paths[0],
        fmt=o["model_format"],
        mode=o["mode"],
        class_names=tuple(names) if names else None,
        trust_model=bool(o["trust_model"]),
        trusted_modules=tuple(o["trust_modules"] or ()),
        options=model_options,
    )
    return Settings(
        spec=spec,
        params=params,
        labels=LabelRequest(tuple(dict.fromkeys(o["label_names"] or ())), o["top_labels"]),
        rules=rules,
        jobs=o["jobs"] or 1,
        debug=bool(o["debug"]),
        quiet=bool(o["quiet"]),
    )


def served_model_options(
    o: dict[str, Any], paths: list[str]
) -> tuple[tuple[tuple[str, Any], ...], int | None]:
    """The HTTP adapter's options (for the ModelSpec) and the engine's batch size.

    A served model gets ``--batch-size`` samples per request (default
    ``http_defaults.BATCH_SIZE``) and ``--concurrency`` requests in flight, so
    the engine hands the adapter ``batch_size * concurrency`` samples per call
    and the adapter splits them. Without a URL among the models, nothing changes.
    """
    from lime_cli.models import http_defaults
    from lime_cli.models.loading import model_source

    http_keys = ("protocol", "concurrency", "timeout")
    if not any(model_source(p) == "http" for p in paths):
        given = [k for k in http_keys if o.get(k) is not None]
        if given:
            raise UsageError(f"--{given[0]} applies to a served model (--model http(s)://...)")
        return (), o["batch_size"]
    concurrency = o.get("concurrency") or http_defaults.CONCURRENCY
    request_size = o["batch_size"] or http_defaults.BATCH_SIZE
    options = {
        "protocol": o.get("protocol"),
        "concurrency": concurrency,
        "timeout": o.get("timeout") or http_defaults.TIMEOUT,
        "request_size": request_size,
    }
    return tuple(sorted(options.items())), request_size * concurrency


def check_labels(model: Model, labels: LabelRequest) -> None:
    """Refuse label options the model cannot honour, before any input is explained."""
    if not (labels.names or labels.top):
        return
    if model.mode == "regression":
        option = "--labels" if labels.names else "--top-labels"
        raise UsageError(f"{option} applies to classifiers; this model is a regressor")
    if labels.names and model.classes:
        from lime_cli.engine.explain import label_index

        for name in labels.names:
            label_index(model.classes, name)
