"""Broken and hostile images through ``image``, ``pick image`` and ``compare image``.

Whatever the file, the command ends with the documented exit code (3 for a
bad image), one line on stderr with no Pillow warning and no traceback, and
a failure leaves none of the --out, --heatmap or temporary files. Hypothesis
feeds random bytes, truncated prefixes of real PNG/JPEG/GIF/BMP/TIFF/WebP
files and random small pictures saved in random modes.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from PIL import Image

from lime_cli.cli import cli

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "sample_data" / "images" / "chelsea.jpg"
FEW = ["--num-samples", "16", "--seed", "4"]
FAST = [*FEW, "--segmenter", "slic", "--segments", "4"]
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}


def invoke(*args, input: bytes | None = None):
    """Run the CLI in-process; warnings it would print on stderr are kept in ``.warnings``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for hidden in (
            DeprecationWarning,
            PendingDeprecationWarning,
            ImportWarning,
            ResourceWarning,
        ):
            warnings.simplefilter("ignore", hidden)
        result = CliRunner().invoke(cli, [str(a) for a in args], input=input, env=CLEAN_ENV)
    result.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
    return result


def files_in(folder: Path) -> set[str]:
    return set(os.listdir(folder))


def assert_clean_failure(result, code: int, folder: Path, before: set[str]) -> str:
    """Exit ``code``, one stderr line, no warning or traceback, and nothing new in ``folder``."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert not result.warnings, result.warnings
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lime-explain: "), result.stderr
    assert files_in(folder) == before, "an output or temporary file was left behind"
    return lines[0]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Softmax of the three channel means: takes pictures of any size, answers fast."""
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Softmax", ["m"], ["p"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "means",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, None, None])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 3])],
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx_model.ir_version = 8
    path = tmp_path_factory.mktemp("model") / "means.onnx"
    onnx.save(onnx_model, str(path))
    return str(path)


def encoded(fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    """A small real photo (scikit-image's cat) encoded as ``fmt``."""
    buffer = io.BytesIO()
    Image.open(PHOTO).convert("RGB").resize(size).save(buffer, fmt)
    return buffer.getvalue()


REAL = {fmt: encoded(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")}


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_declaring(width: int, height: int, rows: bytes = b"", mode: int = 2) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` (8-bit; mode 2 RGB, 0 grey)."""
    header = struct.pack(">IIBBBBB", width, height, 8, mode, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def tiff_with_a_tag_past_the_end() -> bytes:
    """A TIFF header whose only tag points beyond the file: Pillow warns, then gives up."""
    entry = struct.pack("<HHII", 256, 3, 1000, 5000)
    return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + entry + b"\x00" * 4


def corrupted_png() -> bytes:
    """The real PNG with bytes inside its compressed data flipped (zlib or CRC error)."""
    data = bytearray(REAL["PNG"])
    start = data.index(b"IDAT") + 20
    for i in range(start, start + 40, 3):
        data[i] ^= 0xA5
    return bytes(data)


#: name -> (file name, bytes, a word the error line must contain)
BROKEN = {
    "empty": ("empty.png", b"", "empty"),
    "text": ("notes.jpg", b"this is not an image\n", "not an image"),
    "random": ("noise.png", bytes(range(256)) * 3, "not an image"),
    "signature-only": ("sig.png", b"\x89PNG\r\n\x1a\n", "image"),
    "truncated-png": ("cut.png", REAL["PNG"][: len(REAL["PNG"]) // 2], "truncated"),
    "truncated-jpeg": ("cut.jpg", REAL["JPEG"][: len(REAL["JPEG"]) // 2], "truncated"),
    "truncated-webp": ("cut.webp", REAL["WEBP"][:60], "image"),
    "corrupted-png": ("bad.png", corrupted_png(), "image"),
    "zero-width-png": ("zero.png", png_declaring(0, 8), "zero size"),
    "zero-height-gif": ("zero.gif", b"GIF89a\x08\x00\x00\x00\x00\x00\x00" + b"\x3b", "zero size"),
    "bomb-header": ("bomb.png", png_declaring(100_000, 100_000), "--max-pixels"),
    "absurd-header": ("absurd.png", png_declaring(2**31 - 1, 2**31 - 1), "--max-pixels"),
    "tiff-warning": ("warn.tif", tiff_with_a_tag_past_the_end(), "image"),
}

COMMANDS = [
    "image",
    "pick",
    "compare",
]


def command_line(command: str, model: str, item: str, folder: Path) -> list:
    if command == "image":
        return ["image", "--model", model, item, *FAST, "--out", folder / "out.png",
                "--out", folder / "out.json", "--out", folder / "out.npy",
                "--heatmap", folder / "heat.png"]  # fmt: skip
    if command == "pick":
        return ["pick", "image", "--model", model, item, *FAST, "--budget", 1,
                "--out", folder / "pick.json"]  # fmt: skip
    return ["compare", "image", "--model", model, "--model", model, item, *FAST,
            "--out", folder / "compare.json"]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_images_exit_3_in_every_command(model, tmp_path, command, case):
    name, data, word = BROKEN[case]
    path = tmp_path / name
    path.write_bytes(data)
    before = files_in(tmp_path)
    result = invoke(*command_line(command, model, str(path), tmp_path))
    line = assert_clean_failure(result, 3, tmp_path, before)
    assert line.startswith("lime-explain: input error:") and name in line and word in line


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_image_exits_3_in_every_command(model, tmp_path, command):
    before = files_in(tmp_path)
    result = invoke(*command_line(command, model, str(tmp_path / "nope.png"), tmp_path))
    assert "no such file" in assert_clean_failure(result, 3, tmp_path, before)


def test_a_real_decompression_bomb_is_refused_before_decoding(model, tmp_path):
    """A 1 MB PNG that decodes to 36 megapixels: refused from its header alone."""
    side = 6000
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(side, side, b"\x00" * ((side + 1) * side), mode=0))
    assert path.stat().st_size < 1_000_000
    before = files_in(tmp_path)
    result = invoke("image", "--model", model, path, *FAST, "--max-pixels", 1_000_000,
                    "--out", tmp_path / "out.json")  # fmt: skip
    line = assert_clean_failure(result, 3, tmp_path, before)
    assert "36000000 pixels" in line and "--max-pixels" in line


def test_a_raised_max_pixels_is_honoured_beyond_pillows_own_limit(model, tmp_path):
    """200 megapixels is over twice Pillow's default limit, which used to refuse it anyway."""
    path = tmp_path / "large.png"
    path.write_bytes(png_declaring(20_000, 10_000))
    default = invoke("image", "--model", model, path, *FAST)
    assert default.exit_code == 3 and "200000000 pixels, over the limit" in default.stderr
    raised = invoke("image", "--model", model, path, *FAST, "--max-pixels", 300_000_000)
    assert raised.exit_code == 3  # the header is honest about its size, the data is missing
    assert "truncated" in raised.stderr and "limit" not in raised.stderr


@pytest.mark.parametrize(
    "data, word",
    [(b"", "empty"), (png_declaring(100_000, 100_000), "--max-pixels"), (b"GIF89a", "image")],
    ids=["empty", "bomb", "cut-gif"],
)
def test_broken_images_on_stdin_exit_3(model, tmp_path, data, word):
    before = files_in(tmp_path)
    result = invoke("image", "--model", model, "-", *FAST, "--out", tmp_path / "o.png",
                    input=data)  # fmt: skip
    line = assert_clean_failure(result, 3, tmp_path, before)
    assert "stdin" in line and word in line


def test_stdin_larger_than_any_allowed_image_is_refused_unread(model, tmp_path):
    from lime_cli.image.reading import max_file_bytes

    data = b"\x89PNG\r\n\x1a\n" + b"\x00" * max_file_bytes(100)
    before = files_in(tmp_path)
    result = invoke("image", "--model", model, "-", *FAST, "--max-pixels", 100, input=data)
    line = assert_clean_failure(result, 3, tmp_path, before)
    assert "larger than the limit" in line and "--max-pixels" in line


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused_not_read_forever(model, tmp_path):
    before = files_in(tmp_path)
    result = invoke("image", "--model", model, "/dev/zero", *FAST, "--out", tmp_path / "o.png")
    assert "not a regular file" in assert_clean_failure(result, 3, tmp_path, before)


def test_a_folder_without_image_files_is_a_usage_error(model, tmp_path):
    folder = tmp_path / "photos"
    (folder / "old").mkdir(parents=True)  # (a folder named like a picture is an input
    # that fails: tests/test_folder_entries.py)
    (folder / "notes.txt").write_text("no pictures here", encoding="utf-8")
    before = files_in(tmp_path)
    result = invoke("image", "--model", model, folder, *FAST)
    assert "no image" in assert_clean_failure(result, 2, tmp_path, before)


@pytest.mark.parametrize(
    "option, target",
    [("--out", "taken.png"), ("--heatmap", "taken.png"), ("--out", "missing/o.npy"),
     ("--out", "missing/o.json")],
)  # fmt: skip
def test_unwritable_output_targets_exit_3_and_leave_nothing(model, tmp_path, option, target):
    picture = tmp_path / "photo.png"
    picture.write_bytes(REAL["PNG"])
    (tmp_path / "taken.png").mkdir()
    before = files_in(tmp_path)
    result = invoke("image", "--model", model, picture, *FAST, option, tmp_path / target)
    assert target.split("/")[0] in assert_clean_failure(result, 3, tmp_path, before)


# -- property-based ---------------------------------------------------------------

HYPOTHESIS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00",
         b"MM\x00*", b"RIFF\x00\x00\x00\x00WEBP"]  # fmt: skip


def run_and_check(model: str, folder: Path, path: Path, *extra) -> tuple[int, dict | None]:
    """Run the image command with every output; exit 0 writes all, exit 3 writes none."""
    outs = {"json": folder / "o.json", "png": folder / "o.png", "npy": folder / "o.npy",
            "heat": folder / "h.png"}  # fmt: skip
    outputs = ["--out", outs["json"], "--out", outs["png"], "--out", outs["npy"],
               "--heatmap", outs["heat"]]  # fmt: skip
    options = [*FEW, *extra] if extra else FAST
    result = invoke("image", "--model", model, path, *options, *outputs)
    assert result.exit_code in (0, 3), (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and not result.warnings, result.warnings
    assert not [n for n in os.listdir(folder) if n.startswith(".lime")]
    if result.exit_code == 3:
        assert len(result.stderr.splitlines()) == 1
        assert not any(p.exists() for p in outs.values())
        return 3, None
    data = json.loads(outs["json"].read_text(encoding="utf-8"))
    segments = np.load(outs["npy"])
    assert segments.shape == (data["input"]["height"], data["input"]["width"])
    for png in (outs["png"], outs["heat"]):
        with Image.open(png) as drawn:
            assert drawn.format == "PNG" and min(drawn.size) >= 1
    return 0, data


@HYPOTHESIS
@given(prefix=st.sampled_from(MAGIC), body=st.binary(max_size=300))
def test_random_bytes_are_refused_cleanly(model, prefix, body):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = folder / "input.img"
        path.write_bytes(prefix + body)
        run_and_check(model, folder, path)


@HYPOTHESIS
@given(fmt=st.sampled_from(sorted(REAL)), data=st.data())
def test_truncated_real_files_are_explained_or_refused_cleanly(model, fmt, data):
    whole = REAL[fmt]
    cut = data.draw(st.integers(min_value=0, max_value=len(whole) - 1), label="cut")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = folder / f"cut.{fmt.lower()}"
        path.write_bytes(whole[:cut])
        code, explained = run_and_check(model, folder, path)
        if code == 0:  # only the last bytes were cut (a trailer Pillow does not need)
            assert (explained["input"]["width"], explained["input"]["height"]) == (40, 30)


#: Pillow modes and the formats that can store each.
MODES = {
    "1": ["PNG", "BMP", "TIFF", "GIF"],
    "L": ["PNG", "BMP", "TIFF", "GIF", "JPEG", "WEBP"],
    "P": ["PNG", "BMP", "TIFF", "GIF"],
    "RGB": ["PNG", "BMP", "TIFF", "GIF", "JPEG", "WEBP"],
    "RGBA": ["PNG", "TIFF", "WEBP", "GIF"],
    "LA": ["PNG", "TIFF"],
    "I;16": ["PNG", "TIFF"],
    "I": ["PNG", "TIFF"],
    "F": ["TIFF"],
    "CMYK": ["JPEG", "TIFF"],
}


@st.composite
def small_pictures(draw: st.DrawFn) -> tuple[str, str, np.ndarray]:
    mode = draw(st.sampled_from(sorted(MODES)))
    fmt = draw(st.sampled_from(MODES[mode]))
    height = draw(st.integers(1, 12))
    width = draw(st.integers(1, 12))
    dtype, channels = {"I;16": (np.uint16, 1), "I": (np.int32, 1), "F": (np.float32, 1)}.get(
        mode, (np.uint8, len(Image.new(mode, (1, 1)).getbands()))
    )
    top = {np.uint16: 65535, np.int32: 100_000, np.float32: 300}.get(dtype, 255)
    values = draw(st.lists(st.integers(0, top), min_size=1, max_size=4))
    flat = np.resize(np.array(values), height * width * channels).astype(dtype)
    return mode, fmt, flat.reshape((height, width, channels))


@HYPOTHESIS
@given(picture=small_pictures(), segmenter=st.sampled_from(["quickshift", "slic", "felzenszwalb"]))
def test_small_pictures_in_any_mode_are_explained(model, picture, segmenter):
    mode, fmt, array = picture
    height, width, channels = array.shape
    if mode in ("I;16", "I", "F"):
        image = Image.fromarray(array[..., 0])  # the mode follows the dtype
    elif mode in ("1", "L", "P"):
        image = Image.fromarray(array[..., 0]).convert(mode)
    else:
        image = Image.frombytes(mode, (width, height), array.tobytes())
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = folder / f"picture.{fmt.lower()}"
        try:
            image.save(path, fmt)
        except (OSError, ValueError, KeyError):
            assume(False)  # a combination Pillow will not write
        extra = ["--segmenter", segmenter]
        code, explained = run_and_check(model, folder, path, *extra)
        assert code == 0
        assert (explained["input"]["width"], explained["input"]["height"]) == (width, height)
        assert explained["input"]["num_superpixels"] >= 1
