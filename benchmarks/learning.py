"""Does fine-tuning learn on its defaults? Real photos x seeds x modes, against a reference.

Run from the repository root::

    python benchmarks/learning.py [--seeds 1 2 3 4 5] [--modes head top full]
                                  [--folders scenes subjects textures] [--results FILE]

For each folder of real photo crops (tests/photo_folders.py: photographs that scikit-learn and
scikit-image ship, 40 per class, plus a truncated JPEG and a text file named .jpg), each seed and
each mode, it runs ``alexnet-studio train FOLDER --mode MODE --seed SEED --json`` as a user does,
on default settings, with synthetic weights at a trained network's activation scale installed
as the ImageNet weights (tests/synthetic_weights.py; real weights are never downloaded here).
It reports the validation accuracy with fc8 fitted alone before the layers below train (top
and full modes; "kept epoch" 0 is that network), the final and the kept (best) validation
accuracy, the reference (a logistic
regression, C chosen by 3-fold cross-validation on the training images, on the job's own cached
fc7 features, scored on the job's own validation images), the worst epoch-to-epoch rise of the
training loss, the largest epoch loss over the first's, and the time. Each run's figures are
appended to ``--results`` (JSON lines) as they come, so an interrupted benchmark keeps them;
``--table-only`` prints the table from that file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import machine_header, markdown_table, quiet_tensorflow  # noqa: E402

quiet_tensorflow()

from alexnet_tf.fileio import json_text  # noqa: E402
from tests.learning_reference import logistic_regression_accuracy  # noqa: E402
from tests.photo_folders import PHOTO_FOLDERS, make_photo_folder  # noqa: E402


def run_one(home: Path, folder: Path, job_dir: Path, mode: str, seed: int) -> dict:
    """One job on defaults; its figures."""
    env = dict(os.environ, ALEXNET_STUDIO_HOME=str(home))
    command = [sys.executable, "-m", "app.launch", "train", str(folder), "--out", str(job_dir),
               "--mode", mode, "--seed", str(seed), "--json"]  # fmt: skip
    began = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    # top and full modes first report the network with fc8 fitted alone ("epoch -1"): no
    # training loss, but a candidate for the kept model
    before = [e for e in events if e["event"] == "epoch" and e["epoch"] == -1]
    epochs = [e for e in events if e["event"] == "epoch" and e["epoch"] >= 0]
    losses = [e["loss"] for e in epochs]
    done = next((e for e in events if e["event"] == "done"), None)
    error = next((e["message"] for e in events if e["event"] == "error"), None)
    rises = [b / a for a, b in zip(losses, losses[1:], strict=False) if a]
    record = {
        "folder": folder.name, "mode": mode, "seed": seed, "seconds": round(seconds, 1),
        "final": epochs[-1]["val_accuracy"] if epochs else None,
        "kept": done["kept"]["val_accuracy"] if done else None,
        "kept_epoch": done["kept"]["epoch"] + 1 if done else None,
        "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
        "worst_rise": max(rises) if rises else None,
        "max_over_first": max(losses) / losses[0] if losses else None,
        "before": before[0]["val_accuracy"] if before else None,
        "error": error, "reference": None,
        "losses": losses, "val_accuracies": [e["val_accuracy"] for e in epochs],
    }  # fmt: skip
    if (job_dir / "cache" / "features-fc7-2view.npy").exists():
        record["reference"] = logistic_regression_accuracy(job_dir, folder, seed)
    return record


def table(records: list[dict]) -> str:
    def fmt(value, spec=".2f"):
        return "-" if value is None else format(value, spec)

    rows = []
    for r in records:
        gap = None if r["kept"] is None or r["reference"] is None else r["kept"] - r["reference"]
        rows.append([
            r["folder"], r["mode"], r["seed"], fmt(r.get("before")), fmt(r["final"]),
            fmt(r["kept"]),
            fmt(r["kept_epoch"], "d"), fmt(r["reference"]), fmt(gap, "+.2f"),
            fmt(r["first_loss"], ".3f"), fmt(r["last_loss"], ".3f"), fmt(r["worst_rise"]),
            fmt(r["max_over_first"]), fmt(r["seconds"], ".0f"), r["error"] or "",
        ])  # fmt: skip
    headers = ["folder", "mode", "seed", "fc8 first val", "final val", "kept val", "kept epoch",
               "log. regression", "kept - ref.", "first loss", "last loss",
               "worst loss rise", "max loss / first", "s", "error"]  # fmt: skip
    return markdown_table(headers, rows)


def summary(records: list[dict]) -> str:
    """Per folder and mode: worst and mean kept accuracy, mean final accuracy, the runs that
    kept up with head mode (same folder and seed), the worst gap to the reference, the worst
    loss over the first epoch's."""
    head = {(r["folder"], r["seed"]): r for r in records if r["mode"] == "head"}
    rows = []
    keys = sorted({(r["folder"], r["mode"]) for r in records})
    for folder, mode in keys:
        runs = [r for r in records if (r["folder"], r["mode"]) == (folder, mode)]
        kept = [r["kept"] for r in runs if r["kept"] is not None]
        final = [r["final"] for r in runs if r["final"] is not None]
        gaps = [r["kept"] - r["reference"] for r in runs
                if r["kept"] is not None and r["reference"] is not None]  # fmt: skip
        overs = [r["max_over_first"] for r in runs if r["max_over_first"] is not None]
        paired = [(r, head[(folder, r["seed"])]) for r in runs if (folder, r["seed"]) in head]
        kept_up = sum(1 for r, h in paired if r["kept"] is not None and h["kept"] is not None
                      and r["kept"] >= h["kept"] - 1e-9)  # fmt: skip
        failed = sum(1 for r in runs if r["error"])
        rows.append([
            folder, mode, len(runs), f"{min(kept):.2f}" if kept else "-",
            f"{sum(kept) / len(kept):.2f}" if kept else "-",
            f"{sum(final) / len(final):.2f}" if final else "-",
            "-" if mode == "head" else f"{kept_up}/{len(paired)}",
            f"{min(gaps):+.2f}" if gaps else "-", f"{max(overs):.2f}" if overs else "-", failed,
        ])  # fmt: skip
    headers = ["folder", "mode", "runs", "worst kept val", "mean kept val", "mean final val",
               "kept >= head's (same seed)", "worst gap to log. regression",
               "worst max loss / first", "failed"]  # fmt: skip
    return markdown_table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--modes", nargs="+", default=["head", "top", "full"])
    parser.add_argument("--folders", nargs="+", default=list(PHOTO_FOLDERS))
    parser.add_argument("--results", type=Path, default=Path("learning-results.jsonl"))
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()

    if not args.table_only:
        header = machine_header()
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            from tests.synthetic_weights import install_synthetic_imagenet_weights

            install_synthetic_imagenet_weights(tmp / "home")
            for name in args.folders:
                folder = tmp / name
                make_photo_folder(folder, name)
                for mode in args.modes:
                    for seed in args.seeds:
                        record = run_one(tmp / "home", folder, tmp / f"job-{name}-{mode}-{seed}",
                                         mode, seed)  # fmt: skip
                        print(json_text(record), file=sys.stderr, flush=True)
                        with open(args.results, "a", encoding="utf-8") as file:
                            file.write(json_text(record) + "\n")
        print(header)
    records = [json.loads(line) for line in args.results.read_text().splitlines() if line]
    print()
    print(summary(records))
    print()
    print(table(records))


if __name__ == "__main__":
    main()
