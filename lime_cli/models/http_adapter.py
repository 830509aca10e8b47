"""A model served over HTTP, as ``predict(batch) -> (n, k)``.

Two protocols:

``v2``
    The Open Inference Protocol (KServe v2), spoken by KServe, Triton,
    MLServer and others. ``--model http://host:port/v2/models/NAME`` (optionally
    ``/versions/V``): ``GET`` it for the metadata (input names, shapes and
    datatypes; outputs), ``POST .../infer`` to predict. One BYTES input takes
    text; one numeric input of rank 2 takes rows by position, of rank 4
    images; several inputs are a table, one input per column (sent with the
    request parameter ``content_type: pd``, as MLServer reads DataFrames).
    When the metadata lists outputs, the first whose name mentions ``prob``
    (MLServer's scikit-learn runtime names it ``predict_proba``) is asked for,
    else the first. Class names come from ``--class-names``, or from a
    ``class_names`` (or ``labels``) list in the output's or model's
    ``parameters``, or are the column numbers.
``mlflow``
    MLflow's scoring server (``mlflow models serve``): ``POST /invocations``
    with ``{"dataframe_split": ...}`` for tables and ``{"inputs": ...}`` for
    text and arrays; the answer's ``predictions`` are rows of scores, or
    records whose keys name the classes.

Without ``--protocol`` the URL tells (``/v2/models/`` or ``/invocations``), else
the server does (MLflow answers ``GET /ping``).

Each ``predict`` call is split into requests of ``request_size`` samples,
``concurrency`` of them in flight (threads, each with its own keep-alive
connection). A request that fails to connect, is dropped, or is answered 429
or 503 is sent again after an exponentially growing wait (or the server's
``Retry-After``, capped), up to ``http_defaults.ATTEMPTS`` times; then the whole
run stops with one model error: no batch is ever dropped. A request that
takes longer than ``timeout`` seconds is not retried (the server is slow, not
gone). Answers larger than ``RESPONSE_BASE_BYTES + n * RESPONSE_BYTES_PER_SAMPLE``
are refused without being read.

Credentials never appear in the command line: a bearer token from the
environment variable ``LIME_EXPLAIN_TOKEN``, or headers (``Name: value`` lines)
from the file that ``LIME_EXPLAIN_HEADERS_FILE`` names. User names and
passwords in the URL are refused; errors and the JSON show the URL without
its query string.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np

from lime_cli.engine.protocols import InputSpec
from lime_cli.errors import ModelError, UsageError
from lime_cli.models import http_defaults as D
from lime_cli.models.callable_adapter import to_outputs

TOKEN_VARIABLE = "LIME_EXPLAIN_TOKEN"
HEADERS_FILE_VARIABLE = "LIME_EXPLAIN_HEADERS_FILE"

#: Open Inference Protocol datatypes -> NumPy dtype names.
V2_DTYPES = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
}
_RETRY_STATUS = (429, 503)


class Transport:
    """Requests to one server: a keep-alive connection per thread, retries, bounded answers.

    ``requests`` and ``bytes_sent`` count what was sent (retries included),
    for the benchmark.
    """

    def __init__(self, url: str, timeout: float, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"{shown(url)}: not an http(s) URL with a host")
        if parts.username or parts.password:
            raise UsageError(
                "credentials in the model URL are refused (they would show in process lists "
                f"and logs); put them in ${TOKEN_VARIABLE} or a file named by "
                f"${HEADERS_FILE_VARIABLE}"
            )
        self.scheme = parts.scheme
        self.host = parts.hostname
        try:
            self.port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise UsageError(f"{shown(url)}: the port is not a number") from None
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        self.headers.update(headers)
        self.origin = f"{self.scheme}://{parts.netloc}"
        self._local = threading.local()
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes_sent = 0

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.scheme == "https":
                conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def request(
        self, method: str, path: str, body: bytes | None, *, limit: int, source: str
    ) -> tuple[int, bytes]:
        """(status, body) of the first answer that is not a connection failure, 429 or 503."""
        last = ""
        wait = D.FIRST_WAIT
        for attempt in range(D.ATTEMPTS):
            if attempt:
                time.sleep(wait)
                wait = min(wait * 2, D.MAX_WAIT)
            try:
                status, headers, data = self._once(method, path, body, limit, source)
            except ModelError:
                self._drop()
                raise
            except TimeoutError:
                self._drop()
                raise ModelError(
                    f"{source}: no answer within {self.timeout:g} s (raise --timeout, or send "
                    "smaller requests with --batch-size)"
                ) from None
            except ssl.SSLError as exc:
                self._drop()
                raise ModelError(f"{source}: TLS failed: {exc.reason or exc}") from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                last = _connection_problem(exc)
                continue
            if status in _RETRY_STATUS:
                last = f"answered HTTP {status}"
                asked = _retry_after(headers.get("retry-after"))
                if asked is not None:
                    wait = min(asked, D.MAX_WAIT)
                continue
            return status, data
        raise ModelError(f"{source}: {last} ({D.ATTEMPTS} attempts)")

    def _once(
        self, method: str, path: str, body: bytes | None, limit: int, source: str
    ) -> tuple[int, dict[str, str], bytes]:
        conn = self._connection()
        with self._lock:
            self.requests += 1
            self.bytes_sent += len(body or b"")
        conn.request(method, path, body=body, headers=self.headers)
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise ModelError(
                f"{source}: the answer is {_size(int(length))}, more than the "
                f"{_size(limit)} allowed for this request"
            )
        data = response.read(limit + 1)
        if len(data) > limit:
            raise ModelError(
                f"{source}: the answer is more than the {_size(limit)} allowed for this request"
            )
        return response.status, headers, data


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _connection_problem(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection dropped in the middle of the answer"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "the connection was reset"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot connect: {exc.strerror}"
    return f"connection failed: {type(exc).__name__}"


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n} bytes"


def shown(url: str) -> str:
    """The URL as errors and the JSON show it: no user info, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _headers_from_environment() -> dict[str, str]:
    headers: dict[str, str] = {}
    path = os.environ.get(HEADERS_FILE_VARIABLE)
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError as exc:
            raise UsageError(
                f"${HEADERS_FILE_VARIABLE}: cannot read {path}: {exc.strerror}"
            ) from None
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                # The line may hold a secret: say where, never what.
                raise UsageError(f"{path}: line {number} is not 'Name: value'")
            headers[name.strip()] = value.strip()
    token = os.environ.get(TOKEN_VARIABLE)
    if token:
        headers["Authorization"] = f"Bearer {token.strip()}"
    return headers


def _error_detail(data: bytes) -> str:
    """A short, one-line reason from an error answer's body."""
    text = data[:2000].decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("error", "message", "detail", "error_code"):
            if parsed.get(key):
                text = str(parsed[key])
                break
    text = " ".join(text.split())
    return text[:200] + ("..." if len(text) > 200 else "")


def _json(data: bytes, source: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        snippet = " ".join(data[:80].decode("utf-8", "replace").split())
        raise ModelError(f"{source}: the answer is not JSON (it starts {snippet!r})") from None


class HttpModel:
    """Adapter around a served model; see the module docstring for the protocols."""

    def __init__(
        self,
        url: str,
        protocol: str,
        transport: Transport,
        *,
        mode: str | None,
        class_names: list[str] | None,
        concurrency: int,
        request_size: int,
    ) -> None:
        self.url = url
        self.source = shown(url)
        self.protocol = protocol
        self.transport = transport
        self.mode = mode or "classification"
        self.classes: list[str] = (
            list(class_names) if class_names else (["value"] if self.mode == "regression" else [])
        )
        self._fixed_classes = class_names is not None
        self.concurrency = concurrency
        self.request_size = request_size
        self.output: str | None = None
        self.metadata: dict[str, Any] = {}
        self.output_name: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._spec = InputSpec("unknown", None, (None, None))

    # -- connecting ---------------------------------------------------------
    @classmethod
    def connect(
        cls,
        url: str,
        *,
        mode: str | None = None,
        class_names: list[str] | None = None,
        protocol: str | None = None,
        concurrency: int = D.CONCURRENCY,
        timeout: float = D.TIMEOUT,
        request_size: int = D.BATCH_SIZE,
    ) -> HttpModel:
        """Detect the protocol (unless given), read the metadata, and check the server answers."""
        transport = Transport(url, timeout, _headers_from_environment())
        path = urlsplit(url).path.rstrip("/")
        if protocol is None:
            protocol = _detect(transport, url, path)
        model = cls(
            url,
            protocol,
            transport,
            mode=mode,
            class_names=class_names,
            concurrency=concurrency,
            request_size=request_size,
        )
        if protocol == "v2":
            model._read_v2_metadata(path)
        else:
            model._check_mlflow(path)
        return model

    def _read_v2_metadata(self, path: str) -> None:
        if "/v2/models/" not in path + "/":
            raise UsageError(
                f"{self.source}: name the model for the Open Inference Protocol: "
                f"{self.transport.origin}/v2/models/NAME"
            )
        self.model_path = quote(path)
        status, data = self.transport.request(
            "GET", self.model_path, None, limit=D.RESPONSE_BASE_BYTES, source=self.source
        )
        if status == 404:
            raise ModelError(f"{self.source}: the server has no such model (HTTP 404)")
        if status != 200:
            raise ModelError(f"{self.source}: metadata: HTTP {status}: {_error_detail(data)}")
        meta = _json(data, self.source)
        if not isinstance(meta, dict):
            raise ModelError(f"{self.source}: the model metadata is not a JSON object")
        self.metadata = meta
        inputs = [i for i in meta.get("inputs") or [] if isinstance(i, dict) and i.get("name")]
        outputs = [o for o in meta.get("outputs") or [] if isinstance(o, dict) and o.get("name")]
        self.inputs = inputs
        if outputs:
            chosen = next((o for o in outputs if "prob" in str(o["name"]).lower()), outputs[0])
            self.output_name = str(chosen["name"])
            names = _class_names(chosen.get("parameters")) or _class_names(meta.get("parameters"))
            if names and not self.classes:
                self.classes = names
        self._spec = _v2_input_spec(inputs)

    def _check_mlflow(self, path: str) -> None:
        base = path[: -len("/invocations")] if path.endswith("/invocations") else path
        self.model_path = quote(base + "/invocations")
        self._spec = InputSpec("unknown", None, (None, None))

    # -- the Model protocol ---------------------------------------------------
    @property
    def input_spec(self) -> InputSpec:
        return self._spec

    def predict(self, batch: Any) -> np.ndarray:
        """Scores for ``batch`` (n inputs), asked in requests of ``request_size`` samples."""
        n = len(batch)
        chunks = [(s, min(n, s + self.request_size)) for s in range(0, n, self.request_size)]
        if len(chunks) == 1 or self.concurrency == 1:
            parts = [self._ask(_rows(batch, a, b)) for a, b in chunks]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, "lime-explain-http")
            futures = [self._pool.submit(self._ask, _rows(batch, a, b)) for a, b in chunks]
            try:
                parts = [f.result() for f in futures]  # in order; the first failure is raised
            except BaseException:
                for future in futures:  # the run stops: send nothing more
                    future.cancel()
                raise
        raw = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        return to_outputs(self, raw, n, source=self.source)

    def _ask(self, rows: Any) -> np.ndarray:
        n = len(rows)
        if self.protocol == "v2":
            body = json.dumps(self._v2_request(rows)).encode()
            path = self.model_path + "/infer"
        else:
            body = _mlflow_request(rows)
            path = self.model_path
        limit = D.RESPONSE_BASE_BYTES + n * D.RESPONSE_BYTES_PER_SAMPLE
        status, data = self.transport.request("POST", path, body, limit=limit, source=self.source)
        if status != 200:
            raise ModelError(f"{self.source}: HTTP {status}: {_error_detail(data)}")
        answer = _json(data, self.source)
        if self.protocol == "v2":
            return self._v2_answer(answer, n)
        return self._mlflow_answer(answer, n)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.source,
            "endpoint": self.source,
            "format": "http",
            "protocol": self.protocol,
            "mode": self.mode,
            "classes": list(self.classes),
            "output": self.output or "probabilities",
        }
        if self.protocol == "v2":
            out["type"] = str(self.metadata.get("platform") or self.metadata.get("name") or "")
            if self.output_name:
                out["output_name"] = self.output_name
        out["request_size"] = self.request_size
        out["concurrency"] = self.concurrency
        return out

    def __getstate__(self) -> dict[str, Any]:
        # Never pickled with open connections or threads: workers load the model
        # from its ModelSpec; this only keeps an accidental copy from failing.
        state = dict(self.__dict__)
        state["_pool"] = None
        state["transport"] = Transport(self.url, self.transport.timeout, self.transport.headers)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # -- the Open Inference Protocol -------------------------------------------
    def _v2_request(self, rows: Any) -> dict[str, Any]:
        n = len(rows)
        inputs = self.inputs
        request: dict[str, Any] = {}
        if isinstance(rows, list):  # text
            meta = inputs[0] if inputs else {"name": "input-0"}
            rank = len(meta.get("shape") or [-1])
            tensors = [
                {
                    "name": meta["name"],
                    "datatype": "BYTES",
                    "shape": [n, 1] if rank == 2 else [n],
                    "data": [str(t) for t in rows],
                    "parameters": {"content_type": "str"},
                }
            ]
        elif _is_frame(rows):
            tensors = [_column_tensor(str(c), rows[c], _meta_for(inputs, str(c))) for c in rows]
            request["parameters"] = {"content_type": "pd"}
        else:
            array = np.asarray(rows)
            if array.dtype == object or len(inputs) > 1:
                if array.ndim != 2 or (inputs and len(inputs) != array.shape[1]):
                    raise ModelError(
                        f"{self.source}: the model's metadata lists {len(inputs)} inputs; "
                        f"cannot send rows of {array.shape[1] if array.ndim == 2 else '?'} values"
                    )
                names = [str(i["name"]) for i in inputs] or [
                    f"input-{j}" for j in range(array.shape[1])
                ]
                tensors = [
                    _column_tensor(name, array[:, j], _meta_for(inputs, name))
                    for j, name in enumerate(names)
                ]
                request["parameters"] = {"content_type": "pd"}
            else:
                meta = inputs[0] if inputs else {"name": "input-0"}
                datatype = str(meta.get("datatype") or _v2_datatype(array.dtype))
                dtype = V2_DTYPES.get(datatype, "float64")
                array = array.astype(dtype, copy=False)
                tensors = [
                    {
                        "name": meta["name"],
                        "datatype": datatype,
                        "shape": list(array.shape),
                        "data": array.ravel().tolist(),
                    }
                ]
        request["inputs"] = tensors
        if self.output_name:
            request["outputs"] = [{"name": self.output_name}]
        return request

    def _v2_answer(self, answer: Any, n: int) -> np.ndarray:
        outputs = answer.get("outputs") if isinstance(answer, dict) else None
        if not isinstance(outputs, list) or not outputs:
            raise ModelError(f"{self.source}: the answer has no 'outputs' list")
        chosen = next(
            (o for o in outputs if isinstance(o, dict) and o.get("name") == self.output_name),
            outputs[0],
        )
        if not isinstance(chosen, dict) or "data" not in chosen:
            raise ModelError(f"{self.source}: the answer's output has no 'data'")
        if chosen.get("datatype") == "BYTES":
            raise ModelError(
                f"{self.source}: output {chosen.get('name')!r} holds strings (labels?), not "
                "scores; serve class probabilities"
            )
        data = chosen["data"]
        shape = chosen.get("shape")
        try:
            values = np.asarray(data, dtype=np.float64)
            if isinstance(shape, list) and values.ndim == 1:
                values = values.reshape([int(s) for s in shape])
        except (TypeError, ValueError):
            raise ModelError(
                f"{self.source}: output {chosen.get('name')!r} does not hold {shape} numbers"
            ) from None
        if values.ndim == 1 and values.shape[0] != n:
            raise ModelError(f"{self.source}: answered {values.shape[0]} values for {n} inputs")
        if values.ndim == 1 and self.mode != "regression":
            raise ModelError(
                f"{self.source}: output {chosen.get('name')!r} has one value per input "
                "(labels?), not class probabilities; serve predict_proba"
            )
        return values

    def _mlflow_answer(self, answer: Any, n: int) -> np.ndarray:
        predictions = answer.get("predictions") if isinstance(answer, dict) else answer
        if isinstance(predictions, dict):  # a DataFrame by columns
            keys = list(predictions)
            columns = [predictions[k] for k in keys]
            self._name_classes(keys)
            try:
                return np.asarray(columns, dtype=np.float64).T
            except (TypeError, ValueError):
                raise ModelError(f"{self.source}: the predictions are not numbers") from None
        if not isinstance(predictions, list):
            raise ModelError(f"{self.source}: the answer has no 'predictions' list")
        if predictions and all(isinstance(p, dict) for p in predictions):  # records
            keys = list(predictions[0])
            self._name_classes(keys)
            try:
                return np.asarray([[p[k] for k in keys] for p in predictions], dtype=np.float64)
            except (KeyError, TypeError, ValueError):
                raise ModelError(f"{self.source}: the prediction records disagree") from None
        return predictions  # type: ignore[return-value]  # checked by to_outputs

    def _name_classes(self, keys: list[str]) -> None:
        if not self.classes and self.mode != "regression":
            self.classes = [str(k) for k in keys]


def _detect(transport: Transport, url: str, path: str) -> str:
    if "/v2/models/" in path + "/":
        return "v2"
    if path.endswith("/invocations"):
        return "mlflow"
    source = shown(url)
    status, _ = transport.request("GET", quote(path + "/ping"), None, limit=65536, source=source)
    if status == 200:
        return "mlflow"
    status, _ = transport.request("GET", quote(path + "/v2"), None, limit=65536, source=source)
    if status == 200:
        raise UsageError(
            f"{source}: the server speaks the Open Inference Protocol; name the model: "
            f"{shown(url).rstrip('/')}/v2/models/NAME"
        )
    raise ModelError(
        f"{source}: cannot tell how to talk to this server (no /v2 metadata, no MLflow /ping); "
        "pass --protocol v2 or --protocol mlflow"
    )


def _class_names(parameters: Any) -> list[str] | None:
    if not isinstance(parameters, dict):
        return None
    for key in ("class_names", "labels", "classes"):
        names = parameters.get(key)
        if isinstance(names, str):
            try:
                names = json.loads(names)
            except ValueError:
                names = names.split(",")
        if isinstance(names, list) and names:
            return [str(n) for n in names]
    return None


def _dims(meta: dict[str, Any]) -> tuple[int | None, ...]:
    shape = meta.get("shape") or []
    out: list[int | None] = []
    for s in shape:
        try:
            value = int(s)
        except (TypeError, ValueError):
            value = -1
        out.append(value if value >= 0 else None)
    return tuple(out)


def _v2_input_spec(inputs: list[dict[str, Any]]) -> InputSpec:
    """What the metadata's inputs say the model takes (see the module docstring)."""
    if not inputs:
        return InputSpec("unknown", None, (None, None))
    if len(inputs) > 1:
        names = tuple(str(i["name"]) for i in inputs)
        return InputSpec("table", names, (None, len(names)))
    meta = inputs[0]
    datatype = str(meta.get("datatype") or "")
    dims = _dims(meta)
    if datatype == "BYTES":
        return InputSpec("text", (str(meta["name"]),), (None,))
    dtype = V2_DTYPES.get(datatype)
    shape: tuple[int | None, ...] = (None, *dims[1:]) if dims else (None, None)
    if len(shape) == 2:
        return InputSpec("array", None, shape, dtype)
    return InputSpec("tensor", (str(meta["name"]),), shape, dtype)


def _v2_datatype(dtype: np.dtype[Any]) -> str:
    for name, numpy_name in V2_DTYPES.items():
        if dtype == np.dtype(numpy_name):
            return name
    return "FP64"


def _meta_for(inputs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next((i for i in inputs if str(i.get("name")) == name), {"name": name})


def _column_tensor(name: str, values: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """One table column as an Open Inference Protocol input (numbers, or strings)."""
    array = np.asarray(values)
    n = len(array)
    shape = [n, 1] if len(meta.get("shape") or [-1]) == 2 else [n]
    if array.dtype.kind in "biuf" and meta.get("datatype") != "BYTES":
        datatype = str(meta.get("datatype") or _v2_datatype(array.dtype))
        data = array.astype(V2_DTYPES.get(datatype, "float64")).tolist()
        return {"name": name, "datatype": datatype, "shape": shape, "data": data}
    data = [None if _missing(v) else str(v) for v in array.tolist()]
    return {
        "name": name,
        "datatype": "BYTES",
        "shape": shape,
        "data": data,
        "parameters": {"content_type": "str"},
    }


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _is_frame(rows: Any) -> bool:
    return hasattr(rows, "columns") and hasattr(rows, "iloc")


def _rows(batch: Any, start: int, stop: int) -> Any:
    if _is_frame(batch):
        return batch.iloc[start:stop]
    return batch[start:stop]


def _mlflow_request(rows: Any) -> bytes:
    """MLflow's scoring-server body: ``dataframe_split`` for tables, ``inputs`` otherwise."""
    if _is_frame(rows):
        return b'{"dataframe_split": ' + rows.to_json(orient="split", index=False).encode() + b"}"
    if isinstance(rows, list):
        return json.dumps({"inputs": [str(t) for t in rows]}).encode()
    array = np.asarray(rows)
    if array.dtype == object:
        return json.dumps({"inputs": array.tolist()}, default=str).encode()
    return json.dumps({"inputs": array.tolist()}).encode()
