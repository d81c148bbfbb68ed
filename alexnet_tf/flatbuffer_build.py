"""Converting the current model into the LiteRT flatbuffer that answers the first top-5.

Run in a background process at low priority (``python -m alexnet_tf.flatbuffer_build
[--model PATH]``, started by ``flatbuffer_cache.start_background_build``) after weights are
imported, after a job finishes, or the first time a model is used without one. The conversion
takes ~15-20 s of CPU on a 2-core machine (TensorFlow's import included) and ~1 GB of memory,
which is why it never runs in the app's or the CLI's own process.

One signature, ``analyze``, with every named layer and ``prob`` as outputs: a second
signature (probabilities only) shares the weights in the file, but LiteRT's XNNPACK packs the
weights once per signature at load, which cost 230 MB more memory for nothing measurable.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .flatbuffer_cache import (
    OUTPUTS,
    SIGNATURE,
    ModelSource,
    build_running,
    file_stat,
    hold_build_lock,
    model_source,
    save_flatbuffer,
    source_record,
)


def flatbuffer_bytes(model) -> bytes:
    """The TFLite flatbuffer of ``model`` (a ``build_alexnet`` model): signature ``analyze``,
    input ``image`` ``(n, 227, 227, 3)`` float32, one output per name in ``OUTPUTS``."""
    import keras
    import tensorflow as tf

    from .layer_names import INPUT_SHAPE

    outputs = keras.Model(
        model.input, [model.get_layer(name).output for name in OUTPUTS], name="analyze"
    )

    def analyze(image):
        return dict(zip(OUTPUTS, outputs(image, training=False), strict=True))

    archive = keras.export.ExportArchive()
    archive.track(outputs)
    archive.add_endpoint(
        SIGNATURE, analyze, input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)]
    )
    with tempfile.TemporaryDirectory(prefix="alexnet-flatbuffer-") as folder:
        # A SavedModel first: the converter freezes its variables into the flatbuffer (from a
        # concrete function it kept them as resource variables, without their values).
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=[SIGNATURE])
        return converter.convert()


def build_flatbuffer(model_spec: str | Path | None = None, model=None) -> Path:
    """Convert ``model_spec``'s model (or the already loaded ``model`` of it) and cache it.

    The source file is hashed before it is read for the conversion and its stat checked
    after: weights replaced meanwhile make this raise ``OSError`` rather than cache a
    flatbuffer of the old weights under the new file's key.

    Returns:
        The flatbuffer's path.
    """
    source = model_source(model_spec)
    record = source_record(source.file)
    if model is None:
        from .inference import Classifier

        model = Classifier.load(model_spec).model
    content = flatbuffer_bytes(model)
    if file_stat(source.file) != {key: record[key] for key in ("size", "mtime_ns", "inode")}:
        raise OSError(f"{source.file} was replaced during the conversion; not cached")
    return save_flatbuffer(source, record, content, int(model.output_shape[-1]))


def _build_once(source: ModelSource, model_spec) -> int:
    if build_running(source):
        print(f"{source.name}: another process is building its flatbuffer", flush=True)
        return 0
    lock = hold_build_lock(source)
    try:
        path = build_flatbuffer(model_spec)
    finally:
        lock.unlink(missing_ok=True)
    print(f"{source.name}: wrote {path}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m alexnet_tf.flatbuffer_build [--model PATH]``: build and cache one model."""
    parser = argparse.ArgumentParser(description="Build the LiteRT flatbuffer of a model.")
    parser.add_argument("--model", help="a .keras file or job folder (default: ImageNet)")
    args = parser.parse_args(argv)
    if hasattr(os, "nice"):
        os.nice(10)  # the user's own work comes first
    from .errors import AlexNetStudioError

    try:
        source = model_source(args.model)
        return _build_once(source, args.model)
    except (AlexNetStudioError, OSError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1


def time_litert(model, one, many, rounds: int) -> dict:
    """LiteRT's inference speed on this machine, for the per-machine measurement.

    Converts ``model`` (the measurement's random-weight AlexNet: speed does not depend on the
    weights) and times the flatbuffer as ``LiteClassifier`` runs it, on the same inputs as the
    TensorFlow paths: one image (median of ``rounds * 5`` calls) and the batch ``many``
    (median of ``rounds``). Returns ``{"single_ms": ..., "batch_images_per_s": ...}``, or
    ``{}`` when LiteRT is not installed.
    """
    import statistics
    import time

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return {}
    interpreter = Interpreter(
        model_content=flatbuffer_bytes(model), num_threads=max(1, os.cpu_count() or 1)
    )
    index = interpreter.get_signature_runner(SIGNATURE).get_input_details()["image"]["index"]

    def median_seconds(batch, count):
        interpreter.resize_tensor_input(index, batch.shape, strict=False)
        interpreter.allocate_tensors()
        times = []
        for _ in range(count + 1):  # the first call packs the weights: not timed
            started = time.perf_counter()
            interpreter.set_tensor(index, batch)
            interpreter.invoke()
            times.append(time.perf_counter() - started)
        return statistics.median(times[1:])

    single = median_seconds(one, rounds * 5)
    batch = median_seconds(many, rounds)
    return {
        "single_ms": round(single * 1e3, 2),
        "batch_images_per_s": round(len(many) / batch, 2),
    }


if __name__ == "__main__":
    from .quiet import quiet_tensorflow

    quiet_tensorflow()
    sys.exit(main())
