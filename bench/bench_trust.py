"""How sure is an explanation: the proofs behind intervals, stability and ``--num-samples auto``.

Three measurements, each on text (BBC test-split articles, the 500-tree
forest), tabular (breast-cancer forest, penguins pipeline; held-out rows) and
images (EfficientNet-Lite0; scikit-image's photos and sample_data/images):

``calibration`` (the BayesLIME protocol)
    For each input, explain with ``--samples`` (1000) samples and compute each
    fitted feature's 95% interval; then fit the *same features* on
    ``--reference`` (100,000) fresh samples and count how often the interval
    contains that reference weight. The reference has noise of its own
    (variance ``samples / reference`` of the small fit's), so a perfectly
    calibrated interval covers it with probability
    ``P(|Z| < 1.96 / sqrt(1 + samples / reference))``: printed as "expected".
``stability``
    For each input, ``--seeds`` (10) explanations at the fixed default sample
    count: the mean of their predicted stability figures against the observed
    mean pairwise top-K Jaccard of the 10 (45 pairs).
``efficiency``
    For each input, ``--seeds`` runs of lime 0.2.0.1 at its defaults and of
    lime-explain ``--num-samples auto`` (its defaults unless flags say
    otherwise): observed mean pairwise top-K Jaccard of each (plain top-K
    sets for both: no ties set aside), model calls and wall time (model
    loading aside, everything else in).

``oracle``
    Whether *any* stop rule could meet the efficiency target: for each input,
    lime's observed agreement (``--seeds`` runs at its defaults) and ours at
    every count of a grid (625, 1250, 1667, 2500, 5000, 10000, 20000; images
    a fifth of each up to 2000; each count the first ``n`` samples of the
    same seed's draw). Printed: the first count at which each input reaches
    lime's agreement, and the highest mean agreement a rule could reach with a
    median of a third of lime's calls, were it told in advance which inputs
    are easy (:func:`best_rule`). Plain top-K sets, as ``efficiency``.

    .venv/bin/python bench/bench_trust.py calibration --modality text --inputs 20
    .venv/bin/python bench/bench_trust.py stability --modality tabular --inputs 20
    .venv/bin/python bench/bench_trust.py efficiency --modality image --inputs 3 --seeds 5
    .venv/bin/python bench/bench_trust.py all --quick     # a few inputs of each, minutes

``--modality`` is one of text, cancer, penguins, image (``tabular`` = both
tabular sets). The machine may be shared: sizes are flags, nothing is timed
against a limit.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "sample_models"))

from lime_cli import defaults  # noqa: E402
from lime_cli.engine import LabelRequest, LimeParams, explain  # noqa: E402
from lime_cli.engine.explain import explain_predictions, predict_samples  # noqa: E402
from lime_cli.engine.kernels import exponential_kernel  # noqa: E402
from lime_cli.engine.surrogate import WeightedDesign  # noqa: E402
from lime_cli.engine.uncertainty import z_value  # noqa: E402

DATA = ROOT / "sample_data"
MODELS = ROOT / "sample_models"


class Timed:
    """Wraps a model's predict and counts the rows it was asked about."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, batch: Any) -> Any:
        self.calls += len(batch)
        return self.fn(batch)


@dataclass
class Case:
    """One input: its domain, the model adapter, our params and lime's runner."""

    name: str
    domain: Any
    model: Any
    params: LimeParams
    k: int
    auto: LimeParams
    lime: Callable[[int], tuple[set[Any], int]] | None = None


# --------------------------------------------------------------------------- inputs


def text_cases(count: int, skip: int = 0) -> list[Case]:
    """BBC test-split articles spread over lengths (``skip`` shifts the picks)."""
    from build_text_model import load_bbc, split

    from lime_cli.models import load_model
    from lime_cli.text.domain import TextDomain

    model = load_model(str(MODELS / "bbc_rf.joblib"))
    _, x_test, _, _, _, ids = split(*load_bbc())
    order = np.argsort([len(t) for t in x_test], kind="stable")
    # Every 7th article by length, offset by skip: tune and report sets never meet.
    picks = [order[i] for i in range(skip, len(order), 7)]
    stride = max(1, len(picks) // max(1, count))
    picks = picks[::stride][:count]
    cases = []
    for i in picks:
        text = x_test[i]
        domain = TextDomain(text)
        params = LimeParams()
        cases.append(
            Case(ids[i], domain, model, params, params.num_features,
                 dataclasses.replace(params, adaptive=True),
                 _lime_text(model.estimator, text))
        )  # fmt: skip
    return cases


def _lime_text(estimator: Any, text: str) -> Callable[[int], tuple[set[Any], int]]:
    def run(seed: int) -> tuple[set[Any], int]:
        from lime.lime_text import LimeTextExplainer

        fn = Timed(estimator.predict_proba)
        label = int(np.argmax(estimator.predict_proba([text])[0]))
        exp = LimeTextExplainer(random_state=seed).explain_instance(
            text, fn, labels=(label,), num_features=defaults.NUM_FEATURES
        )
        return {name for name, _ in exp.as_list(label=label)}, fn.calls

    return run


def tabular_cases(which: str, count: int, skip: int = 0) -> list[Case]:
    """Held-out rows of breast cancer (forest) or penguins (pipeline)."""
    from lime_cli.run.settings import ModelSpec
    from lime_cli.tabular.data import compute_stats, convert_rows, read_table
    from lime_cli.tabular.domain import ColumnPlan, RowLayout, TabularDomain, TabularSampler

    name, target, model_file = {
        "cancer": ("breast_cancer", "diagnosis", "breast_cancer_rf.joblib"),
        "penguins": ("penguins", "species", "penguins_lr.joblib"),
    }[which]
    train = DATA / "tabular" / f"{name}_train.csv"
    test = DATA / "tabular" / f"{name}_test.csv"
    model = ModelSpec(str(MODELS / model_file)).load()
    stats = compute_stats(read_table(str(train)), target=target, source=str(train))
    frame = read_table(str(test), as_text=True).drop(columns=[target])
    layout = RowLayout.for_model(model, stats, str(train))
    columns = ColumnPlan(stats, layout)
    sampler = TabularSampler(stats, columns.held_idx)
    rows = list(range(skip, len(frame), 2))[:count]  # tune on even rows, report on odd
    values = convert_rows(frame, stats, rows, "test")
    lime = _lime_tabular(model, train, test, target) if which == "cancer" else None
    cases = []
    for r, v in zip(rows, values):
        if not isinstance(v, list):
            continue
        domain = TabularDomain(v, stats, layout, row=r, name=name, sampler=sampler,
                               columns=columns)  # fmt: skip
        params = LimeParams()
        cases.append(
            Case(f"{name}[{r}]", domain, model, params, params.num_features,
                 dataclasses.replace(params, adaptive=True),
                 (lambda seed, r=r: lime(seed, r)) if lime else None)
        )  # fmt: skip
    return cases


def _lime_tabular(model: Any, train: Path, test: Path, target: str) -> Callable[..., Any]:
    """lime's tabular explainer on breast cancer (numeric columns, quartile bins)."""
    import pandas as pd
    from lime.lime_tabular import LimeTabularExplainer

    tr, te = pd.read_csv(train), pd.read_csv(test)
    names = [c for c in tr.columns if c != target]
    estimator = model.estimator
    x = te[names].to_numpy()

    def run(seed: int, row: int) -> tuple[set[Any], int]:
        fn = Timed(estimator.predict_proba)
        explainer = LimeTabularExplainer(
            tr[names].to_numpy(), feature_names=names, discretize_continuous=True,
            random_state=seed,
        )  # fmt: skip
        exp = explainer.explain_instance(x[row], fn, top_labels=1, num_features=10)
        label = exp.top_labels[0]
        return {i for i, _ in exp.local_exp[label]}, fn.calls

    return run


#: ONNX Runtime threads of the image model (``--image-threads``; None: its default).
IMAGE_THREADS: int | None = None


def image_paths(zoomed: bool = False) -> list[tuple[str, Path]]:
    """Colour photos: sample_data/images, then scikit-image's data module.

    ``zoomed`` adds, after them, each photo's centre (the middle 60% of its
    width and height, cut before the model's own resize): another picture for
    the model, with other superpixels, so 10 photos give 20 inputs.
    """
    import skimage.data
    from PIL import Image

    out = [(p.name, p) for p in sorted((DATA / "images").glob("*.jpg"))]
    cache = Path(os.environ.get("TMPDIR", "/tmp")) / "lime_bench_images"
    cache.mkdir(exist_ok=True)
    for name in ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left",
                 "motorcycle_right", "immunohistochemistry", "retina", "colorwheel",
                 "logo", "hubble_deep_field", "cat", "skin", "lily"):  # fmt: skip
        fn = getattr(skimage.data, name, None)
        if fn is None or any(name in n for n, _ in out):
            continue
        try:
            pixels = np.asarray(fn())
        except Exception:  # a photo that would need a download
            continue
        if pixels.ndim != 3 or pixels.shape[2] < 3:
            continue
        path = cache / f"{name}.png"
        if not path.exists():
            Image.fromarray(pixels[..., :3].astype(np.uint8)).save(path)
        out.append((f"skimage:{name}", path))
    if zoomed:
        for name, path in list(out):
            target = cache / f"zoom_{Path(name.split(':')[-1]).stem}.png"
            if not target.exists():
                with Image.open(path) as photo:
                    rgb = photo.convert("RGB")
                    w, h = rgb.size
                    box = (round(w * 0.2), round(h * 0.2), round(w * 0.8), round(h * 0.8))
                    rgb.crop(box).save(target)
            out.append((f"zoom:{name}", target))
    return out


def image_cases(count: int, skip: int = 0, threads: int | None = None) -> list[Case]:
    from lime_cli.image import choices
    from lime_cli.image.command import ImageSource, ImageTask
    from lime_cli.image.domain import Hide, segmenter_params
    from lime_cli.image.preprocess import Preprocessing, beside, read_class_names
    from lime_cli.run.settings import ModelSpec

    onnx = str(MODELS / "efficientnet_lite0.onnx")
    preprocessing = Preprocessing.from_settings(beside(onnx), {})
    names = read_class_names(preprocessing.class_names_file)
    options: tuple[tuple[str, Any], ...] = (("output", preprocessing.output),)
    if threads:
        options += (("threads", threads),)
    spec = ModelSpec(onnx, fmt="onnx", class_names=tuple(names), options=options)
    model = spec.load()
    resolved = preprocessing.resolve(model.input_spec)
    base = LimeParams(num_samples=choices.NUM_SAMPLES, num_features=choices.NUM_SHOWN, seed=0)
    qs = segmenter_params("quickshift", {})
    task = ImageTask(model=spec, labels=LabelRequest(), params=base, preprocessing=preprocessing,
                     segmenter="quickshift", segmenter_params=tuple(qs.items()),
                     hide=Hide("mean"))  # fmt: skip
    cases = []
    # Only 10 photos ship without a download: every set uses all of them (not tuned on).
    for name, path in image_paths(zoomed=count > len(image_paths()))[:count]:
        domain, _ = task.domain_for(ImageSource(str(path), str(path)), model, resolved)
        params = dataclasses.replace(
            base, num_features=domain.num_features, stability_k=choices.NUM_SHOWN
        )
        auto = dataclasses.replace(
            params, adaptive=True, min_samples=choices.MIN_SAMPLES,
            max_samples=choices.MAX_SAMPLES,
        )  # fmt: skip
        cases.append(
            Case(name, domain, model, params, choices.NUM_SHOWN, auto,
                 _lime_image(str(path), model, resolved))
        )  # fmt: skip
    return cases


def _lime_image(path: str, model: Any, resolved: Any) -> Callable[[int], tuple[set[Any], int]]:
    def run(seed: int) -> tuple[set[Any], int]:
        from lime.lime_image import LimeImageExplainer

        from lime_cli.image.preprocess import apply_geometry
        from lime_cli.image.reading import read_image

        picture = apply_geometry(read_image(path).image, resolved, path)
        encoder = resolved.encoder_for(picture.size, model.input_spec, path)
        fn = Timed(lambda images: model.predict(encoder.encode(images)))
        exp = LimeImageExplainer(random_state=seed).explain_instance(
            np.asarray(picture), fn, top_labels=1, num_samples=1000
        )
        label = exp.top_labels[0]
        ranked = sorted(exp.local_exp[label], key=lambda p: -abs(p[1]))
        return {i for i, _ in ranked[:5]}, fn.calls

    return run


def cases_for(modality: str, count: int, skip: int, k: int | None = None) -> list[Case]:
    cases = _cases(modality, count, skip)
    if k is not None and modality != "image":  # penguins has 7 columns: K = 10 is all of them
        for case in cases:
            case.params = dataclasses.replace(case.params, num_features=k)
            case.auto = dataclasses.replace(case.auto, num_features=k)
            case.k = k
    return cases


def _cases(modality: str, count: int, skip: int) -> list[Case]:
    if modality == "text":
        return text_cases(count, skip)
    if modality in ("cancer", "penguins"):
        return tabular_cases(modality, count, skip)
    if modality == "image":
        return image_cases(count, skip, IMAGE_THREADS)
    raise SystemExit(f"unknown modality {modality}")


# --------------------------------------------------------------------------- measures


def jaccard(a: set[Any], b: set[Any]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def mean_pairwise(sets: list[set[Any]]) -> float:
    return statistics.mean(jaccard(a, b) for a, b in itertools.combinations(sets, 2))


def top_k(explanation: Any, k: int) -> set[int]:
    features = sorted(explanation.explanations[0].features, key=lambda f: -abs(f.weight))
    return {f.index for f in features[:k]}


def batch_of(case: Case, n: int) -> int:
    return case.domain.preferred_batch_size(n)


def calibration(case: Case, samples: int, reference: int, seed: int) -> list[tuple[float, ...]]:
    """(reference weight, low, high, uncertain rank?, stderr) per fitted feature of one input."""
    domain, model = case.domain, case.model
    params = dataclasses.replace(case.params, num_samples=samples, seed=seed)
    z = domain.sample(samples, np.random.default_rng(seed))
    y = predict_samples(domain, model, z, batch_of(case, samples))
    exp = explain_predictions(domain, model, z, y, LabelRequest(), params)
    label = exp.explanations[0]
    features = np.array([f.index for f in label.features], dtype=np.intp)
    rng = np.random.default_rng(10_000 + seed)
    chunk = 20_000  # reference samples predicted a chunk at a time (memory)
    zs, ys = [], []
    for start in range(0, reference, chunk):
        m = min(chunk, reference - start)
        zc = domain.sample(m + (start > 0), rng)
        zc = zc[1:] if start > 0 else zc  # row 0 is the unperturbed input: keep it once
        zs.append(zc)
        ys.append(predict_samples(domain, model, zc, batch_of(case, m))[:, label.label_index])
    from lime_cli.engine.explain import stack_rows

    zr, yr = stack_rows(zs), np.concatenate(ys)
    weights = exponential_kernel(domain.distances(zr), float(exp.params["kernel_width"]))
    fit = WeightedDesign(zr, weights).fit(yr, features, params.ridge_alpha)
    truth = dict(zip((int(j) for j in fit.features), fit.coef))
    return [
        (float(truth[f.index]), f.interval[0], f.interval[1], float(bool(f.uncertain_rank)),
         float(f.stderr or 0.0))
        for f in label.features
    ]  # fmt: skip


def run_calibration(args: argparse.Namespace, modality: str) -> dict[str, Any]:
    cases = cases_for(modality, args.inputs, args.skip, args.num_features)
    t0 = time.perf_counter()
    covered, total, per_input = 0, 0, []
    groups: dict[bool, list[tuple[bool, float]]] = {True: [], False: []}
    for i, case in enumerate(cases):
        rows = calibration(case, args.samples, args.reference, seed=i + 1)
        hits = sum(lo <= w <= hi for w, lo, hi, _, _ in rows)
        covered, total = covered + hits, total + len(rows)
        per_input.append(hits / len(rows))
        for w, lo, hi, uncertain, se in rows:
            centre = (lo + hi) / 2
            # How far the centre lies beyond the reference, away from zero, in standard errors.
            outwards = math.copysign(1.0, centre) * (centre - w) / se if se else 0.0
            groups[bool(uncertain)].append((lo <= w <= hi, outwards))
        print(f"  {case.name:<28} features {len(rows):>4}  covered {hits / len(rows):.3f}",
              flush=True)  # fmt: skip
    for uncertain, pairs in groups.items():
        if pairs:
            print(f"  features whose rank is {'uncertain' if uncertain else 'settled'}: "
                  f"coverage {statistics.mean(c for c, _ in pairs):.3f} of {len(pairs)}, centres "
                  f"{statistics.mean(o for _, o in pairs):+.2f} standard errors beyond the "
                  "reference", flush=True)  # fmt: skip
    ratio = args.samples / args.reference
    expected = math.erf(z_value(0.95) / math.sqrt(1 + ratio) / math.sqrt(2))
    result = {
        "modality": modality, "inputs": len(cases), "pairs": total,
        "coverage": covered / max(1, total), "expected": expected,
        "min_input": min(per_input), "seconds": time.perf_counter() - t0,
    }  # fmt: skip
    print(f"calibration {modality}: {len(cases)} inputs, {total} (input, feature) pairs, "
          f"{args.samples} vs {args.reference} samples: coverage {result['coverage']:.3f} "
          f"(perfect calibration would give {expected:.3f}; lowest input "
          f"{result['min_input']:.3f}), {result['seconds']:.0f} s", flush=True)  # fmt: skip
    return result


def ours(case: Case, params: LimeParams, seed: int) -> tuple[Any, float, int]:
    fn = Timed(case.model.predict)
    view = type("M", (), {})()
    view.classes, view.mode = case.model.classes, case.model.mode
    view.describe, view.predict = case.model.describe, fn
    t0 = time.perf_counter()
    exp = explain(case.domain, view, LabelRequest(), dataclasses.replace(params, seed=seed),
                  np.random.default_rng(seed))  # fmt: skip
    return exp, time.perf_counter() - t0, fn.calls


def run_stability(args: argparse.Namespace, modality: str) -> dict[str, Any]:
    cases = cases_for(modality, args.inputs, args.skip, args.num_features)
    errors, observed_all = [], []
    t0 = time.perf_counter()
    for case in cases:
        sets, predicted = [], []
        for seed in range(1, args.seeds + 1):
            exp, _, _ = ours(case, case.params, seed)
            sets.append(top_k(exp, case.k))
            predicted.append(exp.explanations[0].stability["value"])
        obs = mean_pairwise(sets)
        pred = statistics.mean(predicted)
        errors.append(abs(pred - obs))
        observed_all.append(obs)
        print(f"  {case.name:<28} predicted {pred:.3f} observed {obs:.3f}", flush=True)
    result = {
        "modality": modality, "inputs": len(cases), "mae": statistics.mean(errors),
        "max_error": max(errors), "observed_mean": statistics.mean(observed_all),
        "seconds": time.perf_counter() - t0,
    }  # fmt: skip
    print(f"stability {modality}: {len(cases)} inputs x {args.seeds} seeds at "
          f"{cases[0].params.num_samples} samples: mean |predicted - observed| "
          f"{result['mae']:.3f} (max {result['max_error']:.3f}; observed Jaccard mean "
          f"{result['observed_mean']:.3f}), {result['seconds']:.0f} s", flush=True)  # fmt: skip
    return result


def auto_params(case: Case, args: argparse.Namespace) -> LimeParams:
    changes: dict[str, Any] = {}
    for flag in ("min_samples", "max_samples", "tie_tolerance", "stability_target"):
        value = getattr(args, flag)
        if value is not None:
            changes[flag] = value
    if args.stability_target is None and not args.no_reference:
        changes["reference_samples"] = case.params.num_samples
    if case.domain.modality == "image":
        changes.pop("min_samples", None)
        changes.pop("max_samples", None)
        if args.image_max_samples:
            changes["max_samples"] = args.image_max_samples
    return dataclasses.replace(case.auto, **changes)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run_efficiency(args: argparse.Namespace, modality: str) -> dict[str, Any]:
    cases = cases_for(modality, args.inputs, args.skip, args.num_features)
    rows = []
    t0 = time.perf_counter()
    for case in cases:
        if case.lime is None:
            print(f"  {case.name}: no lime runner for this set, skipped")
            continue
        params = auto_params(case, args)
        lime_sets, lime_calls, lime_secs = [], [], 0.0
        auto_sets, auto_calls, auto_secs, reasons = [], [], 0.0, []
        for seed in range(1, args.seeds + 1):
            t = time.perf_counter()
            s, c = case.lime(seed)
            lime_secs += time.perf_counter() - t
            lime_sets.append(s)
            lime_calls.append(c)
            exp, secs, calls = ours(case, params, seed)
            auto_secs += secs
            auto_sets.append(top_k(exp, case.k))
            auto_calls.append(calls)
            reasons.append(exp.params.get("stop_reason", "-"))
        row = {
            "name": case.name, "lime_j": mean_pairwise(lime_sets),
            "auto_j": mean_pairwise(auto_sets), "lime_calls": statistics.median(lime_calls),
            "auto_calls": auto_calls, "lime_s": lime_secs, "auto_s": auto_secs,
            "reasons": reasons,
        }  # fmt: skip
        rows.append(row)
        common = max(set(reasons), key=reasons.count)
        print(f"  {case.name:<28} lime J {row['lime_j']:.3f} ({row['lime_calls']:.0f} calls)  "
              f"auto J {row['auto_j']:.3f} (median {statistics.median(auto_calls):.0f}, max "
              f"{max(auto_calls)} calls; {common})  time lime/auto "
              f"{lime_secs / max(auto_secs, 1e-9):.2f}", flush=True)  # fmt: skip
    if not rows:
        return {"modality": modality, "inputs": 0}
    per_input = [statistics.median(r["auto_calls"]) for r in rows]
    every = [c for r in rows for c in r["auto_calls"]]
    lime_med = statistics.median(r["lime_calls"] for r in rows)
    result = {
        "modality": modality, "inputs": len(rows),
        "lime_j": statistics.mean(r["lime_j"] for r in rows),
        "auto_j": statistics.mean(r["auto_j"] for r in rows),
        "worse_inputs": sum(r["auto_j"] < r["lime_j"] - 1e-9 for r in rows),
        "lime_calls": lime_med, "auto_median": statistics.median(per_input),
        "auto_p90": pct(every, 90), "auto_max": max(every),
        "time_ratio": sum(r["lime_s"] for r in rows) / sum(r["auto_s"] for r in rows),
        "seconds": time.perf_counter() - t0,
    }  # fmt: skip
    big = [r for r in rows if statistics.median(r["auto_calls"]) > 5000]
    print(f"efficiency {modality}: {len(rows)} inputs x {args.seeds} seeds; top-{cases[0].k} "
          f"Jaccard lime {result['lime_j']:.3f} auto {result['auto_j']:.3f} (auto below lime on "
          f"{result['worse_inputs']} inputs); model calls lime {lime_med:.0f}, auto median "
          f"{result['auto_median']:.0f} ({result['auto_median'] / lime_med:.2f} of lime's), "
          f"p90 {result['auto_p90']:.0f}, max {result['auto_max']}; wall time lime/auto "
          f"{result['time_ratio']:.2f}; {result['seconds']:.0f} s", flush=True)  # fmt: skip
    for r in big:
        print(
            f"    over 5000: {r['name']} median {statistics.median(r['auto_calls']):.0f} "
            f"calls, Jaccard {r['lime_j']:.3f} (lime) -> {r['auto_j']:.3f} (auto)"
        )
    return result


#: Sample counts of the oracle's grid (text and tables; images are a fifth):
#: lime's default, a third of it, and the rounds of ``--num-samples auto`` to its cap.
ORACLE_GRID = (625, 1250, 1667, 2500, 5000, 10_000, 20_000)


def oracle_grid(case: Case) -> tuple[int, ...]:
    if case.domain.modality == "image":
        return tuple(n // 5 for n in ORACLE_GRID[:-1])  # 125 ... 2000 (4000 takes too long)
    return ORACLE_GRID


def top_k_at(case: Case, seed: int, grid: tuple[int, ...]) -> dict[int, set[int]]:
    """Top-K sets of one seed's run at every count of ``grid``: the first ``n``
    samples of one ``max(grid)``-sample draw (each prefix is an n-sample run)."""
    domain, model, largest = case.domain, case.model, max(grid)
    z = domain.sample(largest, np.random.default_rng(seed))
    y = predict_samples(domain, model, z, batch_of(case, largest))
    out = {}
    for n in grid:
        params = dataclasses.replace(case.params, num_samples=n, seed=seed, uncertainty=False)
        out[n] = top_k(
            explain_predictions(domain, model, z[:n], y[:n], LabelRequest(), params), case.k
        )
    return out


def best_rule(rows: list[dict[str, Any]], cheap: int) -> tuple[float, list[str]]:
    """The highest mean agreement any per-input stop rule could reach with a
    median of at most ``cheap`` model calls, and the inputs it would stop cheaply.

    The median is at most ``cheap`` only if more than half of the inputs stop
    at or below it; the rest may use the whole grid. Generous on purpose: each
    input is credited with its best agreement at or below ``cheap`` and its best
    anywhere (as if a rule knew both), and the cheap inputs are those that lose least.
    """
    count = len(rows) // 2 + 1
    low = [max(j for n, j in r["j"].items() if n <= cheap) for r in rows]
    high = [max(r["j"].values()) for r in rows]
    order = sorted(range(len(rows)), key=lambda i: high[i] - low[i])
    chosen = set(order[:count])
    total = sum(low[i] if i in chosen else high[i] for i in range(len(rows)))
    return total / len(rows), [rows[i]["name"] for i in sorted(chosen)]


def run_oracle(args: argparse.Namespace, modality: str) -> dict[str, Any]:
    """Whether *any* stop rule could meet the efficiency target on these inputs.

    For each input: lime's observed agreement at its defaults and ours at every
    count of a grid (the same seeds). A rule meeting the target needs a median of
    at most a third of lime's calls with a mean agreement at least lime's; the
    best any rule could do under that budget (:func:`best_rule`) is printed.
    """
    cases = cases_for(modality, args.inputs, args.skip, args.num_features)
    rows = []
    t0 = time.perf_counter()
    seeds = range(1, args.seeds + 1)
    for case in cases:
        if case.lime is None:
            print(f"  {case.name}: no lime runner for this set, skipped")
            continue
        grid = oracle_grid(case)
        lime_runs = [case.lime(seed) for seed in seeds]
        ours_runs = [top_k_at(case, seed, grid) for seed in seeds]
        row = {
            "name": case.name, "lime_j": mean_pairwise([s for s, _ in lime_runs]),
            "lime_calls": statistics.median(c for _, c in lime_runs),
            "j": {n: mean_pairwise([run[n] for run in ours_runs]) for n in grid},
        }  # fmt: skip
        rows.append(row)
        enough = [n for n, j in row["j"].items() if j >= row["lime_j"]]
        print(f"  {case.name:<28} lime J {row['lime_j']:.3f} at {row['lime_calls']:.0f}; ours "
              + " ".join(f"{n}:{j:.3f}" for n, j in row["j"].items())
              + f"; first at lime's: {enough[0] if enough else 'none'}", flush=True)  # fmt: skip
    if not rows:
        return {"modality": modality, "inputs": 0}
    lime_calls = statistics.median(r["lime_calls"] for r in rows)
    cheap = max(n for n in rows[0]["j"] if n <= lime_calls / 3 + 1)
    lime_j = statistics.mean(r["lime_j"] for r in rows)
    best, chosen = best_rule(rows, cheap)
    firsts = [min((n for n, j in r["j"].items() if j >= r["lime_j"]), default=math.inf)
              for r in rows]  # fmt: skip
    result = {
        "modality": modality, "inputs": len(rows), "lime_j": lime_j, "cheap": cheap,
        "best": best, "possible": best >= lime_j,
        "mean_at": {n: statistics.mean(r["j"][n] for r in rows) for n in rows[0]["j"]},
        "oracle_median": statistics.median(firsts), "seconds": time.perf_counter() - t0,
    }  # fmt: skip
    print(
        f"oracle {modality}: {len(rows)} inputs x {args.seeds} seeds; lime's mean top-"
        f"{cases[0].k} Jaccard {lime_j:.3f} at {lime_calls:.0f} calls; ours at each count: "
        + ", ".join(f"{n} {j:.3f}" for n, j in result["mean_at"].items()),
        flush=True,
    )
    print(
        f"  per input, the first count at lime's agreement: median {result['oracle_median']:.0f}"
        f" (lime {lime_calls:.0f}); the best any rule could do with a median of {cheap} calls:"
        f" mean Jaccard {best:.3f} against lime's {lime_j:.3f} ("
        + ("possible" if result["possible"] else "not possible")
        + f"; cheap inputs {', '.join(chosen)}); {result['seconds']:.0f} s",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "proof", choices=("calibration", "stability", "efficiency", "oracle", "all")
    )
    parser.add_argument(
        "--modality", default="all", help="text, cancer, penguins, tabular (both), image or all"
    )
    parser.add_argument("--inputs", type=int, default=20)
    parser.add_argument(
        "--skip",
        type=int,
        default=1,
        help="which interleaved subset of inputs (0: the tuning set, 1: report)",
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--num-features", type=int, help="K for text and tabular (default 10)")
    parser.add_argument("--samples", type=int, default=1000, help="calibration: small fit")
    parser.add_argument("--reference", type=int, default=100_000, help="calibration: reference")
    parser.add_argument(
        "--image-reference",
        type=int,
        default=10_000,
        help="calibration reference for images (a 100k one takes ~12 min each)",
    )
    parser.add_argument(
        "--image-inputs",
        type=int,
        help="inputs for images (default --inputs; beyond the photos, their zoomed centres)",
    )
    parser.add_argument(
        "--image-threads", type=int, help="ONNX Runtime threads (1 leaves a core free)"
    )
    parser.add_argument("--min-samples", type=int)
    parser.add_argument("--max-samples", type=int)
    parser.add_argument("--image-max-samples", type=int)
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="auto without the as-stable-as-the-fixed-default rule",
    )
    parser.add_argument("--tie-tolerance", type=float)
    parser.add_argument(
        "--no-selection-correction",
        action="store_true",
        help="intervals without the winner's-curse correction (to measure what it does)",
    )
    parser.add_argument("--stability-target", type=float)
    parser.add_argument(
        "--quick", action="store_true", help="4 inputs (image 2), 5 seeds, 20k reference (image 4k)"
    )
    args = parser.parse_args()
    global IMAGE_THREADS
    IMAGE_THREADS = args.image_threads
    if args.quick:
        args.inputs, args.seeds, args.reference, args.image_reference = 4, 5, 20_000, 4000
        args.image_inputs = args.image_inputs or 2
    if args.no_selection_correction:
        import lime_cli.engine.confidence as confidence

        confidence.selection_bias = lambda errors, keys, **_: np.zeros(len(errors.features))
    groups = {"all": ["text", "cancer", "penguins", "image"], "tabular": ["cancer", "penguins"]}
    modalities = groups.get(args.modality, [args.modality])
    proofs = ["calibration", "stability", "efficiency"] if args.proof == "all" else [args.proof]
    for proof in proofs:
        for modality in modalities:
            if proof in ("efficiency", "oracle") and modality == "penguins":
                continue  # lime's tabular explainer cannot take the pipeline's string columns
            local = argparse.Namespace(**vars(args))
            if modality == "image":
                local.reference = args.image_reference
                local.inputs = args.image_inputs or args.inputs
            proofs_by_name = {"calibration": run_calibration, "stability": run_stability,
                              "efficiency": run_efficiency, "oracle": run_oracle}  # fmt: skip
            proofs_by_name[proof](local, modality)


if __name__ == "__main__":
    main()
