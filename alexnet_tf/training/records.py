"""What a job records about itself: job.json's versions and dataset parts, the start event.

Plain dicts from the run's state (state.py); the job (loop.py) writes and emits them.
"""

from __future__ import annotations

import platform

import numpy as np


def versions() -> dict:
    """Versions recorded in job.json (a model trained with one Keras may not load in another)."""
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def dataset_record(recorded_job: dict, settings, run, init_text: str) -> dict:
    """job.json once the dataset is known: ``recorded_job`` with the dataset part added."""
    scan, data = run.data.scan, run.data
    return {
        **recorded_job,
        "versions": recorded_job.get("versions") or versions(),
        "settings": settings.to_dict(),
        "init_source": init_text,
        "dataset": {
            "root": str(scan.root),
            "fingerprint": scan.fingerprint,
            "classes": list(scan.classes),
            "num_images": len(scan.items),
            "num_train": int(len(data.train_idx)),
            "num_val": int(len(data.val_idx)),
        },
        "strategy": run.choice.description,
    }


def start_fields(settings, run, init_text: str, *, job_dir, resumed: bool) -> dict:
    """The start event's fields: the strategy, the dataset and its split, the settings, and
    where a resumed job starts again (0-based epoch and step)."""
    s, choice, data = settings, run.choice, run.data
    scan = data.scan
    start_epoch, start_step = run.network.position()
    return dict(
        job_dir=str(job_dir),
        strategy=choice.description,
        strategy_kind=choice.kind,
        replicas=choice.num_replicas,
        workers=choice.num_workers,
        worker=choice.worker_index,
        num_classes=len(scan.classes),
        classes=list(scan.classes),
        num_images=len(scan.items),
        num_train=int(len(data.train_idx)),
        num_val=int(len(data.val_idx)),
        num_refused=len(scan.refused),
        refused=[{"path": str(r.path), "reason": r.reason} for r in scan.refused],
        mode=s.mode,
        epochs=s.epochs,
        batch_size=s.batch_size,
        steps_per_epoch=data.steps,
        total_steps=data.total_steps,
        init=s.init,
        init_source=init_text,
        precision=s.precision,
        keep=s.keep,
        resumed_at={"epoch": start_epoch, "step": start_step} if resumed else None,
    )
