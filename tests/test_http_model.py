"""Models served over HTTP, against a server the tests run (see ``_fake_server``).

Every misbehaviour ends in a result or in one line on stderr with exit 4, no
traceback, and no output file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import traceback
from pathlib import Path

import numpy as np
import pytest
from _fake_server import CLASSES, FakeServer, spam_probability
from click.testing import CliRunner

from lime_cli.cli import cli

DOC = "win a prize now win big or stay home and read the minutes of the meeting"
ARGS = ["--seed", "3", "--num-samples", "200", "--format", "json", "--quiet"]


@pytest.fixture(scope="module")
def server():
    with FakeServer() as s:
        yield s


@pytest.fixture(autouse=True)
def fresh_models():
    """Loaded models are cached per process; the environment's headers are read on load."""
    from lime_cli.run import settings

    settings._LOADED_MODELS.clear()
    yield
    settings._LOADED_MODELS.clear()


@pytest.fixture
def doc(tmp_path: Path) -> str:
    path = tmp_path / "doc.txt"
    path.write_text(DOC + "\n")
    return str(path)


def run(*args: str, env: dict | None = None):
    base = {"LIME_EXPLAIN_TOKEN": None, "LIME_EXPLAIN_HEADERS_FILE": None}
    return CliRunner().invoke(cli, list(args), env={**base, **(env or {})})


def explain(server: FakeServer, name: str, doc: str, *extra: str, env: dict | None = None):
    return run("text", "--model", f"{server.url}/v2/models/{name}", *ARGS, *extra, doc, env=env)


def one_line_model_error(result, *fragments: str) -> str:
    assert result.exit_code == 4, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def weights(result) -> dict:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    record = json.loads(result.stdout)
    return {
        "prediction": record["prediction"],
        "features": [(f["feature"], f["weight"]) for f in record["explanations"][0]["features"]],
    }


# -- the protocol ---------------------------------------------------------------


def test_v2_explains_with_class_names_and_endpoint_from_metadata(server, doc):
    result = explain(server, "ok", doc)
    record = json.loads(result.stdout)
    assert result.exit_code == 0, result.stderr
    assert record["model"]["endpoint"] == f"{server.url}/v2/models/ok"
    assert record["model"]["protocol"] == "v2"
    assert record["model"]["classes"] == CLASSES
    assert record["prediction"]["predicted"] == "spam"
    expected = spam_probability([DOC])[0, 1]
    assert record["prediction"]["probabilities"]["spam"] == pytest.approx(expected, abs=1e-3)
    assert record["explanations"][0]["features"][0]["feature"] == "win"


def test_mlflow_protocol_is_detected_from_the_server(server, doc):
    result = run("text", "--model", server.url, "--class-names", "ham,spam", *ARGS, doc)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["model"]["protocol"] == "mlflow"
    assert record["explanations"][0]["features"][0]["feature"] == "win"
    v2 = explain(server, "ok", doc)
    assert weights(result) == weights(v2)  # the same model behind two protocols


def test_batches_and_concurrency_split_requests_without_changing_the_result(server, doc):
    server.requests.clear()
    one = explain(server, "ok", doc, "--batch-size", "30", "--concurrency", "1")
    sizes_one = [r["n"] for r in server.requests]
    server.requests.clear()
    four = explain(server, "ok", doc, "--batch-size", "30", "--concurrency", "4")
    sizes_four = [r["n"] for r in server.requests]
    assert weights(one) == weights(four)
    assert max(sizes_one) <= 30 and max(sizes_four) <= 30
    assert sum(sizes_one) == sum(sizes_four) == 200


def test_worker_processes_each_connect_and_agree(server, doc, tmp_path):
    second = tmp_path / "second.txt"
    second.write_text("nothing to see here, just minutes\n")
    url = f"{server.url}/v2/models/ok"
    single = run("text", "--model", url, *ARGS, doc, str(second))
    jobs = run("text", "--model", url, *ARGS, "--jobs", "2", doc, str(second))
    assert single.exit_code == 0 and jobs.exit_code == 0, jobs.stderr
    assert single.stdout == jobs.stdout


def test_compare_a_local_callable_with_the_served_model(server, doc, tmp_path, monkeypatch):
    (tmp_path / "localspam.py").write_text(
        "from _fake_server import spam_probability\n"
        "def predict(texts):\n    return spam_probability(texts)\n"
    )
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "report.json"
    result = run(
        "compare", "text", "--model", "localspam:predict", "--model",
        f"{server.url}/v2/models/ok", "--class-names", "ham,spam", "--seed", "3",
        "--num-samples", "200", "--quiet", "--out", str(report), doc,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    text = report.read_text()
    assert f"{server.url}/v2/models/ok" in text and "localspam:predict" in text


# -- misbehaviour ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["busy", "limited", "drop-once"])
def test_a_failed_request_is_sent_again_and_nothing_is_dropped(name, doc):
    with FakeServer() as fresh:
        good = explain(fresh, "ok", doc)
        result = explain(fresh, name, doc)
        assert weights(result) == weights(good)
        assert fresh.counts[name] > 1


def test_slow_answers_within_the_timeout_are_waited_for(server, doc):
    assert weights(explain(server, "slow", doc, "--num-samples", "20")) is not None


def test_slow_answers_past_the_timeout_are_a_model_error(server, doc, tmp_path):
    out = tmp_path / "out.json"
    result = explain(server, "slow", doc, "--timeout", "0.3", "--out", str(out))
    one_line_model_error(result, "no answer within 0.3 s")
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("drop", "closed the connection without answering (5 attempts)"),
        ("malformed", "not JSON"),
        ("wrong-shape", "for a batch of"),
        ("three-classes", "3 scores per input"),
        ("labels", "holds strings"),
        ("huge", "1024.0 MiB"),
        ("huge-stream", "more than the"),
        ("error", "HTTP 500: model exploded: division by zero"),
        ("nan", "NaN"),
    ],
)
def test_misbehaving_server_is_one_model_error(server, doc, tmp_path, name, fragment):
    out = tmp_path / "out.json"
    result = explain(server, name, doc, "--out", str(out))
    one_line_model_error(result, fragment)
    assert not out.exists()


def test_unknown_model_and_closed_port_are_model_errors(server, doc):
    one_line_model_error(explain(server, "nosuch", doc), "no such model (HTTP 404)")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run("text", "--model", f"http://127.0.0.1:{port}/v2/models/m", *ARGS, doc)
    one_line_model_error(result, "connection refused")


# -- credentials ------------------------------------------------------------------


def test_token_is_sent_and_never_shown(server, doc):
    secret = "s3cr3t-token-value"
    server.requests.clear()
    result = explain(server, "ok", doc, env={"LIME_EXPLAIN_TOKEN": secret})
    assert result.exit_code == 0
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {secret}"
    assert secret not in result.stdout + result.stderr
    failed = explain(server, "error", doc, env={"LIME_EXPLAIN_TOKEN": secret})
    assert failed.exit_code == 4 and secret not in failed.stdout + failed.stderr
    debug = explain(server, "error", doc, "--debug", env={"LIME_EXPLAIN_TOKEN": secret})
    shown = "".join(traceback.format_exception(debug.exception)) if debug.exception else ""
    assert "HTTP 500" in shown + debug.stderr
    assert secret not in shown + debug.stdout + debug.stderr


def test_headers_file_and_credentials_in_the_url(server, doc, tmp_path):
    headers = tmp_path / "headers"
    headers.write_text("# for the gateway\nX-Api-Key: k-12345\n")
    server.requests.clear()
    result = explain(server, "ok", doc, env={"LIME_EXPLAIN_HEADERS_FILE": str(headers)})
    assert result.exit_code == 0, result.stderr
    assert server.requests[-1]["headers"]["X-Api-Key"] == "k-12345"
    url = server.url.replace("http://", "http://user:hunter2@") + "/v2/models/ok"
    refused = run("text", "--model", url, *ARGS, doc)
    assert refused.exit_code == 2 and "hunter2" not in refused.stderr
    assert "credentials in the model URL are refused" in refused.stderr


def test_http_options_need_a_served_model(doc, tmp_path):
    (tmp_path / "m.py").write_text("def f(x):\n    return [[0.5, 0.5]] * len(x)\n")
    result = run("text", "--model", f"{tmp_path / 'm.py'}:f", "--concurrency", "2", doc)
    assert result.exit_code == 2
    assert "--concurrency applies to a served model" in result.stderr


# -- every command ----------------------------------------------------------------


def test_pick_with_workers_and_concurrency(server, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i, text in enumerate(["win win now", "meeting minutes", "win a prize", "the news"]):
        (folder / f"d{i}.txt").write_text(text + "\n")
    server.requests.clear()
    result = run("pick", "text", "-B", "2", "--model", f"{server.url}/v2/models/ok", "--seed",
                 "1", "--num-samples", "100", "--jobs", "2", "--concurrency", "2",
                 "--batch-size", "20", "--quiet", "--out", str(tmp_path / "pick.json"),
                 str(folder))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert {r["n"] for r in server.requests} == {20}
    assert len(json.loads((tmp_path / "pick.json").read_text())["picked"]) == 2


def test_an_image_model_takes_the_tensor_its_metadata_describes(server, tmp_path):
    from PIL import Image

    picture = np.zeros((40, 40, 3), np.uint8)
    picture[:, :20] = 230
    Image.fromarray(picture).save(tmp_path / "half.png")
    result = run("image", "--model", f"{server.url}/v2/models/image", "--segmenter", "slic",
                 "--segments", "4", *ARGS, str(tmp_path / "half.png"))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["model"]["classes"] == ["dark", "bright"]
    assert record["model"]["preprocessing"]["crop"] == "16x16"


# -- TLS --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
         cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_https_verifies_the_certificate(certificate, doc):
    with FakeServer(tls=certificate) as secure:
        url = f"{secure.url}/v2/models/ok"
        refused = run("text", "--model", url, *ARGS, doc, env={"SSL_CERT_FILE": None})
        one_line_model_error(refused, "TLS failed", "CERTIFICATE_VERIFY_FAILED")
        from lime_cli.run import settings

        settings._LOADED_MODELS.clear()
        trusted = run("text", "--model", url, *ARGS, doc, env={"SSL_CERT_FILE": certificate[0]})
        assert trusted.exit_code == 0, trusted.stderr
        assert json.loads(trusted.stdout)["model"]["endpoint"].startswith("https://")
