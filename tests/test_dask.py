"""Dask through the executor, on real clusters on this machine.

- ``--scheduler local:2`` (a LocalCluster the command starts) gives the
  output of ``--jobs 1`` byte for byte.
- A ``dask scheduler`` and two ``dask worker`` processes started here: one
  worker is killed in the middle of a job, and the output is still complete,
  in order and identical to ``--jobs 1``; a run killed outright (SIGKILL) is
  finished by ``--resume`` on the cluster, identical again.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("distributed")

from test_resume import build_data, lines_in  # noqa: E402

from lime_cli.cli import cli  # noqa: E402

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, str]:
    return build_data(tmp_path_factory.mktemp("dask"))


def tabular(data: dict[str, str], model: str, out: Path, *more: str) -> list[str]:
    trust = ["--trust-module", "test_resume"] if model == "slow.joblib" else []
    return [
        "tabular", "--model", data[model], *trust, "--train", data["rows.csv"], "--all",
        data["rows.csv"], "--num-samples", "200", "--seed", "4", "-q", "--out", str(out), *more,
    ]  # fmt: skip


def test_bad_scheduler_addresses_are_usage_errors(data, tmp_path):
    for address in ("nowhere", "local:0", "local:x"):
        argv = tabular(data, "fast.joblib", tmp_path / "o.jsonl", "--scheduler", address)
        result = CliRunner().invoke(cli, argv, env=CLEAN_ENV)
        assert result.exit_code == 2, (address, result.stderr)
        assert not (tmp_path / "o.jsonl").exists()


def test_an_unreachable_scheduler_is_named_where_it_was_set(data, tmp_path):
    """One line, exit 3, naming DASK_SCHEDULER_ADDRESS when the address came from it."""
    import socket

    with socket.socket() as probe:  # a free port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    argv = tabular(data, "fast.joblib", tmp_path / "o.jsonl")
    result = CliRunner().invoke(cli, argv, env={**CLEAN_ENV, "DASK_SCHEDULER_ADDRESS": address})
    assert result.exit_code == 3, result.stderr
    assert result.stderr.startswith(f"lime-explain: input error: DASK_SCHEDULER_ADDRESS {address}:")
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "o.jsonl").exists()


@pytest.mark.slow
def test_a_local_cluster_gives_the_output_of_one_process(data, tmp_path):
    one, dask = tmp_path / "one.jsonl", tmp_path / "dask.jsonl"
    runner = CliRunner()
    first = runner.invoke(cli, tabular(data, "fast.joblib", one), env=CLEAN_ENV)
    assert first.exit_code == 0, first.stderr
    argv = tabular(data, "fast.joblib", dask, "--scheduler", "local:2")
    second = runner.invoke(cli, argv, env=CLEAN_ENV)
    assert second.exit_code == 0, second.stderr
    assert dask.read_bytes() == one.read_bytes()
    assert second.stderr == ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *argv], env=ENV, cwd=str(TESTS),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture
def cluster():
    """A scheduler on a free local port and two single-thread workers (no nannies, so
    a killed worker stays dead); stopped after the test."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                       str(port), "--dashboard-address", ":0"])  # fmt: skip
    workers = [
        start(
            [
                "distributed.cli.dask_worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--dashboard-address",
                ":0",
            ]
        )  # fmt: skip
        for _ in range(2)
    ]
    try:
        from distributed import Client

        deadline = time.monotonic() + 120
        with Client(address, timeout="60s") as client:
            while len(client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(client.scheduler_info()["workers"]) == 2
        yield address, workers, scheduler
    finally:
        for process in [*workers, scheduler]:
            stop(process)


def cli_process(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lime_cli", *argv], env=ENV, cwd=str(TESTS),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_for_lines(path: Path, count: int) -> None:
    deadline = time.monotonic() + 180
    while lines_in(path) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lines_in(path) >= count


def under_way_on_the_cluster(
    data: dict[str, str], tmp_path: Path, address: str, *more: str
) -> tuple[Path, Path, subprocess.Popen[bytes]]:
    """The slow model's --jobs 1 output (the reference), and the same run on the
    cluster (with the options ``more``), under way: its output and its process,
    once a first line is written."""
    reference = tmp_path / "one.jsonl"
    one = CliRunner().invoke(cli, tabular(data, "slow.joblib", reference), env=CLEAN_ENV)
    assert one.exit_code == 0, one.stderr
    out = tmp_path / "dask.jsonl"
    job = cli_process(tabular(data, "slow.joblib", out, "--scheduler", address, *more))
    wait_for_lines(out, 1)
    assert lines_in(out) < 320  # still under way
    return reference, out, job


@pytest.mark.slow
def test_a_worker_killed_mid_job_and_a_killed_run_lose_nothing(data, tmp_path, cluster):
    address, workers, _ = cluster
    # A worker dies in the middle: its batches are run again on the other one.
    reference, out, job = under_way_on_the_cluster(data, tmp_path, address)
    stop(workers[0])
    _, err = job.communicate(timeout=300)
    assert job.returncode == 0, err
    assert out.read_bytes() == reference.read_bytes()

    # The run itself is killed (no chance to tidy up); --resume finishes it.
    out = tmp_path / "killed.jsonl"
    job = cli_process(tabular(data, "slow.joblib", out, "--scheduler", address))
    wait_for_lines(out, 1)
    job.kill()
    job.wait(timeout=30)
    assert lines_in(out) < 320
    again = cli_process(tabular(data, "slow.joblib", out, "--scheduler", address, "--resume"))
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert out.read_bytes() == reference.read_bytes()


@pytest.mark.slow
def test_a_scheduler_lost_mid_run_is_one_line_and_resume_finishes_the_output(
    data, tmp_path, cluster
):
    """The scheduler dies during a run: one line, exit 3 (Dask printed two tracebacks
    and the run ended as an internal error, exit 5), the finished inputs kept, and
    --resume without the cluster finishes the output as one uninterrupted run."""
    address, _, scheduler = cluster
    reference, out, job = under_way_on_the_cluster(data, tmp_path, address)
    stop(scheduler)
    _, err = job.communicate(timeout=300)
    assert job.returncode == 3, err
    assert err.decode().splitlines() == [
        f"lime-explain: input error: --scheduler {address}: lost the Dask scheduler during "
        "the run; a JSON Lines --out keeps the inputs finished, and --resume goes on"
    ]
    kept = lines_in(out)
    assert 0 < kept < 320

    again = CliRunner().invoke(cli, tabular(data, "slow.joblib", out, "--resume"), env=CLEAN_ENV)
    assert again.exit_code == 0, again.stderr
    assert out.read_bytes() == reference.read_bytes()


def test_with_debug_a_lost_scheduler_shows_dasks_own_messages_too(data, tmp_path, cluster):
    """--debug is for finding out what went wrong: Dask's log messages about the
    lost scheduler reach stderr (silenced without it, test above), then the
    error's traceback, ending in the same message."""
    address, _, scheduler = cluster
    _, out, job = under_way_on_the_cluster(data, tmp_path, address, "--debug")
    stop(scheduler)
    _, err = job.communicate(timeout=300)
    text = err.decode()
    assert job.returncode != 0
    # Dask's format: "distributed.client - ERROR - ...", after a time stamp by default.
    assert re.search(r"\bdistributed\.[\w.]+ - [A-Z]+ - ", text), text
    last = text.rstrip().splitlines()[-1]
    assert last.endswith(
        "lost the Dask scheduler during the run; a JSON Lines --out keeps the inputs "
        "finished, and --resume goes on"
    ), text
    assert 0 < lines_in(out) < 320


def here_and_on_the_cluster(
    argv: list[str], folder: Path, address: str, tmp_path: Path
) -> dict[str, bytes]:
    """``argv`` (ending in --out) run in ``folder`` with --jobs 1 and on the cluster:
    each output's bytes, by "one" and "dask" (both runs exit 0, silent)."""
    runs = {}
    for name, more in (("one", []), ("dask", ["--scheduler", address])):
        out = tmp_path / f"{name}.jsonl"
        done = subprocess.run(
            [sys.executable, "-m", "lime_cli", *argv, str(out), *more],
            env=ENV, cwd=str(folder), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0 and done.stderr == "", (name, done.stderr)
        runs[name] = out.read_bytes()
    return runs


@pytest.mark.slow
def test_relative_file_names_are_the_clients_whatever_the_workers_folder(data, tmp_path, cluster):
    """The workers run in tests/; the command in the data's folder names the model
    relative to it: the workers read the client's file, and the output (naming the
    model as given) is the output of --jobs 1."""
    address, _, _ = cluster
    folder = Path(data["fast.joblib"]).parent
    argv = [
        "tabular", "--model", "fast.joblib", "--train", "rows.csv", "--all", "rows.csv",
        "--num-samples", "200", "--seed", "4", "-q", "--out",
    ]  # fmt: skip
    runs = here_and_on_the_cluster(argv, folder, address, tmp_path)
    assert runs["dask"] == runs["one"]
    assert b'"path": "fast.joblib"' in runs["one"]


def test_a_model_no_worker_can_load_is_one_error(tmp_path):
    """Workers load the model before any batch: a file they cannot read fails the run
    once (the error's kind and exit code), not once per input."""
    from distributed import Client, LocalCluster

    from lime_cli.errors import InputError
    from lime_cli.run.dask_backend import _load_on_workers
    from lime_cli.run.settings import ModelSpec

    spec = ModelSpec("gone.joblib").located_in(str(tmp_path))
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as local:
        with Client(local) as client, pytest.raises(InputError) as raised:
            _load_on_workers(client, spec)
    assert raised.value.message.startswith("a Dask worker cannot load the model: ")
    assert str(tmp_path / "gone.joblib") in raised.value.message


@pytest.mark.slow
def test_a_worker_dying_while_loading_the_model_is_a_model_error_not_a_lost_scheduler(
    tmp_path,
):
    """A worker process that ends while it loads the model (out of memory, or the
    model's own code exiting) is a model error; the scheduler is still there."""
    from distributed import Client, LocalCluster

    from lime_cli.errors import ModelError
    from lime_cli.run.dask_backend import _connection_lost, _load_on_workers
    from lime_cli.run.settings import ModelSpec

    (tmp_path / "ends.py").write_text("import os\n\nos._exit(1)\n\n\ndef predict(x):\n    pass\n")
    spec = ModelSpec(str(tmp_path / "ends.py") + ":predict")
    with LocalCluster(n_workers=1, processes=True, dashboard_address=None) as local:
        with Client(local) as client:
            with pytest.raises(ModelError) as raised:
                _load_on_workers(client, spec)
            assert not _connection_lost(raised.value, client)
    assert raised.value.message.startswith("a Dask worker died while loading the model")


@pytest.mark.slow
def test_ctrl_c_on_a_local_cluster_leaves_one_line(data, tmp_path):
    """Its workers' semaphores are cleaned up without a warning after the command's
    line (the resource tracker printed one once the prompt was back)."""
    out = tmp_path / "o.jsonl"
    job = subprocess.Popen(
        [sys.executable, "-m", "lime_cli", *tabular(data, "slow.joblib", out,
                                                    "--scheduler", "local:2")],
        env=ENV, cwd=str(TESTS), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    wait_for_lines(out, 1)
    job.send_signal(signal.SIGINT)
    _, err = job.communicate(timeout=120)  # until every holder of stderr, the tracker too
    assert job.returncode == 130
    assert err.decode() == "lime-explain: interrupted\n"


def test_the_event_loops_warnings_are_quiet_too():
    """A Ctrl-C on a local cluster once printed tornado's "coroutine
    'Future._result' was never awaited" before our one line: warnings raised in
    Dask's event loop (tornado) are silenced with Dask's own."""
    import warnings

    from lime_cli.run import dask_backend

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        dask_backend._quiet_logs()
        for module in ("tornado.gen", "distributed.client", "dask"):
            warnings.warn_explicit("stray", RuntimeWarning, "x.py", 1, module=module)
        warnings.warn_explicit("ours", RuntimeWarning, "x.py", 1, module="lime_cli.x")
    assert [str(w.message) for w in seen] == ["ours"]


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["workers starting", "mid-run"])
def test_ctrl_c_in_a_terminal_reaches_only_the_command_not_the_local_workers(
    data, tmp_path, moment
):
    """A terminal's Ctrl-C signals the whole foreground process group: the local
    cluster's worker processes printed a KeyboardInterrupt traceback each before
    our line. Now: one line, 130, no process of the group left, and --resume finishes."""
    out = tmp_path / "o.jsonl"
    argv = tabular(data, "slow.joblib", out, "--scheduler", "local:2")
    job = subprocess.Popen(
        [sys.executable, "-m", "lime_cli", *argv], env=ENV, cwd=str(TESTS),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        if moment == "mid-run":
            wait_for_lines(out, 1)
        else:  # as soon as a worker process exists: it is still importing
            deadline = time.monotonic() + 120
            while not children_of(job.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert children_of(job.pid)
        os.killpg(job.pid, signal.SIGINT)
        _, err = job.communicate(timeout=120)
        deadline = time.monotonic() + 30
        while group_alive(job.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not group_alive(job.pid)
    finally:
        if group_alive(job.pid):
            os.killpg(job.pid, signal.SIGKILL)
    assert job.returncode == 130
    assert err.decode() == "lime-explain: interrupted\n"
    resumed = CliRunner().invoke(cli, [*argv, "--resume"], env=CLEAN_ENV)
    assert resumed.exit_code == 0, resumed.stderr
    assert lines_in(out) == lines_in(Path(data["rows.csv"])) - 1


def test_jobs_and_scheduler_typed_together_are_refused(data, tmp_path):
    argv = tabular(data, "fast.joblib", tmp_path / "o.jsonl", "--jobs", "2", "--scheduler",
                   "local:2")  # fmt: skip
    result = CliRunner().invoke(cli, argv, env=CLEAN_ENV)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("lime-explain: usage error: --jobs and --scheduler cannot")
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "o.jsonl").exists()


def test_a_typed_jobs_wins_over_the_environments_scheduler(data, tmp_path):
    """DASK_SCHEDULER_ADDRESS is a default: --jobs typed runs here (the address is
    unreachable, so a run sent to it would fail)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    argv = tabular(data, "fast.joblib", tmp_path / "o.jsonl", "--jobs", "1")
    result = CliRunner().invoke(cli, argv, env={**CLEAN_ENV, "DASK_SCHEDULER_ADDRESS": address})
    assert result.exit_code == 0, result.stderr
    assert lines_in(tmp_path / "o.jsonl") == 320


def test_a_spec_located_elsewhere_loads_that_folders_file_named_as_given(tmp_path):
    """Two client folders with the same relative model name: a worker serving both
    loads each folder's file (the per-process cache tells them apart), and the
    model is named as the user gave it."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    from lime_cli.run.settings import ModelSpec

    models = []
    for k in range(2):
        folder = tmp_path / f"client{k}"
        folder.mkdir()
        model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, k])
        joblib.dump(model, folder / "model.joblib")
        models.append(ModelSpec("model.joblib").located_in(str(folder)).load())
    assert models[0] is not models[1]
    assert [m.describe()["path"] for m in models] == ["model.joblib", "model.joblib"]
    x = [[3.0]]
    assert models[0].predict(x).tolist() != models[1].predict(x).tolist()


def test_only_a_relative_python_files_part_of_a_callable_spec_is_the_clients(tmp_path, monkeypatch):
    """``FILE.py:NAME`` is loaded from the client's folder and named as given;
    ``module:name`` specs, absolute files and URLs are left as given."""
    from lime_cli.run import settings
    from lime_cli.run.settings import ModelSpec

    monkeypatch.setattr(settings, "_LOADED_MODELS", {})  # this process's cache, restored after
    from lime_cli.models.callable_adapter import module_name_for

    # The module the adapter makes of the file:
    probe = module_name_for(str(tmp_path / "located_probe.py"))
    monkeypatch.setitem(sys.modules, probe, None)  # so that it is removed after the test
    del sys.modules[probe]
    (tmp_path / "located_probe.py").write_text(PREDICT_PY)
    spec = ModelSpec("located_probe.py:predict").located_in(str(tmp_path))
    assert spec.located_model(spec.path) == f"{tmp_path / 'located_probe.py'}:predict"
    model = spec.load()
    assert model.describe()["path"] == model.describe()["callable"] == "located_probe.py:predict"
    assert model.predict([[2.0, 0.0]]).shape == (1, 2)
    for given in ("pkg.mod:predict", "/abs/predict.py:predict", "http://host:8000/predict"):
        assert spec.located_model(given) == given


def test_a_malformed_address_in_the_environment_is_named_or_overridden(data, tmp_path):
    env = {**CLEAN_ENV, "DASK_SCHEDULER_ADDRESS": "bogus"}
    used = CliRunner().invoke(cli, tabular(data, "fast.joblib", tmp_path / "a.jsonl"), env=env)
    assert used.exit_code == 2
    assert used.stderr == (
        "lime-explain: usage error: DASK_SCHEDULER_ADDRESS bogus: expected "
        "tcp://HOST:PORT (a Dask scheduler) or local:N\n"
    )
    argv = tabular(data, "fast.joblib", tmp_path / "b.jsonl", "--jobs", "1")
    overridden = CliRunner().invoke(cli, argv, env=env)
    assert overridden.exit_code == 0, overridden.stderr


@pytest.mark.slow
def test_relative_image_names_are_read_from_the_clients_folder(tmp_path, cluster):
    """An image run's pictures are read by the workers (tests/ is their folder): a
    relative name is the client's, and the output names it as given."""
    import joblib
    import numpy as np
    from PIL import Image
    from sklearn.linear_model import LogisticRegression

    address, _, _ = cluster
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (600, 8, 8))
    y = np.where(x[:, :4, :4].mean(axis=(1, 2)) > 127.5, "bright", "dark")
    joblib.dump(LogisticRegression(max_iter=2000).fit(x.reshape(600, -1) / 255, y),
                tmp_path / "corner.joblib")  # fmt: skip
    for k in range(3):
        pixels = rng.integers(0, 255, (8, 8)).astype(np.uint8)
        Image.fromarray(pixels, "L").save(tmp_path / f"p{k}.png")
    argv = [
        "image", "--model", "corner.joblib", "p0.png", "p1.png", "p2.png", "--scale",
        str(1 / 255), "--segmenter", "slic", "--segments", "4", "--segment-param",
        "compactness=100", "--hide", "0", "--num-samples", "100", "--seed", "3", "-q", "--out",
    ]  # fmt: skip
    runs = here_and_on_the_cluster(argv, tmp_path, address, tmp_path)
    assert runs["dask"] == runs["one"]
    assert b'"name": "p0.png"' in runs["one"]


PREDICT_PY = '''
import numpy as np


def predict(rows):
    """P(1) rises with the first column less the second."""
    rows = np.asarray(rows, dtype=float)
    p = 1 / (1 + np.exp(-(rows[:, 0] - rows[:, 1])))
    return np.column_stack([1 - p, p])
'''


@pytest.mark.slow
def test_a_relative_python_file_model_is_the_clients_whatever_the_workers_folder(tmp_path, cluster):
    """``--model predict.py:predict`` named in the client's folder: the workers (in
    tests/) run the client's file, and the output names the model as given."""
    import numpy as np

    address, _, _ = cluster
    folder = tmp_path / "client"
    folder.mkdir()
    (folder / "predict.py").write_text(PREDICT_PY)
    rng = np.random.default_rng(1)
    lines = ["a,b,y"] + [f"{a:.3f},{b:.3f},{int(a > b)}" for a, b in rng.normal(size=(30, 2))]
    (folder / "rows.csv").write_text("\n".join(lines) + "\n")
    argv = [
        "tabular", "--model", "predict.py:predict", "--train", "rows.csv", "--all",
        "rows.csv", "--num-samples", "200", "--seed", "4", "-q", "--out",
    ]  # fmt: skip
    runs = here_and_on_the_cluster(argv, folder, address, tmp_path)
    assert runs["dask"] == runs["one"]
    assert runs["one"].count(b"\n") == 30
    assert b'"path": "predict.py:predict"' in runs["one"]
    assert b'"callable": "predict.py:predict"' in runs["one"]


@pytest.mark.slow
def test_a_text_models_relative_tokenizer_is_the_clients_whatever_the_workers_folder(
    tmp_path, cluster
):
    """An ONNX token model named with its tokenizer and class names file relative to
    the client's folder (none of them beside the model under a default name): the
    workers (in tests/) read the client's files, and the output, naming the
    tokenizer as given, is the output of --jobs 1."""
    from _onnx_text_fixtures import bag_of_tokens_graph, token_weights, word_piece_tokenizer

    address, _, _ = cluster
    folder = tmp_path / "client"
    (folder / "vocab").mkdir(parents=True)
    tokenizer = word_piece_tokenizer(folder / "vocab" / "words.json")
    words = {"goal": [3.0, 0.0], "scored": [2.0, 0.0], "bank": [0.0, 3.0], "shares": [0.0, 2.0]}
    bag_of_tokens_graph(folder / "m.onnx", token_weights(tokenizer, words, 2))
    (folder / "labels.txt").write_text("sport\nbusiness\n")
    (folder / "a.txt").write_text("The striker scored a late goal while the bank sold shares.")
    (folder / "b.txt").write_text("Shares fell as the bank cut its forecast.")
    argv = [
        "text", "--model", "m.onnx", "--tokenizer", "vocab/words.json", "--class-names-file",
        "labels.txt", "a.txt", "b.txt", "--num-samples", "200", "--seed", "3", "-q", "--out",
    ]  # fmt: skip
    runs = here_and_on_the_cluster(argv, folder, address, tmp_path)
    assert runs["dask"] == runs["one"]
    assert runs["one"].count(b"\n") == 2
    assert runs["one"].count(b'"tokenizer": "vocab/words.json"') == 2
    assert runs["one"].count(b'"classes": ["sport", "business"]') == 2


@contextlib.contextmanager
def not_a_scheduler(answer: bytes | None) -> Iterator[int]:
    """A TCP server on a free port of 127.0.0.1 that is not a Dask scheduler: it
    accepts connections and never answers (``answer`` None, like an HTTP server
    waiting for the end of a request that never comes), or reads what comes and
    answers ``answer`` (an HTTP error, say). Yields its port; stopped after."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:  # timed out: look at stop again
                continue
            held.append(conn)
            if answer is not None:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                    conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()
        for conn in held:
            conn.close()


def loop_threads() -> set[threading.Thread]:
    """Dask's event loop threads alive now (one per client or cluster started)."""
    return {t for t in threading.enumerate() if t.name == "IO loop" and t.is_alive()}


def test_a_port_that_accepts_but_never_answers_is_one_line_within_10_s(data, tmp_path):
    """An HTTP server (or the dashboard's port, given for the scheduler's) accepts the
    connection and waits for a request: Dask's handshake had no timeout, and the
    command waited forever in silence. Now: one line naming what is likely wrong,
    exit 3, within the README's 10 s (and the process ends: nothing keeps it)."""
    with not_a_scheduler(None) as port:
        address = f"tcp://127.0.0.1:{port}"
        argv = tabular(data, "fast.joblib", tmp_path / "o.jsonl", "--scheduler", address)
        started = time.monotonic()
        job = cli_process(argv)
        try:
            _, err = job.communicate(timeout=45)
        finally:
            if job.poll() is None:
                job.kill()
                job.wait(timeout=30)
        took = time.monotonic() - started
    assert job.returncode == 3, err
    assert err.decode().splitlines() == [
        f"lime-explain: input error: --scheduler {address}: something accepts connections "
        "there but does not answer as a Dask scheduler (no answer within 10 s): another "
        "server's port, such as the dashboard's (8787 by default; the scheduler's is 8786)?"
    ]
    assert took < 25  # 10 s, and the start of two Python processes on a busy machine
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(
    "answer, says",
    [
        (None, "does not answer as a Dask scheduler (no answer within 3 s)"),
        (b"HTTP/1.0 400 Bad request\r\n\r\n", "answers there, but not as a Dask scheduler"),
    ],
)
def test_what_is_not_a_scheduler_is_said_and_leaves_no_event_loop(
    data, tmp_path, monkeypatch, answer, says
):
    """A server that answers at once in another protocol made Dask allocate a
    3 EiB buffer (an internal error, exit 5); one that never answers is given up
    after REACH_SECONDS (shortened here). Either way: exit 3, one line naming
    where the address came from, and no Dask event loop thread left running."""
    from lime_cli.run import dask_backend

    # Without the bound (before it was made), a server that never answers would
    # hold this test forever: then the missing setting fails it at once.
    monkeypatch.setattr(dask_backend, "REACH_SECONDS", 3.0, raising=answer is None)
    monkeypatch.setattr(dask_backend, "HANDSHAKE_SECONDS", 1.0, raising=answer is None)
    before = loop_threads()
    with not_a_scheduler(answer) as port:
        env = {**CLEAN_ENV, "DASK_SCHEDULER_ADDRESS": f"tcp://127.0.0.1:{port}"}
        started = time.monotonic()
        result = CliRunner().invoke(
            cli, tabular(data, "fast.joblib", tmp_path / "o.jsonl"), env=env
        )
        took = time.monotonic() - started
    assert result.exit_code == 3, result.stderr
    assert result.stderr.startswith(
        f"lime-explain: input error: DASK_SCHEDULER_ADDRESS tcp://127.0.0.1:{port}: something "
    ), result.stderr
    assert says in result.stderr and len(result.stderr.splitlines()) == 1
    assert took < 15
    assert loop_threads() <= before


def test_host_port_without_a_scheme_is_tcp_and_garbage_is_still_refused(data, tmp_path):
    """Dask takes HOST:PORT as tcp://HOST:PORT (DASK_SCHEDULER_ADDRESS=localhost:8786
    is common); it was refused (exit 2). Malformed addresses are still exit 2, now
    with a scheme too (tcp://nowhere was an internal error, exit 5)."""
    from lime_cli.errors import UsageError
    from lime_cli.run.dask_backend import check_address

    for given, taken in [
        ("localhost:8786", "tcp://localhost:8786"),
        ("10.0.0.7:8786", "tcp://10.0.0.7:8786"),
        ("[::1]:8786", "tcp://[::1]:8786"),
        ("dask-scheduler.default.svc:8786", "tcp://dask-scheduler.default.svc:8786"),
        ("tcp://host:8786", "tcp://host:8786"),
        ("tls://host:8786", "tls://host:8786"),
        ("inproc://10.0.0.7/1234/1", "inproc://10.0.0.7/1234/1"),
        ("local:2", "local:2"),
    ]:
        assert check_address(given) == taken
    garbage = ["nowhere", "host:", ":8786", "host:0", "host:99999", "host:x", "a b:1",
               "::1:8786", "tcp://nowhere", "tcp://host:x", "tcp://", "://host:1"]  # fmt: skip
    for address in garbage:
        with pytest.raises(UsageError):
            check_address(address)
    for address in ["tcp://nowhere", "foo://host:1"]:  # foo: a scheme Dask does not know
        out = tmp_path / "o.jsonl"
        result = CliRunner().invoke(
            cli, tabular(data, "fast.joblib", out, "--scheduler", address), env=CLEAN_ENV
        )
        assert result.exit_code == 2, (address, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and not out.exists()


def test_what_a_script_may_pass_by_mistake_is_refused_not_run_here(data, tmp_path):
    """An empty --scheduler (an unset $ADDR) ran on this machine, silently, even with
    DASK_SCHEDULER_ADDRESS set; spaces around an address got Dask's message about
    a scheme ' tcp'. Both are exit 2 now, with nothing written; TCP:// is tcp://."""
    from lime_cli.run.dask_backend import check_address

    assert check_address("TCP://host:8786") == "tcp://host:8786"
    assert check_address("LOCAL:2") == "local:2"
    out = tmp_path / "o.jsonl"
    for address, says in [
        ("", "empty; give tcp://HOST:PORT or local:N"),
        (" tcp://127.0.0.1:8786", "without spaces"),
        ("tcp://127.0.0.1:8786 ", "without spaces"),
    ]:
        env = {**CLEAN_ENV, "DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:8786"}
        result = CliRunner().invoke(
            cli, tabular(data, "fast.joblib", out, "--scheduler", address), env=env
        )
        assert result.exit_code == 2, (address, result.stderr)
        assert says in result.stderr and len(result.stderr.splitlines()) == 1
        assert not out.exists()


def test_an_encrypted_address_without_dasks_tls_settings_says_so_before_connecting(data, tmp_path):
    """tls:// with no TLS settings failed inside Dask with a TypeError, reported as
    'something answers there, but not as a Dask scheduler' although nothing was
    contacted (a port nothing listens on, a host that does not exist)."""
    out = tmp_path / "o.jsonl"
    for address in ("tls://127.0.0.1:1", "tls://no-such-host.invalid:8786"):
        result = CliRunner().invoke(
            cli, tabular(data, "fast.joblib", out, "--scheduler", address), env=CLEAN_ENV
        )
        assert result.exit_code == 2, (address, result.stderr)
        assert result.stderr == (
            f"lime-explain: usage error: --scheduler {address}: an encrypted address needs "
            "Dask's TLS settings (its configuration's distributed.comm.tls: the CA file, and "
            "this client's certificate and key, e.g. DASK_DISTRIBUTED__COMM__TLS__CA_FILE)\n"
        )
        assert not out.exists()


def test_host_port_in_the_environment_is_used_as_tcp(data, tmp_path, monkeypatch):
    """DASK_SCHEDULER_ADDRESS=127.0.0.1:PORT is the scheduler's address (nothing
    listens there: exit 3, cannot reach it), not a usage error naming the variable."""
    from lime_cli.run import dask_backend

    monkeypatch.setattr(dask_backend, "REACH_SECONDS", 3.0, raising=False)
    port = free_port()
    env = {**CLEAN_ENV, "DASK_SCHEDULER_ADDRESS": f"127.0.0.1:{port}"}
    result = CliRunner().invoke(cli, tabular(data, "fast.joblib", tmp_path / "o.jsonl"), env=env)
    assert result.exit_code == 3, result.stderr
    assert result.stderr.startswith(
        f"lime-explain: input error: DASK_SCHEDULER_ADDRESS tcp://127.0.0.1:{port}: cannot reach "
        "the Dask scheduler"
    ), result.stderr


class FakeClient:
    """What WorkerWatch asks of a client: its status and the scheduler's worker count."""

    def __init__(self) -> None:
        self.status = "running"
        self.workers = 0

    def scheduler_info(self, n_workers: int = -1) -> dict[str, int]:
        return {"n_workers": self.workers}


def test_no_worker_is_said_once_a_wait_lasts_and_again_only_after_they_came_back(capsys):
    from lime_cli.run.dask_backend import WORKERLESS_SECONDS, WorkerWatch

    now = [0.0]
    client = FakeClient()
    watch = WorkerWatch(client, "tcp://h:8786", clock=lambda: now[0])
    line = "lime-explain: waiting for workers: the scheduler at tcp://h:8786 has none\n"

    def wait(seconds: float) -> str:
        """``seconds`` of waiting, looked at each second: what stderr got."""
        for _ in range(int(seconds)):
            watch.waiting()
            now[0] += 1
        return capsys.readouterr().err

    assert wait(WORKERLESS_SECONDS) == ""  # workers may be starting
    assert wait(2) == line
    assert wait(60) == ""  # said once, not every second
    client.workers = 2
    assert wait(3) == ""
    client.workers = 0  # all stopped mid-run, and the wait goes on
    assert wait(WORKERLESS_SECONDS + 2) == line
    watch.progress()  # a batch came back meanwhile: news again next time
    assert wait(WORKERLESS_SECONDS + 2) == line
    client.status = "connecting"  # the scheduler itself is lost: the run says so
    watch.progress()
    assert wait(20) == ""


def test_a_scheduler_without_workers_says_so_once_and_ctrl_c_ends_the_wait(data, tmp_path):
    """A real scheduler with no worker: the run waits (workers may join late) but says
    so in one line after a few seconds, even with -q and no terminal; Ctrl-C then
    ends it with one more line, exit 130 and no traceback."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                       str(port), "--dashboard-address", "127.0.0.1:0"])  # fmt: skip
    job = None
    try:
        with socket.socket() as probe:  # the scheduler listens (it takes a few seconds)
            deadline = time.monotonic() + 30
            while probe.connect_ex(("127.0.0.1", port)) != 0 and time.monotonic() < deadline:
                time.sleep(0.1)
        job = cli_process(tabular(data, "fast.joblib", tmp_path / "o.jsonl", "--scheduler",
                                  address))  # fmt: skip
        lines: queue.Queue[bytes] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(x) for x in job.stderr], daemon=True)
        reader.start()
        first = lines.get(timeout=40)
        assert first.decode() == (
            f"lime-explain: waiting for workers: the scheduler at {address} has none\n"
        )
        time.sleep(3)  # three more looks at the cluster: not said again
        job.send_signal(signal.SIGINT)
        assert job.wait(timeout=30) == 130
        reader.join(timeout=10)
        rest = b"".join(lines.queue).decode()
        assert rest == "lime-explain: interrupted\n"
    finally:
        if job is not None and job.poll() is None:
            job.kill()
            job.wait(timeout=30)
        stop(scheduler)


@pytest.mark.slow
def test_a_local_cluster_is_silent_when_the_dashboards_port_is_taken(data, tmp_path):
    """Dask's scheduler hosts an HTTP server even without a dashboard, on 8787 unless
    told: with 8787 taken, a local cluster printed Dask's four-line UserWarning.
    Now it takes a free port, and the run's stderr is empty."""
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:  # something else holds it already: the same situation
        pass
    try:
        argv = tabular(data, "fast.joblib", tmp_path / "o.jsonl", "--scheduler", "local:2")
        done = subprocess.run(
            [sys.executable, "-m", "lime_cli", *argv], env=ENV, cwd=str(TESTS),
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    finally:
        holder.close()
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert lines_in(tmp_path / "o.jsonl") == 320
