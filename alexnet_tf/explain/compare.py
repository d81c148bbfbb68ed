"""What fine-tuning changed: the units whose top images moved most between two atlases.

Both atlases are of the same folder, so each unit's top-k set of images can be compared
directly: the overlap ``|job's top-k ∩ ImageNet's top-k| / k`` is 1 for a unit that still
looks for the same things and 0 for one that now answers to other images. A job trained in
head mode changed only fc8 (the layers below are ImageNet's, frozen), so there is nothing to
compare and it says so rather than computing two identical atlases.

The compared layers end in a ReLU, so an image where a unit's value is 0 did not excite it at
all: such entries are left out of its set (a unit silent on the whole folder has no top
images, not nine arbitrary ones). A unit silent in both models overlaps fully (nothing
observable changed); silent in one only, not at all (it went quiet or came alive).
"""

from __future__ import annotations

COMPARED_LAYERS = ("conv5", "fc6", "fc7")
SHOWN = 12  # units per layer in the report and the side-by-side sheet

HEAD_MODE_TEXT = (
    "This job was fine-tuned in head mode: only fc8 was trained, conv1..fc7 are ImageNet's "
    "unchanged, so nothing below fc8 changed (every unit keeps its top images)."
)


def fine_tuning_mode(model_spec) -> str | None:
    """``"head"``, ``"top"`` or ``"full"`` for a job (from its job.json), else None."""
    from ..errors import DamagedFileError
    from ..jobfolder import job_of_model, read_job_file

    job = job_of_model(model_spec)
    if job is None:
        return None
    try:
        mode = read_job_file(job)["settings"].get("mode")
    except (FileNotFoundError, DamagedFileError):  # unknown: the atlases still compare
        return None
    return mode if mode in ("head", "top", "full") else None


def changed_units(job_atlas, imagenet_atlas, layers=COMPARED_LAYERS, shown: int = SHOWN):
    """Per layer, the ``shown`` units whose top-k image sets overlap least.

    Returns:
        layer -> ``{"mean_overlap": 0..1, "units": [...]}``, each unit as ``{"unit",
        "overlap" (0..1), "common" (images in both), "job": [paths], "imagenet": [paths]}``,
        least overlap first (then by unit number).
    """
    result = {}
    for layer in layers:
        if layer not in job_atlas.layers or layer not in imagenet_atlas.layers:
            continue
        units = job_atlas.layers[layer].values.shape[0]
        rows = []
        for unit in range(units):
            job = [e["image"] for e in job_atlas.entries(layer, unit) if e["value"] > 0]
            base = [e["image"] for e in imagenet_atlas.entries(layer, unit) if e["value"] > 0]
            common = len(set(job) & set(base))
            overlap = common / max(len(job), len(base)) if job or base else 1.0
            rows.append({"unit": unit, "overlap": overlap, "common": common,
                         "job": job, "imagenet": base})  # fmt: skip
        rows.sort(key=lambda row: (row["overlap"], row["unit"]))
        mean = sum(row["overlap"] for row in rows) / max(len(rows), 1)
        result[layer] = {"mean_overlap": mean, "units": rows[:shown]}
    return result


def summary_text(changed: dict, images: int, top: int) -> str:
    """One sentence per layer: how much the top images moved (over ``images`` images, ``top``
    kept per unit)."""
    if images <= top:
        return (
            f"The folder has {images} readable images, no more than the {top} kept per unit: "
            "every unit keeps them all, so the comparison cannot tell anything. Use a larger "
            "folder."
        )
    parts = []
    for layer, found in changed.items():
        moved = ", ".join(
            f"{row['unit']} ({row['common']} in common)" for row in found["units"][:5]
        )
        parts.append(
            f"{layer}: on average {found['mean_overlap'] * 100:.0f}% of a unit's top images are "
            f"the same as ImageNet's; changed most: units {moved}."
        )
    return " ".join(parts)
