"""How long the first answer takes, measured from outside as a user waits for it.

Whole processes, side by side and interleaved (so background load hits all alike), medians:

- ``alexnet-studio classify photo.jpg`` with the cached LiteRT flatbuffer (the default), and
  with ``ALEXNET_STUDIO_ENGINE=tensorflow`` (what every run cost before the flatbuffer);
- the reference: a PyTorch script (import torch, load a state dict, Pillow, top-5);
- ``alexnet-studio photo.jpg`` (offscreen): window shown and first top-5 shown, read from the
  app's own log lines (``first top-5 shown N.NN s after start``);
- optionally (``--folder N``) ``classify`` of a folder of N photos with each engine.

Also the peak memory of each process (its maximum resident set, from ``wait4``) and the lines
each wrote on stderr (TensorFlow's or LiteRT's start-up lines would show there). The weights
are random but ImageNet-sized (244 MB), installed in a temporary data folder; the flatbuffer is
built once before timing. PyTorch is a benchmark reference only (``pip install torch``).

    python benchmarks/startup.py [--rounds 4] [--folder 500]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import cpu_line, markdown_table, median, scratch_folder  # noqa: E402

TORCH_SCRIPT = r"""
import sys
import torch
from PIL import Image
import numpy as np
sys.path.insert(0, sys.argv[3])
from benchmarks.torch_alexnet import build_torch_alexnet
net = build_torch_alexnet().eval()
net.load_state_dict(torch.load(sys.argv[1], weights_only=True))
image = Image.open(sys.argv[2]).convert("RGB").resize((256, 256), Image.BILINEAR)
x = np.asarray(image, np.float32)[14:241, 14:241, ::-1] - np.array([104.007, 116.669, 122.679])
x = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), np.float32))[None]
with torch.inference_mode():
    probabilities = torch.softmax(net(x), dim=1)[0]
top = torch.topk(probabilities, 5)
for p, i in zip(top.values.tolist(), top.indices.tolist()):
    print(f"{i:4d} {p:.4f}")
"""


def run_process(command: list[str], env: dict) -> tuple[float, float, int, str]:
    """Run ``command``; return (wall seconds, peak memory GB, stderr lines, stdout)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{stderr[-3000:]}")
    peak = usage.ru_maxrss * 1024 / 1e9  # kilobytes on Linux
    return seconds, peak, len([line for line in stderr.splitlines() if line.strip()]), stdout


def app_launch(photo: Path, env: dict, log: Path) -> tuple[float, float, float, int]:
    """Launch the app on ``photo``; return (window s, top-5 s, peak GB, stderr lines)."""
    log.unlink(missing_ok=True)
    app_env = dict(env, QT_QPA_PLATFORM="offscreen", ALEXNET_STUDIO_EXIT_AFTER_SHOWN="1")
    _, peak, lines, _ = run_process([sys.executable, "-m", "app.launch", str(photo)], app_env)
    text = log.read_text(encoding="utf-8")
    window = float(re.search(r"Window shown .*?, ([\d.]+) s after start", text).group(1))
    top5 = float(re.search(r"first top-5 shown ([\d.]+) s after start", text).group(1))
    return window, top5, peak, lines


def _sample_photo(name: str) -> Path:
    """A real photo shipped with scikit-learn, found without importing scikit-learn
    (its memory would count in every child's peak, see ``prepare``)."""
    from importlib.util import find_spec

    return Path(find_spec("sklearn").submodule_search_locations[0]) / "datasets/images" / name


def prepare(home: Path, photos: int) -> tuple[Path, Path, Path | None]:
    """Random ImageNet-sized weights installed and converted, this machine's speed measured
    (as for a user past the first launch: otherwise the first launch starts the measurement,
    which then runs beside the timed rounds), a photo, a state dict for PyTorch, and a folder
    of ``photos`` photos (or None).

    Everything heavy runs in child processes: Linux reports a child's peak memory as at
    least its parent's at the fork, so this process must stay small for the figures to hold.
    """
    import shutil

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    env["ALEXNET_STUDIO_HOME"] = str(home)
    for code in (
        "from tests.model_fixtures import install_random_weights; install_random_weights()",
        "from alexnet_tf.flatbuffer_build import main; main([])",
        "from alexnet_tf.speed_measurement import main; main([])",
    ):
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    photo = home / "photo.jpg"
    shutil.copyfile(_sample_photo("china.jpg"), photo)
    state = home / "alexnet.pt"
    subprocess.run(
        [sys.executable, "-c", "import sys, torch; sys.path.insert(0, sys.argv[2]); "
         "from benchmarks.torch_alexnet import build_torch_alexnet; "
         "torch.save(build_torch_alexnet().state_dict(), sys.argv[1])", str(state), str(ROOT)],
        env=env, check=True,
    )  # fmt: skip
    folder = None
    if photos:
        folder = home / "folder"
        folder.mkdir()
        for index in range(photos):
            name = ("china.jpg", "flower.jpg")[index % 2]
            shutil.copyfile(_sample_photo(name), folder / f"{index:04d}.jpg")
    return photo, state, folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--folder", type=int, default=0, metavar="N", help="also N photos")
    args = parser.parse_args()
    home = scratch_folder("alexnet-startup-")
    photo, state, folder = prepare(home, args.folder)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user
    env.update(ALEXNET_STUDIO_HOME=str(home), PYTHONPATH=str(ROOT), ALEXNET_STUDIO_ENGINE="auto")
    tf_env = dict(env, ALEXNET_STUDIO_ENGINE="tensorflow")
    classify = [sys.executable, "-m", "app.launch", "classify"]
    cases = {
        "classify photo.jpg (LiteRT, flatbuffer cached)": lambda: run_process(
            [*classify, str(photo)], env
        ),
        "classify photo.jpg (TensorFlow, as before)": lambda: run_process(
            [*classify, str(photo)], tf_env
        ),
        "PyTorch script (state dict, Pillow, top-5)": lambda: run_process(
            [sys.executable, "-c", TORCH_SCRIPT, str(state), str(photo), str(ROOT)], env
        ),
    }
    load = os.getloadavg()
    results = {name: [] for name in cases}
    launches = []
    for _ in range(args.rounds):
        for name, case in cases.items():
            results[name].append(case())
        launches.append(app_launch(photo, env, home / "logs" / "app.log"))
    folder_rows = []
    if folder is not None:
        count = len(list(folder.iterdir()))
        for label, case_env in (("LiteRT", env), ("TensorFlow", tf_env)):
            seconds, peak, lines, _ = run_process([*classify, str(folder)], case_env)
            folder_rows.append(
                [f"classify folder of {count} photos ({label})", seconds, peak, lines]
            )

    torch_seconds = median([r[0] for r in results["PyTorch script (state dict, Pillow, top-5)"]])
    rows = []
    for name, runs in results.items():
        seconds = median([r[0] for r in runs])
        rows.append(
            [name, f"{seconds:.2f}", f"{seconds / torch_seconds:.2f}x",
             f"{max(r[1] for r in runs):.2f}", max(r[2] for r in runs)]
        )  # fmt: skip
    window = median([launch[0] for launch in launches])
    top5 = median([launch[1] for launch in launches])
    rows.append(["`alexnet-studio photo.jpg`: window shown", f"{window:.2f}", "-", "-", "-"])
    rows.append(
        ["`alexnet-studio photo.jpg`: first top-5 shown", f"{top5:.2f}",
         f"{top5 / torch_seconds:.2f}x", f"{max(x[2] for x in launches):.2f}",
         max(x[3] for x in launches)]
    )  # fmt: skip
    for name, seconds, peak, lines in folder_rows:
        rows.append([name, f"{seconds:.2f}", "-", f"{peak:.2f}", lines])
    print(f"- machine: {cpu_line()}")
    print(f"- load average before the run (1/5/15 min): {', '.join(f'{x:.2f}' for x in load)}")
    print(f"- whole-process medians of {args.rounds} interleaved rounds; PyTorch in the same run")
    print()
    headers = ["what", "seconds", "vs PyTorch", "peak memory (GB)", "stderr lines"]
    print(markdown_table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
