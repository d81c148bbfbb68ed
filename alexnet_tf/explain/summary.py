"""The layers as numbers: output shape, parameters, multiply-adds, memory and time per layer.

Counts come from the layers' own shapes and weights, so a fine-tuned model (another fc8)
gets its own. Multiply-adds are counted as the facts of the BVLC model count them: one per
weight use in a convolution or a dense layer; LRN, pooling and softmax do a few operations
per value but no multiply-adds, so they count 0 (the ImageNet model's total is 724,406,816).
The time of each layer is measured here: the layer is run on the previous layer's output,
compiled once, then timed; it is a figure of this machine, not of AlexNet.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

# The layers a user knows, in order; flatten, dropout and the input are folded into them.
SUMMARY_LAYERS = (
    "conv1", "norm1", "pool1", "conv2", "norm2", "pool2",
    "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8", "prob",
)  # fmt: skip
BYTES_PER_VALUE = 4  # float32 activations


@dataclass(frozen=True)
class LayerSummary:
    """One row of the summary.

    Attributes:
        name: the layer's name (``conv1`` ... ``prob``).
        kind: what it computes, in a few words.
        output_shape: its output at batch 1, without the batch dimension.
        parameters: weights and biases.
        multiply_adds: multiply-accumulate operations for one image.
        activation_bytes: its output's size at batch 1 (float32).
        seconds: measured time of the layer for one image on this machine (median of runs);
            ``None`` when not measured.
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    parameters: int
    multiply_adds: int
    activation_bytes: int
    seconds: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready form (``summary --json``)."""
        row = asdict(self)
        row["output_shape"] = list(self.output_shape)
        return row


def _kind(layer) -> str:
    name = type(layer).__name__
    if "Conv" in name:
        height, width = layer.kernel_size
        groups = f", {layer.groups} groups" if layer.groups > 1 else ""
        stride = f", stride {layer.strides[0]}" if layer.strides[0] > 1 else ""
        return f"conv {height}x{width}{stride}{groups} + ReLU"
    if name == "Dense":
        return "dense + ReLU" if layer.activation.__name__ == "relu" else "dense"
    if name == "LocalResponseNormalization":
        return "local response norm"
    if name == "MaxPooling2D":
        return f"max pool {layer.pool_size[0]}x{layer.pool_size[1]}, stride {layer.strides[0]}"
    if name == "Softmax":
        return "softmax"
    return name


def _multiply_adds(layer, output_shape) -> int:
    kind = type(layer).__name__
    if "Conv" in kind:
        height, width = layer.kernel_size
        in_per_group = int(layer.kernel.shape[2])  # the kernel is (kh, kw, in/groups, out)
        return int(np.prod(output_shape)) * height * width * in_per_group
    if kind == "Dense":
        return int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
    return 0


def count_layers(model) -> list[LayerSummary]:
    """Shape, parameters, multiply-adds and memory of each layer of ``SUMMARY_LAYERS``.

    Args:
        model: an AlexNet built by ``build_alexnet`` or loaded from a ``.keras`` file.

    Returns:
        One row per layer, in network order, without timings.
    """
    rows = []
    for name in SUMMARY_LAYERS:
        layer = model.get_layer(name)
        shape = tuple(int(size) for size in layer.output.shape[1:])
        rows.append(
            LayerSummary(
                name=name,
                kind=_kind(layer),
                output_shape=shape,
                parameters=int(sum(np.prod(w.shape) for w in layer.weights)),
                multiply_adds=_multiply_adds(layer, shape),
                activation_bytes=int(np.prod(shape)) * BYTES_PER_VALUE,
            )
        )
    return rows


def time_layers(model, runs: int = 3, should_stop=None) -> dict[str, float]:
    """Seconds each layer takes on one image here: the median of ``runs`` timed calls.

    Each layer is compiled on its own (``tf.function``) and fed the previous layer's output,
    so the times are those of one forward pass cut at the layers. Flatten and dropout (free
    at inference) are folded into the next layer.

    Args:
        model: the AlexNet.
        runs: timed calls per layer, after one untimed call that compiles it.
        should_stop: called between layers; when it returns True, the layers timed so far
            are returned.
    """
    import tensorflow as tf

    from ..model import INPUT_SHAPE

    rng = np.random.default_rng(0)
    value = tf.constant(rng.normal(0, 50, (1, *INPUT_SHAPE)).astype(np.float32))
    times = {}
    pending = []  # layers folded into the next named one (flatten, dropout)
    for layer in model.layers[1:]:
        pending.append(layer)
        if layer.name not in SUMMARY_LAYERS:
            continue
        if should_stop is not None and should_stop():
            break
        group = tuple(pending)
        pending = []
        call = tf.function(lambda x, group=group: _apply(group, x))
        result = call(value)  # compile
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            result = call(value)
            _ = result.numpy()  # wait for the value, not only the dispatch
            samples.append(time.perf_counter() - started)
        times[layer.name] = float(np.median(samples))
        value = result
    return times


def _apply(layers, x):
    for layer in layers:
        x = layer(x, training=False)
    return x


def summarize(model, *, measure: bool = True, runs: int = 3, should_stop=None) -> dict:
    """The whole summary, as ``summary --json`` prints it and the app shows it.

    Returns:
        ``{"layers": [row, ...], "total": {...}, "measured_on": CPU or None}``: the rows of
        ``count_layers`` (with ``seconds`` when ``measure``), their sums, and the machine the
        times were measured on.
    """
    rows = count_layers(model)
    measured_on = None
    if measure:
        from ..machine import describe_machine

        times = time_layers(model, runs=runs, should_stop=should_stop)
        rows = [LayerSummary(**{**asdict(row), "seconds": times.get(row.name)}) for row in rows]
        machine = describe_machine()
        measured_on = f"{machine.cpu_model}, {machine.cores} logical CPUs"
    seconds = [row.seconds for row in rows if row.seconds is not None]
    return {
        "model": model.name,
        "layers": [row.to_dict() for row in rows],
        "total": {
            "parameters": sum(row.parameters for row in rows),
            "multiply_adds": sum(row.multiply_adds for row in rows),
            "activation_bytes": sum(row.activation_bytes for row in rows),
            "seconds": sum(seconds) if measure and seconds else None,
        },
        "measured_on": measured_on,
    }


def format_summary(summary: dict) -> str:
    """The summary as an aligned text table (``alexnet-studio summary``)."""
    header = ("layer", "computes", "output", "parameters", "mult-adds", "memory", "time")
    lines = []
    for row in summary["layers"]:
        lines.append(
            (
                row["name"],
                row["kind"],
                "x".join(map(str, row["output_shape"])),
                f"{row['parameters']:,}",
                f"{row['multiply_adds']:,}",
                format_bytes(row["activation_bytes"]),
                format_seconds(row["seconds"]),
            )  # fmt: skip
        )
    total = summary["total"]
    lines.append(
        (
            "total",
            "",
            "",
            f"{total['parameters']:,}",
            f"{total['multiply_adds']:,}",
            format_bytes(total["activation_bytes"]),
            format_seconds(total["seconds"]),
        )  # fmt: skip
    )
    widths = [max(len(str(r[i])) for r in (header, *lines)) for i in range(len(header))]
    left = {0, 1, 2}

    def line(cells):
        return "  ".join(
            str(c).ljust(w) if i in left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    text = [line(header), *map(line, lines)]
    if summary["measured_on"]:
        text.append(f"time: one image, measured here layer by layer on {summary['measured_on']}")
    return "\n".join(text)


def format_bytes(count: int) -> str:
    """``1161600`` -> ``"1.1 MB"`` (decimal units, as file managers show them)."""
    if count >= 1_000_000:
        return f"{count / 1e6:.1f} MB"
    return f"{count / 1e3:.1f} kB"


def format_seconds(seconds: float | None) -> str:
    """``0.0123`` -> ``"12.3 ms"``; ``None`` -> ``"-"`` (not measured)."""
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"
