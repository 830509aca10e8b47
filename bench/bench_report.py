"""Report benchmark: 1000 tabular explanations rendered into one HTML page.

The 200 held-out breast-cancer rows are explained once with ``lime-explain
tabular`` (1000 samples each: the weights' values do not change the cost of
drawing them), then repeated five times under new names to make 1000
explanations. Measured:

- ``html.page``: building the page in Python (best of ``--rounds``);
- ``lime-explain render rows.jsonl --out report.html``: the whole command as a
  user waits for it (interpreter start, reading the JSON Lines, writing);
- the page's size, and how long headless Chromium takes to load, lay out and
  paint it (``--screenshot``, wall time, best of ``--rounds``, less the same
  for a one-explanation page: the browser's own start) with the sections
  beyond ``OPEN_SECTIONS`` collapsed (the default) and with every section
  open, when Chromium is installed. That pair is why sections past the first
  100 are collapsed: the page opens about twice as fast, and the summary table
  at the top is what one reads a thousand rows by.

    .venv/bin/python bench/bench_report.py [--rounds 3] [--copies 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lime_cli.explanation import Explanation  # noqa: E402
from lime_cli.render import html  # noqa: E402

OPEN = html.OPEN_SECTIONS

MODEL = ROOT / "sample_models" / "breast_cancer_rf.joblib"
TRAIN = ROOT / "sample_data" / "tabular" / "breast_cancer_train.csv"
TEST = ROOT / "sample_data" / "tabular" / "breast_cancer_test.csv"


def explain_rows(folder: Path) -> list[dict]:
    out = folder / "rows.jsonl"
    command = [sys.executable, "-m", "lime_cli", "tabular", "--model", str(MODEL),
               "--train", str(TRAIN), "--target", "diagnosis", "--all", str(TEST), "--seed", "1",
               "--num-samples", "1000", "--out", str(out), "--quiet"]  # fmt: skip
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def chromium_load(page: Path, rounds: int) -> float | None:
    """Best wall time of ``rounds`` headless Chromium runs screenshotting ``page``."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return None
    times = []
    for _ in range(rounds):
        profile = tempfile.mkdtemp(prefix="bench-chromium-")
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={profile}",
                 f"--screenshot={profile}/shot.png", "--window-size=1100,1400"]  # fmt: skip
        try:
            start = time.perf_counter()
            subprocess.run([chromium, *flags, page.as_uri()], check=True, capture_output=True,
                           timeout=600)  # fmt: skip
            times.append(time.perf_counter() - start)
        finally:
            shutil.rmtree(profile, ignore_errors=True)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--copies", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = explain_rows(folder)
        docs = []
        for copy in range(args.copies):
            for doc in rows:
                renamed = json.loads(json.dumps(doc))
                renamed["input"]["name"] = f"{doc['input']['name']} (copy {copy + 1})"
                docs.append(renamed)
        explanations = [Explanation.from_dict(d) for d in docs]
        jsonl = folder / "many.jsonl"
        jsonl.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
        print(f"{len(explanations)} tabular explanations "
              f"({len(rows)} breast-cancer rows x {args.copies})")  # fmt: skip

        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            text = html.page(explanations)
            times.append(time.perf_counter() - start)
        page = folder / "report.html"
        page.write_text(text, encoding="utf-8")
        print(f"html.page: best {min(times):.2f} s of {args.rounds} "
              f"({min(times) / len(explanations) * 1000:.2f} ms per explanation); "
              f"page {len(text.encode()) / 1e6:.2f} MB")  # fmt: skip

        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lime_cli", "render", str(jsonl), "--out",
                        str(folder / "cli.html"), "--quiet"], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
        print(
            f"lime-explain render many.jsonl --out report.html: "
            f"{time.perf_counter() - start:.2f} s end to end"
        )

        small = folder / "one.html"
        small.write_text(html.page(explanations[:1]), encoding="utf-8")
        start_up = chromium_load(small, args.rounds)
        if start_up is None:
            print("Chromium not installed: page load not measured")
            return
        collapsed = chromium_load(page, args.rounds)
        html.OPEN_SECTIONS = len(explanations)
        everything = folder / "open.html"
        everything.write_text(html.page(explanations), encoding="utf-8")
        opened = chromium_load(everything, args.rounds)
        assert collapsed is not None and opened is not None
        print(
            f"headless Chromium load, layout and paint beyond its own start "
            f"({start_up:.2f} s): collapsed past {OPEN} sections {collapsed - start_up:.2f} s; "
            f"every section open {opened - start_up:.2f} s"
        )


if __name__ == "__main__":
    main()
