"""Peak memory of the scale cases (issue 6), each run in a fresh process.

- text: a 100,000-word document with 20,000 distinct words, default settings
  (5000 samples, 10 features, auto selection), explained in-process with a
  cheap word-counting model so the figure is lime-explain's own memory.
- image: an 8000 x 6000 photo-like JPEG (48 megapixels) explained by the
  image command itself (read, segment, sample, predict, fit, write the JSON)
  with a small fully-convolutional ONNX model of dynamic height and width,
  so the model sees every pixel of every perturbed copy. Superpixels: slic
  with 100 segments. Not quickshift: its superpixels have a size in pixels
  (kernel_size 4, max_dist 200), not a count, so at 48 megapixels it would
  cut the picture into hundreds of thousands of tiny superpixels (as many
  features, for 1000 samples) after minutes of work per image.

  The model is a 4x4 convolution with stride 4 (each pixel enters exactly one
  patch) with eight colour-detecting filters, ReLU, global average pooling and
  a 3-class Gemm ("red", "green", "blue"). A stride-1 3x3 convolution would
  measure onnxruntime rather than lime-explain: at 48 megapixels its im2col
  buffer and activations alone take about 4.5 GB per image.

Prints each case's wall-clock time and peak resident memory (ru_maxrss of the
child process). The image files are built by the parent process, so building
them is not counted. Run:

    .venv/bin/python bench/bench_memory.py [--case text] [--case image] [--image-samples N]

Streamed inputs (not run by default): memory over time of a whole
``lime-explain`` process reading an input too large to explain in one sitting,
against the same command over small inputs, for the same bounded time.

- tabular-all: ``tabular --all`` over generated CSVs of ``--rows`` rows
  (default 10,000, 100,000 and 10,000,000; age, income with missing values,
  city), a one-hot + imputer + logistic-regression pipeline (cheap, so that
  tens of thousands of rows, several 10,000-row chunks, are read in the time),
  5 samples per row, statistics from a ``--save-stats`` file, ``--jobs 1``,
  ``--out FILE.jsonl``.
- text-lines: ``text --lines`` over generated files of ``--lines-count``
  documents of about 600 bytes (a sentence said ten times and a number: few
  distinct words, so that a 1 MiB chunk of about 1,700 lines is explained in
  tens of seconds; default 20,000 and 1,000,000 lines, 12 MB and 600 MB), a
  bag-of-words naive Bayes model, 20 samples per document.

Each run is stopped by SIGINT (Ctrl-C) after ``--seconds`` (unless it ends
before): it must exit 130 with one line on stderr and leave its ledger, so
the file can be resumed. With ``--resume-after N`` the largest tabular run is
then resumed (for ``--resume-seconds``) as if N rows had been written already
(a ledger of N records and N placeholder output lines ``{}``, written by this
script after the stopped run's header), to show that resuming a long run does
not hold the rows done either. The resident memory (VmRSS from /proc, Linux)
and the lines written are sampled twice a second and printed every
``--every`` seconds, then the peak of each run (VmHWM):

    .venv/bin/python bench/bench_memory.py --case tabular-all --case text-lines \
        [--rows 10000 100000 10000000] [--lines-count 20000 1000000] [--seconds 120]
        [--resume-after 9800000] [--resume-seconds 300] [--root OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CASES = ("text", "image")
#: Cases of streamed inputs, run only when named (see above).
STREAM_CASES = ("tabular-all", "text-lines")
#: Width and height of the image case.
IMAGE_SIZE = (8000, 6000)
IMAGE_CLASSES = ("red", "green", "blue")


class WordCountModel:
    """P(pos) grows with the counts of two known words; about as cheap as a model can be."""

    classes = ["neg", "pos"]
    mode = "classification"

    def predict(self, docs: list[str]) -> np.ndarray:
        p = np.array([(d.count("w00001 ") + d.count("w00007 ")) / 4000.0 for d in docs])
        p = p.clip(0, 1)
        return np.column_stack([1 - p, p])

    def describe(self) -> dict:
        return {"path": "word-count", "format": "python", "mode": "classification"}


def long_document(words: int = 100_000, distinct: int = 20_000, seed: int = 0) -> str:
    """Every vocabulary word once, the rest drawn with Zipf-like frequencies."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i:05d}" for i in range(distinct)])
    p = 1.0 / np.arange(1, distinct + 1)
    tokens = np.concatenate([vocab, rng.choice(vocab, size=words - distinct, p=p / p.sum())])
    rng.shuffle(tokens)
    return " ".join(tokens.tolist())


def run_text(_: argparse.Namespace) -> dict:
    from lime_cli.engine import LabelRequest, LimeParams, explain
    from lime_cli.text.domain import TextDomain

    text = long_document()
    t0 = time.perf_counter()
    domain = TextDomain(text)
    exp = explain(domain, WordCountModel(), LabelRequest(), LimeParams(seed=0),
                  np.random.default_rng(0))  # fmt: skip
    top = [f.feature for f in exp.explanations[0].features[:2]]
    return {
        "case": "text: 100,000 words, 20,000 distinct, 5000 samples",
        "seconds": time.perf_counter() - t0,
        "features": domain.num_features,
        "top": top,
    }


# -- image case ----------------------------------------------------------------
def colour_model(path: str) -> None:
    """A tiny fully-convolutional ONNX classifier of any height and width (see above).

    Inputs are 0..1 RGB (the JSON beside the model sets scale 1/255). The
    filters measure how much a patch's red, green or blue exceeds the other
    two channels, in both signs; the Gemm turns the pooled responses into
    logits of the three colours.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    dominance = np.array([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]])
    filters = np.zeros((8, 3, 4, 4), dtype=np.float32)
    filters[:3] = dominance[:, :, None, None] / 16.0
    filters[3:6] = -dominance[:, :, None, None] / 16.0
    filters[6] = 1.0 / 48.0  # brightness
    filters[7, :, :2] = 1.0 / 24.0  # a texture-ish filter: top half of the patch
    filters[7, :, 2:] = -1.0 / 24.0
    gemm = np.zeros((3, 8), dtype=np.float32)
    gemm[:, :3] = 12.0 * np.eye(3)
    gemm[:, 3:6] = -4.0 * np.eye(3)
    nodes = [
        helper.make_node("Conv", ["x", "filters"], ["conv"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "gemm", "bias"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "colours",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        initializer=[
            numpy_helper.from_array(filters, "filters"),
            numpy_helper.from_array(gemm, "gemm"),
            numpy_helper.from_array(np.zeros(3, dtype=np.float32), "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    stem = os.path.splitext(path)[0]
    with open(stem + ".txt", "w", encoding="utf-8") as fh:
        fh.write("\n".join(IMAGE_CLASSES) + "\n")
    with open(stem + ".json", "w", encoding="utf-8") as fh:
        json.dump(
            {
                "scale": 1 / 255,
                "output": "logits",
                "class_names_file": os.path.basename(stem) + ".txt",
            },
            fh,
        )


def landscape(path: str, size: tuple[int, int] = IMAGE_SIZE) -> None:
    """A photo-like JPEG: sky and ground gradients, a red sun, a green field, a house."""
    from PIL import Image, ImageDraw

    width, height = size
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    horizon = height * 3 // 5
    t = np.linspace(0.0, 1.0, horizon)[:, None]
    for c, (top, bottom) in enumerate([(70, 170), (120, 200), (200, 235)]):
        pixels[:horizon, :, c] = np.rint(top + (bottom - top) * t).astype(np.uint8)
    u = np.linspace(0.0, 1.0, height - horizon)[:, None]
    for c, (top, bottom) in enumerate([(110, 80), (95, 70), (70, 50)]):
        pixels[horizon:, :, c] = np.rint(top + (bottom - top) * u).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    del pixels
    draw = ImageDraw.Draw(image)
    s = width / 8000
    draw.ellipse([5600 * s, 500 * s, 7100 * s, 2000 * s], fill=(230, 40, 30))
    draw.rectangle([0, horizon + 300 * s, 4200 * s, height], fill=(40, 160, 50))
    draw.rectangle([4800 * s, horizon - 900 * s, 6200 * s, horizon + 400 * s], fill=(180, 170, 150))
    roof = [(4600 * s, horizon - 900 * s), (5500 * s, horizon - 1700 * s)]
    draw.polygon(roof + [(6400 * s, horizon - 900 * s)], fill=(120, 50, 40))
    image.save(path, quality=90)


def run_image(args: argparse.Namespace) -> dict:
    from lime_cli.cli import cli

    folder = args.folder
    out = os.path.join(folder, "explanation.json")
    argv = [
        "image", "--model", os.path.join(folder, "colours.onnx"),
        os.path.join(folder, "landscape.jpg"), "--segmenter", "slic", "--segments", "100",
        "--num-samples", str(args.image_samples), "--seed", "0", "--quiet", "--out", out,
    ]  # fmt: skip
    t0 = time.perf_counter()
    try:
        cli.main(args=argv, prog_name="lime-explain", standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    seconds = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"lime-explain image exited with {code}")
    with open(out, encoding="utf-8") as fh:
        data = json.load(fh)
    label = data["explanations"][0]
    first = label["features"][0]
    width, height = IMAGE_SIZE
    return {
        "case": (
            f"image: {width} x {height} ({width * height / 1e6:.0f} MP), slic 100 segments, "
            f"{args.image_samples} samples"
        ),
        "seconds": seconds,
        "features": data["input"]["num_superpixels"],
        "batch_size": data["params"]["batch_size"],
        "top": [
            f"class {label['label']}",
            f"{first['feature']} (bbox {first['bbox']}, weight {first['weight']:+.3f})",
        ],
    }


def prepare_image(folder: str) -> None:
    colour_model(os.path.join(folder, "colours.onnx"))
    landscape(os.path.join(folder, "landscape.jpg"))


# -- driver --------------------------------------------------------------------
def child(case: str, args: argparse.Namespace) -> None:
    result = {"text": run_text, "image": run_image}[case](args)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=CASES + STREAM_CASES, action="append")
    parser.add_argument(
        "--image-samples",
        type=int,
        default=1000,
        help="samples of the image case (default: the image command's default, 1000)",
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 10_000_000])
    parser.add_argument("--lines-count", type=int, nargs="+", default=[20_000, 1_000_000])
    parser.add_argument("--seconds", type=float, default=120.0, help="each streamed run's time")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between printed samples")
    parser.add_argument("--resume-after", type=int, default=0, metavar="N")
    parser.add_argument("--root", type=Path, metavar="CHECKOUT",
                        help="the lime-explain checkout the streamed cases run (default: "
                             "this one; another commit's, to compare)")  # fmt: skip
    parser.add_argument("--resume-seconds", type=float, default=300.0,
                        help="the resumed run's time (it first reads past the N rows)")  # fmt: skip
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args)
        return
    global ROOT
    ROOT = (args.root or ROOT).resolve()
    with tempfile.TemporaryDirectory(prefix="lime-bench-memory-") as folder:
        for case in args.case or CASES:
            if case in STREAM_CASES:
                {"tabular-all": stream_tabular, "text-lines": stream_text}[case](Path(folder), args)
                continue
            if case == "image":
                prepare_image(folder)
            command = [sys.executable, __file__, "--child", case, "--folder", folder,
                       "--image-samples", str(args.image_samples)]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{case}: failed\n{out.stderr}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            extra = f", batch size {result['batch_size']}" if "batch_size" in result else ""
            print(
                f"{result['case']}: {result['seconds']:.1f} s, peak resident memory "
                f"{result['peak_mb']:.0f} MB{extra} (top: {', '.join(result['top'])})"
            )


# -- streamed inputs: memory over time of a run stopped by Ctrl-C --------------------
ROOT = Path(__file__).resolve().parents[1]


def lime_explain(*argv: str) -> list[str]:
    return [sys.executable, "-m", "lime_cli", *argv]


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process in MB, from /proc (Linux)."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values


def watch(argv: list[str], out: Path, seconds: float, every: float, label: str) -> dict:
    """Run ``argv``, sample its memory and the lines of ``out``; SIGINT after ``seconds``.

    Returns the peak (VmHWM) in MB, lines written, seconds, exit code and stderr.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    start = time.monotonic()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines, read_to, peak, printed = 0, 0, 0.0, -every
    stopped = False
    print(f"  {label}: t(s)  rows written  RSS (MB)", flush=True)
    while process.poll() is None:
        time.sleep(0.5)
        elapsed = time.monotonic() - start
        try:
            status = proc_status(process.pid)
        except (OSError, ValueError):  # just ended
            break
        peak = max(peak, status.get("VmHWM", 0.0))
        if out.exists():
            with out.open("rb") as written:  # count the new lines only
                written.seek(read_to)
                data = written.read()
                lines += data.count(b"\n")
                read_to += len(data)
        if elapsed - printed >= every and "VmRSS" in status:
            printed = elapsed
            print(
                f"  {label}: {elapsed:5.0f} {lines:12d} {status.get('VmRSS', 0.0):9.0f}", flush=True
            )
        if elapsed >= seconds and not stopped:
            process.send_signal(signal.SIGINT)  # as Ctrl-C (--jobs 1: no workers)
            stopped = True
    _, err = process.communicate(timeout=120)
    if out.exists():
        lines = out.read_bytes().count(b"\n")
    return {
        "peak": peak,
        "lines": lines,
        "seconds": time.monotonic() - start,
        "code": process.returncode,
        "stderr": err.decode(errors="replace"),
        "stopped": stopped,
    }


def check_stopped(result: dict, out: Path) -> str:
    """The run ended (0) or was stopped cleanly: exit 130, one line, a ledger to resume."""
    if result["code"] == 0:
        return "finished"
    ledger = Path(str(out) + ".resume")
    clean = (
        result["code"] == 130
        and result["stderr"] == "lime-explain: interrupted\n"
        and ledger.exists()
    )
    if not clean:
        sys.exit(f"not a clean stop: exit {result['code']}\n{result['stderr'][-2000:]}")
    return "Ctrl-C: exit 130, one line, ledger kept"


def stream_tabular(folder: Path, args: argparse.Namespace) -> None:
    import joblib
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    n = 2000
    train = pd.DataFrame({
        "age": rng.integers(18, 80, n).astype(float),
        "income": rng.normal(50, 15, n),
        "city": rng.choice(["north", "south", "east", "west"], n),
    })  # fmt: skip
    y = ((train.age > 40) ^ (train.city == "north")).astype(int)
    encode = ColumnTransformer([
        ("numbers", SimpleImputer(), ["age", "income"]),
        ("city", OneHotEncoder(handle_unknown="ignore"), ["city"]),
    ])  # fmt: skip
    model = make_pipeline(encode, LogisticRegression()).fit(train, y)
    joblib.dump(model, folder / "lr.joblib")
    train.to_csv(folder / "train.csv", index=False)
    stats = folder / "stats.json"
    save = lime_explain("tabular", "--model", str(folder / "lr.joblib"), "--trust-model",
                        "--train", str(folder / "train.csv"),
                        "--save-stats", str(stats))  # fmt: skip
    subprocess.run(save, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                   stderr=subprocess.DEVNULL)  # fmt: skip
    print(
        f"tabular --all, 5 samples per row, --jobs 1, stopped by Ctrl-C after {args.seconds:.0f} s:"
    )
    peaks = []
    for rows in args.rows:
        csv = folder / f"rows{rows}.csv"
        made = time.monotonic()
        write_rows(csv, rows)
        made = time.monotonic() - made
        out = folder / f"rows{rows}.jsonl"
        argv = lime_explain(
            "tabular", "--model", str(folder / "lr.joblib"), "--trust-model", "--train", str(stats),
            "--all", str(csv), "--num-samples", "5", "--seed", "1", "-q", "--jobs", "1",
            "--out", str(out),
        )  # fmt: skip
        size = csv.stat().st_size / 1e6
        label = f"{rows} rows"
        print(f"  {label}: a {size:.1f} MB CSV (written in {made:.0f} s)", flush=True)
        result = watch(argv, out, args.seconds, args.every, label)
        how = check_stopped(result, out)
        peaks.append((rows, size, result))
        print(f"  {label}: {result['lines']} rows explained in {result['seconds']:.0f} s, "
              f"peak {result['peak']:.0f} MB ({how})", flush=True)  # fmt: skip
        if rows == max(args.rows) and args.resume_after and result["code"] == 130:
            resumed = resume_after(argv, out, csv, args)
            peaks.append((f"{rows}, resumed after {args.resume_after}", size, resumed))
        out.unlink(missing_ok=True)
        Path(str(out) + ".resume").unlink(missing_ok=True)
        csv.unlink()
    print("  peak resident memory by file size:")
    for rows, size, result in peaks:
        print(f"    {rows} rows ({size:.1f} MB of CSV): {result['peak']:.0f} MB, "
              f"{result['lines']} rows explained")  # fmt: skip


def resume_after(argv: list[str], out: Path, csv: Path, args: argparse.Namespace) -> dict:
    """Resume the stopped run as if ``--resume-after`` rows were done: the ledger's
    header kept, N records and N placeholder output lines written here (--resume
    counts the lines, it does not read them), so --resume reads the ledger and
    skips N rows of the CSV before it explains again. When the stopped run's ledger
    has digests (version 2 on), each record holds the row's digest as lime-explain
    computes it (its CSV reader and ``row_content``), so the resume checks every
    row it skips, as after a real stop; older checkouts' (``--root``) get names."""
    from lime_cli.run.resume import content_digest
    from lime_cli.tabular.command import _streamed_rows, row_content
    from lime_cli.tabular.data import load_stats

    ledger = Path(str(out) + ".resume")
    with ledger.open(encoding="utf-8") as book:
        header = book.readline().rstrip("\n")
    digests = json.loads(header)["lime_explain_resume"] >= 2
    count = args.resume_after
    rows = _streamed_rows(str(csv), load_stats(argv[argv.index("--train") + 1]), None)
    with out.open("w", encoding="utf-8") as lines, ledger.open("w", encoding="utf-8") as book:
        book.write(header + "\n")
        for start in range(0, count, 100_000):
            block = [next(rows) for _ in range(min(count, start + 100_000) - start)]
            lines.write("{}\n" * len(block))
            for row in block:
                record = {"input": f"{csv} row {row.index}"}
                if digests:
                    record["content"] = str(content_digest(row_content(row)))
                book.write(json.dumps(record) + "\n")
    size = ledger.stat().st_size / 1e6
    label = f"resume after {count}"
    print(f"  {label}: a ledger of {count} records ({size:.0f} MB)", flush=True)
    result = watch([*argv, "--resume"], out, args.resume_seconds, args.every, label)
    how = check_stopped(result, out)
    result["lines"] -= count
    print(f"  {label}: {result['lines']} more rows explained in {result['seconds']:.0f} s, "
          f"peak {result['peak']:.0f} MB ({how})", flush=True)  # fmt: skip
    return result


def write_rows(path: Path, rows: int) -> None:
    """A CSV of ``rows`` rows (age, income with 5% missing, city), a million at a time."""
    rng = np.random.default_rng(1)
    cities = np.array(["north", "south", "east", "west"])
    with path.open("w", encoding="utf-8") as out:
        out.write("age,income,city\n")
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            ages = rng.integers(18, 80, n)
            incomes = rng.normal(50, 15, n).round(2).astype(str)
            incomes[rng.random(n) < 0.05] = ""
            city = cities[rng.integers(0, 4, n)]
            out.writelines(f"{a},{i},{c}\n" for a, i, c in zip(ages, incomes, city))


SENTENCES = [
    ("the striker scored a late goal and the team won the match", "sport"),
    ("fans cheered as the players lifted the cup after the final", "sport"),
    ("the new laptop has a faster chip and a brighter screen", "tech"),
    ("engineers released a software update for the phone", "tech"),
    ("the chef cooked pasta with fresh tomato sauce and basil", "food"),
    ("the bakery sells bread cakes and warm pastries", "food"),
]


def stream_text(folder: Path, args: argparse.Namespace) -> None:
    import joblib
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    docs, labels = zip(*SENTENCES)
    model = make_pipeline(CountVectorizer(), MultinomialNB()).fit(list(docs), list(labels))
    joblib.dump(model, folder / "nb.joblib")
    print(f"text --lines, 20 samples per line, --jobs 1, stopped by Ctrl-C after "
          f"{args.seconds:.0f} s:")  # fmt: skip
    peaks = []
    for count in args.lines_count:
        doc = folder / f"lines{count}.txt"
        with doc.open("w", encoding="utf-8") as out:
            for start in range(0, count, 100_000):
                block = range(start, min(count, start + 100_000))
                out.write("".join(f"{(SENTENCES[i % 6][0] + ' ') * 10}{i}\n" for i in block))
        out_path = folder / f"lines{count}.jsonl"
        argv = lime_explain(
            "text", "--model", str(folder / "nb.joblib"), "--trust-model", "--lines", str(doc),
            "--num-samples", "20", "--seed", "1", "-q", "--jobs", "1", "--out", str(out_path),
        )  # fmt: skip
        size = doc.stat().st_size / 1e6
        label = f"{count} lines"
        print(f"  {label}: a {size:.1f} MB file", flush=True)
        result = watch(argv, out_path, args.seconds, args.every, label)
        how = check_stopped(result, out_path)
        peaks.append((count, size, result))
        print(f"  {label}: {result['lines']} lines explained in {result['seconds']:.0f} s, "
              f"peak {result['peak']:.0f} MB ({how})", flush=True)  # fmt: skip
        out_path.unlink(missing_ok=True)
        Path(str(out_path) + ".resume").unlink(missing_ok=True)
        doc.unlink()
    print("  peak resident memory by file size:")
    for count, size, result in peaks:
        print(f"    {count} lines ({size:.1f} MB): {result['peak']:.0f} MB, "
              f"{result['lines']} lines explained")  # fmt: skip


if __name__ == "__main__":
    main()
