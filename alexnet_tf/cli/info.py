"""``alexnet-studio info [--measure]``: the machine, the execution paths chosen, the data."""

from __future__ import annotations

import os
import sys


def register(subparsers) -> None:
    """Add the ``info`` command."""
    parser = subparsers.add_parser(
        "info",
        help="show the devices, the execution paths measured fastest here, and the data folders",
        description="Print the CPU (model, vector and bf16 units) and GPUs, the TensorFlow "
        "devices, the execution paths (XLA or plain graph, per precision) chosen by measurement "
        "on this machine with the figures that chose them, and where weights, jobs and logs "
        "live. The measurement runs once per machine and version, in the background, the first "
        "time a model runs; --measure runs it now (under a minute).",
    )
    parser.add_argument(
        "--measure",
        action="store_true",
        help="measure now (again), instead of showing the cached measurement",
    )
    parser.set_defaults(handler=run_info)


def _measurement_lines(entry: dict | None) -> list[str]:
    from ..speed import FORCE_ENV, forced_path, precision_advice

    lines = []
    forced = forced_path()
    if forced:
        lines.append(f"  forced by {FORCE_ENV}={forced}: every path below is {forced}")
    if entry is None:
        lines.append("  not measured on this machine yet: XLA is used until it is")
        lines.append("  (run `alexnet-studio info --measure`, or let the next model run do it)")
        return lines
    settings = entry["settings"]
    inference, choice = entry["inference"], entry["choice"]

    def figures(values: dict, unit: str) -> str:
        return ", ".join(
            f"{path} {value:g} {unit}" if value else f"{path} unavailable"
            for path, value in values.items()
        )

    lines.append(f"  measured {entry['measured_at']} in {entry['seconds']:g} s")
    lines.append(
        f"  inference, 1 image:   {choice['single']:<5}  ({figures(inference['single_ms'], 'ms')})"
    )
    lines.append(
        f"  inference, batches:   {choice['batch']:<5}  "
        f"({figures(inference['batch_images_per_s'], 'images/s')} "
        f"at batch {settings['inference_batch']})"
    )
    lines.extend(_engine_lines(entry))
    for precision, rates in entry["training"].items():
        lines.append(
            f"  training, {precision}:       {choice['train'][precision]:<5}  "
            f"({figures(rates, 'images/s')} at batch {settings['train_batch']})"
        )
    lines.append(f"  recommended training precision: {choice['precision']}")
    lines.append(f"  {precision_advice(entry)}")
    return lines


def _engine_lines(entry: dict) -> list[str]:
    """LiteRT's figures and which engine answers one image and a list (a fresh process)."""
    from ..litert_classifier import TENSORFLOW_START_SECONDS, measured_engines

    engines = measured_engines(entry)
    if engines is None:
        return ["  engine: LiteRT when its flatbuffer is cached (not measured here yet)"]
    litert = entry["litert"]
    rate = litert["batch_images_per_s"]
    return [
        f"  LiteRT (flatbuffer):  {litert['single_ms']:g} ms per image, "
        + (f"{rate:g} images/s in batches" if rate else "batches unavailable"),
        f"  engine, 1 image:      {engines['single']}; a list in a fresh process: "
        f"{engines['batch']} per image, LiteRT while TensorFlow's ~"
        f"{TENSORFLOW_START_SECONDS:g} s start is not won back",
    ]


def run_info(args) -> int:
    """Print the report; with ``--measure``, measure first."""
    from .. import speed
    from ..machine import describe_machine
    from ..paths import data_home, jobs_dir, logs_dir
    from ..quiet import native_log_path
    from ..weights.store import installed_weights_info, installed_weights_path

    machine = describe_machine()
    print("Machine")
    print(f"  CPU: {machine.cpu_model}, {machine.cores} logical cores")
    print(f"  vector units: {' '.join(machine.vector_units) or 'none known'}")
    units = machine.bf16_units
    print(f"  bf16 units: {' '.join(units) if units else 'none (bf16 is computed in fp32)'}")
    print(f"  NVIDIA GPUs (driver): {', '.join(machine.gpus) or 'none'}")
    print(f"  versions: tensorflow {machine.tensorflow}, alexnet-studio {machine.project}, "
          f"python {sys.version.split()[0]}")  # fmt: skip
    import tensorflow as tf

    devices = tf.config.list_physical_devices()
    print(f"  TensorFlow devices: {', '.join(d.name.split(':', 1)[1] for d in devices)}")
    # The graph path's CPU kernels are oneDNN's (on by default on x86 since TF 2.9).
    onednn = machine.onednn
    how = "default" if onednn == "default" else f"TF_ENABLE_ONEDNN_OPTS={onednn}"
    print(f"  oneDNN: {'off' if onednn == '0' else 'on'} ({how})")

    if args.measure:
        from ..destinations import check_folder_destination, writing

        check_folder_destination(data_home())  # speed.json goes there, after a minute's work
        print("\nMeasuring each path of inference and training (under a minute)...",
              file=sys.stderr, flush=True)  # fmt: skip
        from ..speed_measurement import measure_and_save

        with writing(speed.cache_path()):
            entry = measure_and_save()
    else:
        entry = speed.read_measurement(machine)
    print("\nExecution paths (chosen by measurement on this machine)")
    for line in _measurement_lines(entry):
        print(line)
    print(f"  cache: {speed.cache_path()}")

    info = installed_weights_info()
    print("\nData")
    print(f"  data folder: {data_home()}")
    weights = installed_weights_path()
    print(f"  ImageNet weights: {weights if info else 'not installed'}"
          f"{'' if info else f' (would be {weights})'}")  # fmt: skip
    print(f"  jobs: {jobs_dir()}")
    print(f"  logs: {logs_dir()} (TensorFlow's own messages: {native_log_path().name})")
    if os.environ.get("TF_CONFIG"):
        print("  TF_CONFIG is set: `train` runs as a worker of a multi-machine job")
    return 0
