"""The sample models served by real servers, explained over HTTP, agree with the files.

MLServer (scikit-learn runtime, Open Inference Protocol) and ``mlflow models
serve`` run from their own virtual environments, built by ``make servers``
(which ``make test`` runs). Each server listens on 127.0.0.1 on a free port,
is waited for with a bounded loop, and its process group is ended by pid
when the module's tests are done.

Without the environments these tests fail, naming the remedy: a skipped
server test would let CI pass without ever talking to a server. Set
``LIME_EXPLAIN_NO_SERVERS=1`` to skip them deliberately.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lime_cli.cli import cli

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "sample_models"
SERVED = MODELS / "served"
MLSERVER = REPO / ".venv-mlserver" / "bin" / "mlserver"
MLFLOW = REPO / ".venv-mlflow" / "bin" / "mlflow"
STARTUP_SECONDS = 120

TABULAR = [
    "--train", str(REPO / "sample_data/tabular/breast_cancer_train.csv"), "--target", "diagnosis",
    "--row", "0", "--row", "3", str(REPO / "sample_data/tabular/breast_cancer_test.csv"),
]  # fmt: skip
TEXT = [str(REPO / "sample_data/text/sports_506.txt")]
COMMON = ["--seed", "7", "--num-samples", "1000", "--format", "json", "--quiet"]

pytestmark = pytest.mark.skipif(
    os.environ.get("LIME_EXPLAIN_NO_SERVERS") == "1", reason="LIME_EXPLAIN_NO_SERVERS=1"
)


def _need(path: Path) -> None:
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make servers` (make test does)", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(command: list[str], cwd: Path, ready_url: str, log: Path, env: dict) -> Iterator[None]:
    """Start ``command`` in its own process group, wait until ``ready_url`` answers, stop it."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited ({process.returncode}): {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready in {STARTUP_SECONDS} s: {log.read_text()[-2000:]}")
            time.sleep(0.25)
        yield
    finally:
        # The server's own children (uvicorn workers) share its process group.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def mlserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _need(MLSERVER)
    _need(MODELS / "breast_cancer_rf.joblib")
    http, grpc, metrics = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "MLSERVER_HTTP_PORT": str(http),
        "MLSERVER_GRPC_PORT": str(grpc),
        "MLSERVER_METRICS_PORT": str(metrics),
    }
    url = f"http://127.0.0.1:{http}"
    log = tmp_path_factory.mktemp("mlserver") / "server.log"
    command = [str(MLSERVER), "start", "."]
    yield from _with_url(
        _serve(command, SERVED / "mlserver", f"{url}/v2/health/ready", log, env), url
    )


@pytest.fixture(scope="module")
def mlflow_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    _need(MLFLOW)
    _need(SERVED / "mlflow" / "breast-cancer" / "MLmodel")
    env = {**os.environ, "PATH": f"{MLFLOW.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    urls, servers = {}, []
    try:
        for name in ("breast-cancer", "bbc-text"):
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            log = tmp_path_factory.mktemp("mlflow") / "server.log"
            command = [
                str(MLFLOW), "models", "serve", "-m", str(SERVED / "mlflow" / name),
                "-h", "127.0.0.1", "-p", str(port), "--env-manager", "local",
            ]  # fmt: skip
            server = _serve(command, REPO, f"{url}/ping", log, env)
            next(server)
            servers.append(server)
            urls[name] = url
        yield urls
    finally:
        for server in servers:
            server.close()  # runs the finally block: the process group is ended


def _with_url(server: Iterator[None], url: str) -> Iterator[str]:
    next(server)
    try:
        yield url
    finally:
        server.close()


def explain(*args: str) -> list[dict]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    return [json.loads(line) for line in result.stdout.splitlines()]


def same_explanations(served: list[dict], local: list[dict]) -> None:
    assert len(served) == len(local)
    for a, b in zip(served, local):
        assert a["prediction"]["predicted"] == b["prediction"]["predicted"]
        for label_a, label_b in zip(a["explanations"], b["explanations"]):
            assert [f["feature"] for f in label_a["features"]] == [
                f["feature"] for f in label_b["features"]
            ]
            for fa, fb in zip(label_a["features"], label_b["features"]):
                assert fa["weight"] == pytest.approx(fb["weight"], abs=1e-9)


@pytest.fixture(autouse=True)
def fresh_models():
    from lime_cli.run import settings

    settings._LOADED_MODELS.clear()


def test_mlserver_tabular_matches_the_model_file(mlserver):
    local = explain("tabular", "--model", str(MODELS / "breast_cancer_rf.joblib"), *COMMON,
                    *TABULAR)  # fmt: skip
    served = explain("tabular", "--model", f"{mlserver}/v2/models/breast-cancer", *COMMON,
                     *TABULAR)  # fmt: skip
    same_explanations(served, local)
    model = served[0]["model"]
    assert model["protocol"] == "v2" and model["classes"] == ["benign", "malignant"]
    assert model["endpoint"] == f"{mlserver}/v2/models/breast-cancer"


def test_mlserver_text_with_concurrency_and_workers(mlserver):
    local = explain("text", "--model", str(MODELS / "bbc_rf.joblib"), *COMMON, *TEXT)
    served = explain("text", "--model", f"{mlserver}/v2/models/bbc-text", *COMMON,
                     "--batch-size", "100", "--concurrency", "4", "--jobs", "2", *TEXT)  # fmt: skip
    same_explanations(served, local)


def test_compare_the_file_with_the_deployed_model(mlserver, tmp_path):
    report = tmp_path / "report.json"
    result = CliRunner().invoke(cli, [
        "compare", "tabular", "--model", str(MODELS / "breast_cancer_rf.joblib"),
        "--model", f"{mlserver}/v2/models/breast-cancer", "--seed", "7", "--num-samples",
        "500", "--quiet", "--out", str(report), *TABULAR,
    ])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"{mlserver}/v2/models/breast-cancer" in report.read_text()


def test_mlflow_tabular_and_text_match_the_model_files(mlflow_servers):
    local = explain("tabular", "--model", str(MODELS / "breast_cancer_rf.joblib"), *COMMON,
                    *TABULAR)  # fmt: skip
    served = explain("tabular", "--model", mlflow_servers["breast-cancer"], "--class-names",
                     "benign,malignant", *COMMON, *TABULAR)  # fmt: skip
    same_explanations(served, local)
    assert served[0]["model"]["protocol"] == "mlflow"
    local_text = explain("text", "--model", str(MODELS / "bbc_rf.joblib"), *COMMON, *TEXT)
    served_text = explain("text", "--model", f"{mlflow_servers['bbc-text']}/invocations",
                          "--class-names", "business,entertainment,politics,sports,tech",
                          *COMMON, *TEXT)  # fmt: skip
    same_explanations(served_text, local_text)
