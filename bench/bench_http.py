"""HTTP benchmark: the cost of explaining a served model instead of the model file.

Starts MLServer (``make servers``) on 127.0.0.1 serving the sample text and
tabular models (Open Inference Protocol), then, for one explanation of 5000
samples each:

- lime-explain with the model file, in process;
- lime-explain with the served model, ``--concurrency 1`` and ``4``
  (``--batch-size`` samples per request, default 500);
- lime 0.2.0.1 with a ``predict_proba`` that posts its whole batch to the same
  server, the way lime users wrap an endpoint today.

Reports the median wall-clock of ``--repeat`` runs (whole command, in process:
reading the input and the model's answers included, interpreter start-up
excluded), requests sent (the metadata GET included) and bytes sent.

    .venv/bin/python bench/bench_http.py [--repeat 3] [--num-samples 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
MLSERVER = ROOT / ".venv-mlserver" / "bin" / "mlserver"
TEXT_DOC = ROOT / "sample_data" / "text" / "sports_506.txt"
TRAIN = ROOT / "sample_data" / "tabular" / "breast_cancer_train.csv"
TEST = ROOT / "sample_data" / "tabular" / "breast_cancer_test.csv"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mlserver() -> tuple[subprocess.Popen, str]:
    if not MLSERVER.exists():
        sys.exit(f"{MLSERVER} is missing: run `make servers`")
    http = free_port()
    env = {
        **os.environ,
        "MLSERVER_HTTP_PORT": str(http),
        "MLSERVER_GRPC_PORT": str(free_port()),
        "MLSERVER_METRICS_PORT": str(free_port()),
    }
    log = open(Path(tempfile.gettempdir()) / "bench_http_mlserver.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [str(MLSERVER), "start", "."], cwd=ROOT / "sample_models" / "served" / "mlserver",
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{http}"
    for _ in range(480):
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.25)
    stop(process)
    sys.exit("MLServer did not start in 120 s")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


def lime_explain(args: list[str]) -> tuple[float, int, int]:
    """(seconds, requests, bytes sent) of one in-process run of the CLI."""
    from lime_cli.cli import cli
    from lime_cli.run import settings

    settings._LOADED_MODELS.clear()
    t0 = time.perf_counter()
    result = CliRunner().invoke(cli, args)
    seconds = time.perf_counter() - t0
    if result.exit_code != 0:
        raise SystemExit(f"lime-explain failed: {result.stderr}")
    requests = sent = 0
    for model in settings._LOADED_MODELS.values():
        transport = getattr(model, "transport", None)
        if transport is not None:
            requests, sent = transport.requests, transport.bytes_sent
    return seconds, requests, sent


class Poster:
    """A lime ``classifier_fn`` that posts its batch to an Open Inference Protocol server."""

    def __init__(self, url: str, kind: str) -> None:
        self.url = url + "/infer"
        self.kind = kind
        self.requests = 0
        self.sent = 0

    def __call__(self, batch):
        if self.kind == "text":
            tensor = {"name": "text", "datatype": "BYTES", "shape": [len(batch)],
                      "data": list(batch), "parameters": {"content_type": "str"}}  # fmt: skip
        else:
            array = np.asarray(batch, dtype=np.float64)
            tensor = {"name": "measurements", "datatype": "FP64", "shape": list(array.shape),
                      "data": array.ravel().tolist()}  # fmt: skip
        body = json.dumps({"inputs": [tensor], "outputs": [{"name": "predict_proba"}]}).encode()
        self.requests += 1
        self.sent += len(body)
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as answer:
            out = json.loads(answer.read())["outputs"][0]
        return np.asarray(out["data"], dtype=np.float64).reshape(out["shape"])


def lime_text(url: str, num_samples: int, seed: int) -> tuple[float, int, int]:
    from lime.lime_text import LimeTextExplainer

    poster = Poster(url, "text")
    t0 = time.perf_counter()
    explainer = LimeTextExplainer(random_state=seed)
    text = TEXT_DOC.read_text()
    first = poster([text])
    explainer.explain_instance(text, poster, labels=(int(first.argmax()),), num_samples=num_samples)
    return time.perf_counter() - t0, poster.requests, poster.sent


def lime_tabular(url: str, num_samples: int, seed: int) -> tuple[float, int, int]:
    from lime.lime_tabular import LimeTabularExplainer

    poster = Poster(url, "tabular")
    t0 = time.perf_counter()
    train = pd.read_csv(TRAIN)
    test = pd.read_csv(TEST)
    features = [c for c in train.columns if c != "diagnosis"]
    explainer = LimeTabularExplainer(
        train[features].to_numpy(), feature_names=features,
        class_names=["benign", "malignant"], discretize_continuous=True, random_state=seed,
    )  # fmt: skip
    row = test[features].to_numpy()[0]
    first = poster(row[None, :])
    explainer.explain_instance(row, poster, labels=(int(first.argmax()),), num_samples=num_samples)
    return time.perf_counter() - t0, poster.requests, poster.sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--num-samples", type=int, default=5000)
    args = parser.parse_args()
    n = str(args.num_samples)
    process, url = start_mlserver()
    try:
        cases = {
            "text": (
                ["text", "--seed", "7", "--num-samples", n, "--quiet", str(TEXT_DOC)],
                str(ROOT / "sample_models" / "bbc_rf.joblib"),
                f"{url}/v2/models/bbc-text",
                lime_text,
            ),
            "tabular": (
                [
                    "tabular",
                    "--seed",
                    "7",
                    "--num-samples",
                    n,
                    "--quiet",
                    "--train",
                    str(TRAIN),
                    "--target",
                    "diagnosis",
                    "--row",
                    "0",
                    str(TEST),
                ],  # fmt: skip
                str(ROOT / "sample_models" / "breast_cancer_rf.joblib"),
                f"{url}/v2/models/breast-cancer",
                lime_tabular,
            ),
        }
        print(f"{args.num_samples} samples, median of {args.repeat}; MLServer at {url}")
        print(f"{'modality':8} {'how':38} {'seconds':>8} {'requests':>8} {'MiB sent':>9}")
        for modality, (base, path, endpoint, lime_run) in cases.items():
            runs = {
                "lime-explain, model file": [*base, "--model", path],
                "lime-explain, HTTP, concurrency 1": [*base, "--model", endpoint,
                                                      "--concurrency", "1"],
                "lime-explain, HTTP, concurrency 4": [*base, "--model", endpoint,
                                                      "--concurrency", "4"],
                "lime-explain, HTTP, --batch-size 5000": [*base, "--model", endpoint,
                                                          "--batch-size", "5000"],
            }  # fmt: skip
            lime_explain(runs["lime-explain, HTTP, concurrency 1"])  # warm the server
            for how, cli_args in runs.items():
                results = [lime_explain(cli_args) for _ in range(args.repeat)]
                report(modality, how, results)
            results = [lime_run(endpoint, args.num_samples, 7) for _ in range(args.repeat)]
            report(modality, "lime 0.2.0.1, predict_proba posts", results)
    finally:
        stop(process)
    return 0


def report(modality: str, how: str, results: list[tuple[float, int, int]]) -> None:
    seconds = statistics.median(r[0] for r in results)
    requests, sent = results[-1][1], results[-1][2]
    print(f"{modality:8} {how:38} {seconds:8.2f} {requests:8d} {sent / 2**20:9.2f}")


if __name__ == "__main__":
    sys.exit(main())
