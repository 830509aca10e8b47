"""Defaults for served models (``--model http(s)://...``), kept apart so the
command-line options can name them without importing the HTTP client."""

#: Protocols the HTTP adapter speaks (--protocol).
PROTOCOLS = ("v2", "mlflow")
#: Samples per request when --batch-size is not given.
BATCH_SIZE = 500
#: Requests in flight at once (--concurrency), and its ceiling.
CONCURRENCY = 1
MAX_CONCURRENCY = 64
#: Seconds one request may take (--timeout).
TIMEOUT = 60.0
#: Attempts per request on connection errors, 429 and 503; the wait doubles from FIRST_WAIT.
ATTEMPTS = 5
FIRST_WAIT = 0.25
#: Longest wait a server's Retry-After may ask for, in seconds.
MAX_WAIT = 8.0
#: Largest answer read: a fixed allowance plus this much per sample.
RESPONSE_BASE_BYTES = 16 * 1024 * 1024
RESPONSE_BYTES_PER_SAMPLE = 64 * 1024
