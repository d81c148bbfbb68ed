"""Peak memory of one request to an exported SavedModel's ``serve_image_bytes``.

Each case runs in a fresh process that loads the export (a 3-class AlexNet with random
weights: the size of the network is what counts) and sends one request; the table shows
the process's peak resident memory (VmHWM) after loading and after the request. The
numbers back the bound stated in docs/export.md.

    python -m benchmarks.serving_memory [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import subprocess
import sys
import zlib

from benchmarks._common import (
    machine_header,
    markdown_table,
    quiet_tensorflow,
    scratch_folder,
)

REQUEST = """
import json, sys
import tensorflow as tf

def peak():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmHWM"))

model = tf.saved_model.load(sys.argv[1])
classify = model.signatures["serve_image_bytes"]
classify(images=tf.constant([open(sys.argv[2], "rb").read()]))  # first call traces
loaded = peak()
data = [open(path, "rb").read() for path in sys.argv[3:]]
try:
    classify(images=tf.constant(data))
    answer = "answered"
except tf.errors.InvalidArgumentError as error:
    answer = "refused"
print(json.dumps({"loaded": loaded, "peak": peak(), "answer": answer}))
"""


def _image_bytes(width: int, height: int, fmt: str, mode: str = "RGB") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


def _bomb_png(side: int) -> bytes:
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(bytes(side + 1)) for _ in range(side))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data + compressor.flush())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 64-megapixel cases")
    args = parser.parse_args()
    quiet_tensorflow()
    from alexnet_tf.export import export_model
    from tests.model_fixtures import make_job

    work = scratch_folder("serving-memory-")
    export = export_model(make_job(work / "job", ["a", "b", "c"]), "savedmodel", work / "served")
    cases = {
        "JPEG 640x427": [_image_bytes(640, 427, "JPEG")],
        "JPEG 4000x3000 (12 MP)": [_image_bytes(4000, 3000, "JPEG")],
        "8 x JPEG 4000x3000 in one request": [_image_bytes(4000, 3000, "JPEG")] * 8,
        "PNG 20000x20000 (400 MP bomb, refused)": [_bomb_png(20_000)],
    }
    if not args.quick:
        cases["JPEG 8000x8000 (64 MP, the limit)"] = [_image_bytes(8000, 8000, "JPEG")]
        cases["PNG RGBA 8000x8000 (64 MP, the limit)"] = [_image_bytes(8000, 8000, "PNG", "RGBA")]
    small = work / "small.jpg"
    small.write_bytes(cases["JPEG 640x427"][0])
    rows = []
    for name, images in cases.items():
        paths = []
        for index, data in enumerate(images):
            paths.append(work / f"{len(rows)}-{index}.img")
            paths[-1].write_bytes(data)
        result = subprocess.run(
            [sys.executable, "-c", REQUEST, str(export), str(small), *map(str, paths)],
            capture_output=True,
            text=True,
            check=True,
        )
        measured = json.loads(result.stdout.strip().splitlines()[-1])
        extra = (measured["peak"] - measured["loaded"]) / 1e6
        rows.append([name, f"{sum(map(len, images)) / 1e6:.2f}", measured["answer"],
                     f"{measured['loaded'] / 1e6:.0f}", f"{measured['peak'] / 1e6:.0f}",
                     f"{extra:.0f}"])  # fmt: skip
        print(f"  {name}: {extra:.0f} MB", file=sys.stderr, flush=True)
    print(machine_header())
    print()
    print(markdown_table(
        ["request", "MB sent", "answer", "peak MB after loading", "peak MB after request",
         "request's extra MB"], rows,
    ))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
