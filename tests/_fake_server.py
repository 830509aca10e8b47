"""A model server the tests run themselves, in a thread, that can misbehave on purpose.

It speaks the Open Inference Protocol (``/v2/models/NAME``) and MLflow's
``/invocations`` for one text model: class ``spam`` with probability
``sigmoid(2 * count('win') - 1)``. The model NAME picks the behaviour (see
``BEHAVIOURS``); ``/invocations`` always behaves. Every request is recorded
(path, number of samples, headers) so tests can see what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

CLASSES = ["ham", "spam"]

BEHAVIOURS = (
    "ok",  # answers well
    "slow",  # waits SLOW seconds before each answer
    "busy",  # 503 to the first two inference requests, then answers well
    "limited",  # 429 with Retry-After: 0 once, then answers well
    "drop",  # closes the connection without answering, every time
    "drop-once",  # closes the connection once, then answers well
    "malformed",  # answers 200 with a body that is not JSON
    "wrong-shape",  # answers one row fewer than it was asked for
    "three-classes",  # answers 3 columns while its metadata names 2 classes
    "labels",  # answers BYTES labels instead of probabilities
    "huge",  # announces a 1 GiB body
    "huge-stream",  # streams 40 MiB with no Content-Length
    "error",  # 500 with a JSON error message
    "nan",  # answers NaN probabilities
    "image",  # an image model: FP32 (n, 16, 16, 3) pixels; P(bright) = left half's brightness
)
SLOW = 1.5


def spam_probability(texts: list[str]) -> np.ndarray:
    counts = np.array([t.lower().split().count("win") for t in texts], dtype=float)
    p = 1.0 / (1.0 + np.exp(-(2.0 * counts - 1.0)))
    return np.column_stack([1.0 - p, p])


class FakeServer:
    """``with FakeServer() as server: server.url`` -> ``http://127.0.0.1:PORT``."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate file, key file) to serve https."""
        self.requests: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                owner.handle(self, "GET", b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                owner.handle(self, "POST", self.rfile.read(length))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # Clients that give up (timeouts, refused huge answers) break pipes: not news.
        self.httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        scheme = "http"
        if tls is not None:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    # -- handling -----------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, method: str, body: bytes) -> None:
        path = h.path
        headers = dict(h.headers.items())
        if path == "/ping":
            return _send(h, 200, b"\n", "text/plain")
        if path == "/invocations" and method == "POST":
            texts = json.loads(body)["inputs"]
            self._record(path, len(texts), headers, len(body))
            probs = spam_probability(texts)
            return _send(h, 200, json.dumps({"predictions": probs.tolist()}).encode())
        parts = path.strip("/").split("/")
        if len(parts) < 3 or parts[:2] != ["v2", "models"] or parts[2] not in BEHAVIOURS:
            return _send(h, 404, json.dumps({"error": f"no model at {path}"}).encode())
        behaviour = parts[2]
        if method == "GET" and len(parts) == 3:
            return _send(h, 200, json.dumps(_metadata(behaviour)).encode())
        if method != "POST" or parts[3:] != ["infer"]:
            return _send(h, 404, b'{"error": "not found"}')
        request = json.loads(body)
        if behaviour == "image":
            tensor = request["inputs"][0]
            pixels = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
            self._record(path, len(pixels), headers, len(body))
            left = pixels[:, :, :8].mean(axis=(1, 2, 3)) / 255.0
            probs = np.column_stack([1 - left, left])
            output = {"name": "predict_proba", "datatype": "FP64", "shape": list(probs.shape),
                      "data": probs.ravel().tolist()}  # fmt: skip
            return _send(h, 200, json.dumps({"outputs": [output]}).encode())
        texts = request["inputs"][0]["data"]
        self._record(path, len(texts), headers, len(body))
        with self._lock:
            seen = self.counts[behaviour] = self.counts.get(behaviour, 0) + 1
        if behaviour == "slow":
            time.sleep(SLOW)
        if behaviour == "busy" and seen <= 2:
            return _send(h, 503, b'{"error": "warming up"}')
        if behaviour == "limited" and seen == 1:
            return _send(h, 429, b'{"error": "slow down"}', extra={"Retry-After": "0"})
        if behaviour == "drop" or (behaviour == "drop-once" and seen == 1):
            h.close_connection = True
            h.connection.close()
            return None
        if behaviour == "malformed":
            return _send(h, 200, b"<html>upstream error</html>")
        if behaviour == "error":
            return _send(h, 500, b'{"error": "model exploded: division by zero"}')
        if behaviour == "huge":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(2**30))
            h.end_headers()
            h.wfile.write(b"[" * 1024)
            h.close_connection = True
            return None
        if behaviour == "huge-stream":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Connection", "close")
            h.end_headers()
            chunk = b" " * (1 << 20)
            try:
                for _ in range(40):
                    h.wfile.write(chunk)
            except OSError:
                pass  # the client stopped reading, as it should
            h.close_connection = True
            return None
        probs = spam_probability(texts)
        if behaviour == "wrong-shape":
            probs = probs[:-1]
        if behaviour == "three-classes":
            probs = np.column_stack([probs, np.zeros(len(probs))])
        if behaviour == "nan":
            probs[:] = np.nan
        output: dict[str, Any] = {
            "name": "predict_proba",
            "datatype": "FP64",
            "shape": list(probs.shape),
            "data": [None if v != v else v for v in probs.ravel().tolist()],
        }
        if behaviour == "labels":
            labels = [CLASSES[int(p[1] > 0.5)] for p in probs]
            output = {"name": "predict_proba", "datatype": "BYTES", "shape": [len(labels)],
                      "data": labels}  # fmt: skip
        return _send(h, 200, json.dumps({"model_name": behaviour, "outputs": [output]}).encode())

    def _record(self, path: str, n: int, headers: dict[str, str], size: int) -> None:
        with self._lock:
            self.requests.append({"path": path, "n": n, "headers": headers, "bytes": size})


def _metadata(name: str) -> dict[str, Any]:
    if name == "image":
        return {
            "name": name,
            "inputs": [{"name": "pixels", "datatype": "FP32", "shape": [-1, 16, 16, 3]}],
            "outputs": [{"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2],
                         "parameters": {"class_names": ["dark", "bright"]}}],
        }  # fmt: skip
    return {
        "name": name,
        "platform": "fake",
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [-1]},
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": [-1, 2],
                "parameters": {"class_names": CLASSES},
            },
        ],
    }


def _send(
    h: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    extra: dict[str, str] | None = None,
) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    for key, value in (extra or {}).items():
        h.send_header(key, value)
    h.end_headers()
    h.wfile.write(body)
