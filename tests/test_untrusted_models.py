"""Model files that would run code: refused without ``--trust-model``, run with it.

Every hostile file here is real: it is built in the test and, when loaded
with ``--trust-model``, it does create its marker file (or delete its victim),
which proves that the refusals without the flag are what keeps it from
happening. Payloads use ``__reduce__`` (pickle, joblib), hand-written pickle
opcodes (dotted names, re-exported classes, BUILD on a class) and edited
skops schemas.
"""

from __future__ import annotations

import copyreg
import gc
import io
import json
import os
import pickle
import shlex
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import skops.io as sio
from click.testing import CliRunner
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from lime_cli.cli import cli
from lime_cli.errors import ModelError
from lime_cli.models.loading import load_estimator

DOCS = ["good great fine", "bad awful poor", "great good nice", "poor bad awful"]
LABELS = ["pos", "neg", "pos", "neg"]


class Payload:
    """Pickles as a call of ``func(*args)``: what a hostile model file holds."""

    def __init__(self, func: Any, args: tuple) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple:
        return (self.func, self.args)


def global_call(module: str, name: str, args: tuple) -> bytes:
    """Pickle bytes that import ``module.name`` exactly as written and call it."""
    name_ops = pickle.dumps(module, 4)[2:-1] + pickle.dumps(name, 4)[2:-1]
    return b"\x80\x04" + name_ops + b"\x93" + pickle.dumps(args, 4)[2:-1] + b"R."


def qualified(func: Any) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def touch_payloads(marker: Path) -> dict[str, tuple[Any, tuple]]:
    """Four ways to create ``marker``: (callable, args)."""
    quoted = repr(str(marker))
    return {
        "os.system": (os.system, (f"touch {shlex.quote(str(marker))}",)),
        "builtins.eval": (eval, (f"open({quoted}, 'w').close()",)),
        "builtins.exec": (exec, (f"import pathlib; pathlib.Path({quoted}).touch()",)),
        "subprocess.Popen": (subprocess.Popen, (["touch", str(marker)],)),
    }


PAYLOADS = ["os.system", "builtins.eval", "builtins.exec", "subprocess.Popen"]
FORMATS = ["joblib", "joblib-compressed", "pickle-2", "pickle-5"]


def fitted_pipeline() -> Pipeline:
    return make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(DOCS, LABELS)


def hostile_object(payload: Payload, wrapper: str) -> Any:
    if wrapper == "bare":
        return payload
    if wrapper == "pipeline":
        return Pipeline([("evil", payload), ("clf", LogisticRegression())])
    # Hidden in an array of objects inside a fitted model: joblib writes those
    # as a nested pickle, which joblib 1.5 reads with plain ``pickle.load``.
    model = fitted_pipeline()
    model.steps[-1][1].extra_ = np.array([payload, "x"], dtype=object)
    return model


def save(obj: Any, folder: Path, fmt: str) -> Path:
    if fmt.startswith("joblib"):
        path = folder / "model.joblib"
        joblib.dump(obj, path, compress=3 if fmt == "joblib-compressed" else 0)
    else:
        path = folder / "model.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=int(fmt.split("-")[1])))
    return path


def format_of(path: Path) -> str:
    return {".joblib": "joblib", ".pkl": "pickle", ".skops": "skops"}[path.suffix]


def refused(path: Path, name: str, **kwargs: Any) -> str:
    """Load without trust; return the one-line refusal, which must name ``name``."""
    with pytest.raises(ModelError) as info:
        load_estimator(str(path), format_of(path), **kwargs)
    message = info.value.message
    assert "\n" not in message
    assert f"refused to load '{name}'" in message, message
    assert "--trust-model" in message and "--trust-module" in message
    return message


def wait_for(path: Path, seconds: float = 10.0) -> bool:
    """Whether ``path`` exists now or within ``seconds`` (Popen runs asynchronously)."""
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.exists()


def load_trusted(path: Path, **kwargs: Any) -> Any:
    """Load with --trust-model; failures after the payload ran do not matter here."""
    try:
        return load_estimator(str(path), format_of(path), trust_model=True, **kwargs)
    except ModelError:
        return None


# -- pickle and joblib: payloads reached through __reduce__ --------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("wrapper", ["bare", "pipeline"])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_reduce_payloads_are_refused_before_they_run(tmp_path, payload, wrapper, fmt):
    marker = tmp_path / "MARKER"
    func, args = touch_payloads(marker)[payload]
    path = save(hostile_object(Payload(func, args), wrapper), tmp_path, fmt)
    refused(path, qualified(func))
    time.sleep(0.2 if payload == "subprocess.Popen" else 0)
    assert not marker.exists()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_trust_model_does_run_them_so_the_refusal_is_what_stops_them(tmp_path, payload):
    marker = tmp_path / "MARKER"
    func, args = touch_payloads(marker)[payload]
    path = save(hostile_object(Payload(func, args), "pipeline"), tmp_path, "joblib")
    load_trusted(path)
    assert wait_for(marker)


@pytest.mark.parametrize("fmt", ["joblib", "joblib-compressed"])
def test_payload_in_an_object_array_is_checked_like_the_rest(tmp_path, fmt):
    marker = tmp_path / "MARKER"
    func, args = touch_payloads(marker)["os.system"]
    path = save(hostile_object(Payload(func, args), "object-array"), tmp_path, fmt)
    refused(path, qualified(func))
    assert not marker.exists()
    load_trusted(path)
    assert marker.exists()


# -- names inside the allowed libraries that reach further ---------------------


def _module_attribute(module: str, attribute: str) -> None:
    __import__(module)
    if not hasattr(sys.modules[module], attribute):
        pytest.skip(f"{module} no longer imports {attribute}")


def test_memmap_under_another_module_name_cannot_create_files(tmp_path):
    target = tmp_path / "created_by_memmap"
    _module_attribute("numpy._core.memmap", "memmap")
    path = tmp_path / "model.pkl"
    args = (str(target), "uint8", "w+", 0, (4,))
    path.write_bytes(global_call("numpy._core.memmap", "memmap", args))
    refused(path, "numpy._core.memmap.memmap")
    assert not target.exists()
    load_trusted(path)
    assert target.exists()


def test_dotted_name_cannot_reach_joblib_memory_through_sklearn(tmp_path):
    target = tmp_path / "created_by_memory"
    _module_attribute("sklearn.utils.validation", "joblib")
    path = tmp_path / "model.pkl"
    path.write_bytes(global_call("sklearn.utils.validation", "joblib.Memory", (str(target),)))
    refused(path, "sklearn.utils.validation.joblib.Memory")
    assert not target.exists()
    load_trusted(path)
    assert target.exists()


def test_dotted_name_cannot_reach_ctypes_through_numpy(tmp_path):
    _module_attribute("numpy._core._internal", "ctypes")
    path = tmp_path / "model.pkl"
    path.write_bytes(global_call("numpy._core._internal", "ctypes.CDLL", (None,)))
    refused(path, "numpy._core._internal.ctypes.CDLL")
    import ctypes

    assert isinstance(load_trusted(path), ctypes.CDLL)


@pytest.mark.parametrize(
    "module, name",
    [("numpy", "ndarray.__class__"), ("sklearn.base", "BaseEstimator.__init_subclass__")],
)
def test_private_attributes_are_refused(tmp_path, module, name):
    path = tmp_path / "model.pkl"
    path.write_bytes(global_call(module, name, ("X", (), {})))
    refused(path, f"{module}.{name}")


def test_builtins_reached_through_a_numpy_module_are_refused(tmp_path):
    _module_attribute("numpy._core.numeric", "builtins")
    path = tmp_path / "model.pkl"
    path.write_bytes(global_call("numpy._core.numeric", "builtins.type", ("X", (), {})))
    refused(path, "numpy._core.numeric.builtins.type")
    assert isinstance(load_trusted(path), type)


@pytest.mark.parametrize("name", ["getattr", "__import__", "open", "compile", "breakpoint"])
def test_dangerous_builtins_are_refused(tmp_path, name):
    path = tmp_path / "model.pkl"
    path.write_bytes(global_call("builtins", name, ("x",)))
    refused(path, f"builtins.{name}")


@pytest.mark.parametrize(
    "module, name",
    [
        ("operator", "attrgetter"),
        ("operator", "methodcaller"),
        ("functools", "partial"),
        ("importlib", "import_module"),
        ("numpy", "load"),  # a function of an allowed library
        ("numpy.lib.format", "open_memmap"),
        ("joblib", "load"),
        ("pickle", "loads"),
        ("copyreg", "_reconstructor.__globals__"),
    ],
)
def test_gadget_functions_are_refused(tmp_path, module, name):
    path = tmp_path / "model.pkl"
    path.write_bytes(global_call(module, name, ("x",)))
    refused(path, f"{module}.{name}")


def test_test_and_script_modules_are_not_even_imported(tmp_path):
    module = "numpy.f2py.__main__"  # importing it would run f2py
    path = tmp_path / "model.pkl"
    path.write_bytes(global_call(module, "main", ()))
    already = module in sys.modules
    refused(path, f"{module}.main")
    assert (module in sys.modules) == already


def test_scipy_distribution_state_cannot_exec_code(tmp_path):
    # rv_generic.__setstate__ exec()s a template string kept in its state.
    from scipy.stats._continuous_distns import norm_gen

    marker = tmp_path / "MARKER"
    state = {
        "_parse_arg_template": f"import pathlib; pathlib.Path({str(marker)!r}).touch()",
        "_ctor_param": {},
        "shapes": None,
    }

    class Distribution:
        def __reduce__(self) -> tuple:
            return (copyreg._reconstructor, (norm_gen, object, None), state)

    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Distribution(), protocol=4))
    refused(path, "scipy.stats._continuous_distns.norm_gen")
    assert not marker.exists()
    load_trusted(path)
    assert marker.exists()


def test_scipy_odr_cannot_delete_files(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy.odr is deprecated
        odr = pytest.importorskip("scipy.odr")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    data, model = odr.Data(np.arange(5.0), np.arange(5.0)), odr.Model(np.multiply)
    # ODR(data, model, beta0, 5 x None, errfile, 12 x None, overwrite=True)
    args = (data, model, [1.0], *([None] * 5), str(victim), *([None] * 12), True)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Payload(odr.ODR, args), protocol=4))
    refused(path, qualified(odr.ODR))
    assert victim.exists()
    load_trusted(path)
    assert not victim.exists()


def test_numpy_datasource_cannot_delete_a_folder_when_collected(tmp_path):
    from numpy.lib.npyio import DataSource

    victim = tmp_path / "victim_dir"
    victim.mkdir()
    source = DataSource.__new__(DataSource)
    source.__dict__.update(_istmpdest=True, _destpath=str(victim))
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(source, protocol=4))
    source._istmpdest = False  # this test's own copy must not delete anything
    refused(path, qualified(DataSource))
    gc.collect()
    assert victim.exists()
    loaded = load_trusted(path)
    del loaded
    gc.collect()
    assert not victim.exists()


def test_old_joblib_companion_files_are_refused(tmp_path):
    # joblib < 0.10 kept arrays in companion .npy files, read with allow_pickle.
    from joblib.numpy_pickle_compat import NDArrayWrapper

    marker = tmp_path / "MARKER"
    companion = tmp_path / "evil.npy"
    func, args = touch_payloads(marker)["os.system"]
    np.save(companion, np.array([Payload(func, args)], dtype=object), allow_pickle=True)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(NDArrayWrapper(companion.name, np.ndarray), protocol=2))
    refused(path, "joblib.numpy_pickle_compat.NDArrayWrapper")
    assert not marker.exists()
    load_trusted(path)
    assert marker.exists()


def test_a_file_cannot_patch_a_class_it_names(tmp_path):
    from sklearn.model_selection import KFold

    # GLOBAL KFold, state (None, {"lime_patched": True}), BUILD: setattr on the class.
    state = pickle.dumps((None, {"lime_patched": True}), 4)[2:-1]
    name_ops = pickle.dumps(KFold.__module__, 4)[2:-1] + pickle.dumps("KFold", 4)[2:-1]
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x04" + name_ops + b"\x93" + state + b"b.")
    try:
        message = refused(path, qualified(KFold))
        assert "set the state only of objects it creates" in message
        assert not hasattr(KFold, "lime_patched")
        load_trusted(path)
        assert getattr(KFold, "lime_patched", False) is True
    finally:
        if "lime_patched" in vars(KFold):
            delattr(KFold, "lime_patched")


# -- skops ----------------------------------------------------------------------


def skops_archive(obj: Any) -> dict[str, bytes]:
    """The members of ``obj``'s skops file: schema.json and the arrays it refers to."""
    with zipfile.ZipFile(io.BytesIO(sio.dumps(obj))) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def skops_schema(obj: Any) -> dict:
    return json.loads(skops_archive(obj)["schema.json"])


def skops_with(node: dict, folder: Path) -> Path:
    """A skops file of a fitted pipeline with ``node`` as one of its attributes."""
    model = fitted_pipeline()
    model.extra_ = "PLACEHOLDER"
    members = skops_archive(model)
    schema = json.loads(members["schema.json"])
    attrs = schema["content"]["content"]
    assert json.loads(attrs["extra_"]["content"]) == "PLACEHOLDER"
    attrs["extra_"] = node
    members["schema.json"] = json.dumps(schema).encode()
    path = folder / "model.skops"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def skops_call(module: str, name: str, args: tuple) -> dict:
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": skops_schema(args),
    }


@pytest.mark.parametrize(
    "module, name, make_args",
    [
        ("os", "system", lambda m: (f"touch {shlex.quote(str(m))}",)),
        ("builtins", "exec", lambda m: (f"open({str(m)!r}, 'w').close()",)),
        ("builtins", "eval", lambda m: (f"open({str(m)!r}, 'w').close()",)),
        ("subprocess", "Popen", lambda m: (["touch", str(m)],)),
    ],
)
def test_skops_calls_outside_the_policy_are_refused(tmp_path, module, name, make_args):
    marker = tmp_path / "MARKER"
    path = skops_with(skops_call(module, name, make_args(marker)), tmp_path)
    refused(path, f"{module}.{name}")
    time.sleep(0.2 if name == "Popen" else 0)
    assert not marker.exists()
    load_trusted(path)
    assert wait_for(marker)


def test_skops_memmap_cannot_create_files(tmp_path):
    target = tmp_path / "created_by_memmap"
    args = (str(target), "uint8", "w+", 0, (4,))
    path = skops_with(skops_call("numpy._core.memmap", "memmap", args), tmp_path)
    refused(path, "numpy._core.memmap.memmap")
    assert not target.exists()
    load_trusted(path)
    assert target.exists()


def test_skops_scipy_distribution_state_cannot_exec_code(tmp_path):
    marker = tmp_path / "MARKER"
    state = {
        "_parse_arg_template": f"open({str(marker)!r}, 'w').close()",
        "_ctor_param": {},
        "shapes": None,
    }
    node = {
        "__class__": "norm_gen",
        "__module__": "scipy.stats._continuous_distns",
        "__loader__": "ObjectNode",
        "content": skops_schema(state),
    }
    path = skops_with(node, tmp_path)
    refused(path, "scipy.stats._continuous_distns.norm_gen")
    assert not marker.exists()
    load_trusted(path)
    assert marker.exists()


def test_skops_bound_methods_are_refused(tmp_path):
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    scaler = StandardScaler().fit(np.arange(6.0).reshape(3, 2))
    path = tmp_path / "model.skops"
    sio.dump(FunctionTransformer(func=scaler.transform), path)
    refused(path, f"{qualified(StandardScaler)}.transform")
    assert load_trusted(path) is not None


# -- a user's own package: --trust-module -----------------------------------------

CUSTOM_MODULE = '''
"""A user's own transformers, as a team would keep them in a package."""
import os
from sklearn.base import BaseEstimator, TransformerMixin
from os import system


class Lowercase(BaseEstimator, TransformerMixin):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return [doc.lower() for doc in X]


class Hook:
    """Creates a marker when its state is restored (skops calls __setstate__)."""

    def __setstate__(self, state):
        open(state["marker"], "w").close()
        self.__dict__.update(state)
'''


@pytest.fixture
def custom_module(tmp_path, monkeypatch):
    """A module of custom transformers on sys.path, unique to this test."""
    name = f"limetest_custom_{os.getpid()}_{tmp_path.name.replace('-', '_')}"
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / f"{name}.py").write_text(CUSTOM_MODULE)
    monkeypatch.syspath_prepend(str(folder))
    module = __import__(name)
    yield module
    sys.modules.pop(name, None)


def custom_pipeline(module: Any) -> Pipeline:
    docs = [d.upper() for d in DOCS]
    return make_pipeline(module.Lowercase(), TfidfVectorizer(), LogisticRegression()).fit(
        docs, LABELS
    )


@pytest.mark.parametrize("fmt", ["joblib", "pickle-5", "skops"])
def test_trust_module_admits_a_users_own_transformers(tmp_path, custom_module, fmt):
    model = custom_pipeline(custom_module)
    if fmt == "skops":
        path = tmp_path / "model.skops"
        sio.dump(model, path)
    else:
        path = save(model, tmp_path, fmt)
    name = custom_module.__name__
    message = refused(path, f"{name}.Lowercase")
    assert f"--trust-module {name}" in message
    loaded = load_estimator(str(path), format_of(path), trusted_modules=(name,))
    assert list(loaded.predict(["GOOD GREAT", "AWFUL POOR"])) == ["pos", "neg"]


def test_trust_module_does_not_admit_what_the_module_imports(tmp_path, custom_module):
    # ``from os import system`` in the trusted module must not admit os.system.
    marker = tmp_path / "MARKER"
    name = custom_module.__name__
    path = tmp_path / "model.pkl"
    path.write_bytes(global_call(name, "system", (f"touch {shlex.quote(str(marker))}",)))
    refused(path, f"{name}.system", trusted_modules=(name,))
    path.write_bytes(global_call(name, "os.system", (f"touch {shlex.quote(str(marker))}",)))
    refused(path, f"{name}.os.system", trusted_modules=(name,))
    assert not marker.exists()


def test_trust_module_does_not_admit_other_payloads(tmp_path, custom_module):
    marker = tmp_path / "MARKER"
    func, args = touch_payloads(marker)["os.system"]
    model = custom_pipeline(custom_module)
    model.steps[-1][1].extra_ = Payload(func, args)
    path = save(model, tmp_path, "joblib")
    refused(path, qualified(func), trusted_modules=(custom_module.__name__,))
    assert not marker.exists()


def test_skops_custom_class_runs_only_when_trusted(tmp_path, custom_module):
    marker = tmp_path / "MARKER"
    hook = custom_module.Hook.__new__(custom_module.Hook)
    hook.__dict__["marker"] = str(marker)
    model = fitted_pipeline()
    model.hook_ = hook
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    refused(path, f"{custom_module.__name__}.Hook")
    assert not marker.exists()
    load_estimator(str(path), "skops", trusted_modules=(custom_module.__name__,))
    assert marker.exists()


# -- through the command line ---------------------------------------------------


@pytest.fixture
def doc(tmp_path: Path) -> str:
    path = tmp_path / "doc.txt"
    path.write_text("good great fine film\n", encoding="utf-8")
    return str(path)


def run_text(*args: str):
    return CliRunner().invoke(cli, ["text", *args, "--num-samples", "50", "--seed", "1"])


def assert_one_line_error(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("payload", ["os.system", "builtins.exec"])
def test_cli_refuses_with_exit_4_and_one_line(tmp_path, doc, fmt, payload):
    marker = tmp_path / "MARKER"
    func, args = touch_payloads(marker)[payload]
    path = save(hostile_object(Payload(func, args), "pipeline"), tmp_path, fmt)
    line = assert_one_line_error(run_text("--model", str(path), doc), 4)
    assert line.startswith(f"lime-explain: model error: {path}: refused to load '")
    assert qualified(func) in line and "--trust-model" in line
    assert not marker.exists()


def test_cli_refuses_hostile_skops_with_exit_4(tmp_path, doc):
    marker = tmp_path / "MARKER"
    node = skops_call("os", "system", (f"touch {shlex.quote(str(marker))}",))
    path = skops_with(node, tmp_path)
    line = assert_one_line_error(run_text("--model", str(path), doc), 4)
    assert "refused to load 'os.system'" in line
    assert not marker.exists()


def test_cli_trust_model_runs_the_payload(tmp_path, doc):
    marker = tmp_path / "MARKER"
    func, args = touch_payloads(marker)["os.system"]
    path = save(Payload(func, args), tmp_path, "joblib")
    result = run_text("--model", str(path), doc, "--trust-model")
    assert marker.exists()
    # What it loaded (os.system's return code) is not a model: still one line, exit 4.
    assert "not a model" in assert_one_line_error(result, 4)


def test_cli_trust_module_explains_with_custom_transformers(tmp_path, doc, custom_module):
    path = save(custom_pipeline(custom_module), tmp_path, "joblib")
    name = custom_module.__name__
    line = assert_one_line_error(run_text("--model", str(path), doc), 4)
    assert f"--trust-module {name}" in line
    result = run_text("--model", str(path), doc, "--trust-module", name, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["explanations"]


def test_real_process_with_pythonpath_and_no_code_run(tmp_path, doc):
    """End to end in a fresh interpreter: the module comes from PYTHONPATH."""
    site, elsewhere = tmp_path / "site", tmp_path / "cwd"
    site.mkdir()
    elsewhere.mkdir()
    name = "limetest_subprocess_custom"
    (site / f"{name}.py").write_text(CUSTOM_MODULE)
    sys.path.insert(0, str(site))
    try:
        module = __import__(name)
        path = save(custom_pipeline(module), tmp_path, "joblib")
    finally:
        sys.path.remove(str(site))
        sys.modules.pop(name, None)
    marker = tmp_path / "MARKER"
    func, args = touch_payloads(marker)["os.system"]
    evil = tmp_path / "evil.joblib"
    joblib.dump(hostile_object(Payload(func, args), "pipeline"), evil)
    env = {**os.environ, "PYTHONPATH": str(site)}
    command = [sys.executable, "-c", "from lime_cli.cli import main; main()", "text"]
    common = [doc, "--num-samples", "50", "--seed", "1", "--format", "json"]

    def lime(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*command, *args, *common], cwd=elsewhere, env=env, capture_output=True, text=True
        )

    bad = lime("--model", str(evil))
    assert bad.returncode == 4 and len(bad.stderr.splitlines()) == 1, bad.stderr
    assert not marker.exists()
    good = lime("--model", str(path), "--trust-module", name)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["explanations"]
