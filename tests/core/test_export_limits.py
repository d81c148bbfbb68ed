"""An exported SavedModel is bounded: a deployed server survives any single request.

The photo endpoints read an image's size from its header and refuse one above 64 megapixels
(the limit of ``classify``), an empty one or an unknown format before decoding anything. The
bomb is a real PNG (20000x20000 grey pixels, ~0.4 MB) sent to the exported model in a fresh
process whose memory is watched: the old export decoded it and passed 14 GB.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from alexnet_tf.export import export_model
from alexnet_tf.images import MAX_PIXELS
from tests.model_fixtures import make_job

# Peak resident memory allowed to the serving process for the whole test: TensorFlow and the
# model take ~0.8 GB; decoding the bomb would take 1.2 GB more for its pixels alone.
RSS_LIMIT_BYTES = 1_800_000_000

SERVE = """
import json, sys
import numpy as np
import tensorflow as tf

model = tf.saved_model.load(sys.argv[1])
classify = model.signatures["serve_image_bytes"]
answers = {}
for path in sys.argv[2:]:
    with open(path, "rb") as file:
        data = file.read()
    try:
        result = classify(images=tf.constant([data]))
        answers[path] = {"top": result["top_label"][0].numpy().decode()}
    except tf.errors.InvalidArgumentError as error:
        answers[path] = {"refused": error.message}
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))
print("RESULT " + json.dumps({"answers": answers, "peak": peak}))
"""


def bomb_png(path: Path, size: int = 20_000) -> Path:
    """A valid PNG of ``size`` x ``size`` grey pixels, compressed row by row (no big array)."""
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit greyscale

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    compressor = zlib.compressobj(9)
    row = bytes(size + 1)  # filter byte 0, then black pixels
    data = b"".join(compressor.compress(row) for _ in range(size)) + compressor.flush()
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def run_watched(args: list[str], limit: int) -> tuple[dict | None, int]:
    """Run ``python -c SERVE args``; kill it if its resident memory passes ``limit``.

    Returns the RESULT it printed (None if killed) and the largest resident size seen.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    largest = 0
    deadline = time.monotonic() + 600
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with open(f"/proc/{process.pid}/statm") as statm:
                rss = int(statm.read().split()[1]) * 4096
        except (OSError, IndexError, ValueError):
            rss = 0
        largest = max(largest, rss)
        if rss > limit:
            process.kill()
            break
        time.sleep(0.02)
    else:
        if process.poll() is None:
            process.kill()
    stdout, stderr = process.communicate()
    for line in stdout.decode().splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :]), largest
    assert largest > limit, stderr.decode()[-3000:]
    return None, largest


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    job = make_job(root / "job", ["blobs", "stripes", "checkers"])
    return export_model(job, "savedmodel", root / "served")


def test_a_decompression_bomb_is_refused_from_its_header_within_bounded_memory(
    saved_model, tmp_path
):
    bomb = bomb_png(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 1_000_000
    photo = tmp_path / "photo.png"
    Image.new("RGB", (640, 427), (200, 120, 40)).save(photo)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    gif = tmp_path / "anim.gif"
    Image.new("RGB", (64, 64)).save(gif)

    result, largest = run_watched(
        [str(saved_model), str(bomb), str(photo), str(empty), str(gif)], RSS_LIMIT_BYTES
    )
    assert result is not None, f"killed: resident memory passed {largest / 1e9:.1f} GB"
    answers = result["answers"]
    refusal = answers[str(bomb)]["refused"]
    assert "images[0]: image is too large (20000x20000 pixels; the limit is 64 megapixels)" in (
        refusal
    )
    assert answers[str(photo)]["top"] in ("blobs", "stripes", "checkers")  # still serving
    assert "not a JPEG, PNG or BMP image" in answers[str(empty)]["refused"]
    assert "not a JPEG, PNG or BMP image" in answers[str(gif)]["refused"]
    assert result["peak"] < RSS_LIMIT_BYTES


def test_images_with_no_pixels_are_refused_not_predicted(saved_model):
    import tensorflow as tf

    served = tf.saved_model.load(str(saved_model))
    serve_rgb = served.signatures["serve_rgb"]
    for shape in [(1, 0, 0, 3), (1, 10, 0, 3), (2, 0, 7, 3)]:
        with pytest.raises(tf.errors.InvalidArgumentError, match="has no pixels"):
            serve_rgb(images=tf.zeros(shape, tf.uint8))
    side = int(MAX_PIXELS**0.5) + 1  # just above the limit (8001x8001), refused undecoded
    buffer = io.BytesIO()
    Image.new("L", (side, 1)).save(buffer, "PNG")
    header = bytearray(buffer.getvalue())
    header[20:24] = struct.pack(">I", side)  # the IHDR now declares side x side
    with pytest.raises(tf.errors.InvalidArgumentError, match="too large"):
        served.signatures["serve_image_bytes"](images=tf.constant([bytes(header)]))
    # A normal request still answers, with one probability row per image.
    result = serve_rgb(images=tf.constant(np.full((2, 50, 40, 3), 90, np.uint8)))
    assert result["probabilities"].shape == (2, 3)


_SIGNATURES = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"GIF89a", b"RIFF"]


@settings(max_examples=120, derandomize=True, deadline=None)
@given(
    st.tuples(st.sampled_from(_SIGNATURES), st.binary(max_size=40), st.integers(0, 70_000)).map(
        lambda parts: parts[0] + parts[1] + struct.pack(">II", parts[2], parts[2])
    )
)
def test_any_bytes_are_decoded_or_refused_by_the_header_reader(data):
    """Random headers (sizes in PNG's IHDR place, cut files, other formats): the export's
    reader answers with pixels within the limit or a TensorFlow refusal, never anything else."""
    import tensorflow as tf

    from alexnet_tf.serving import decode_image

    try:
        pixels = decode_image(tf.constant(data))
    except tf.errors.InvalidArgumentError:
        return
    height, width, _ = pixels.shape
    assert 0 < height * width <= MAX_PIXELS
