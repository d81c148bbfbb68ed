"""The settings of a training job: what job.json records and what a resume must match."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import AlexNetStudioError
from ..jobfolder import KEEP, MODES, PRECISIONS
from .recipe import DEFAULT_DROPOUT, DEFAULT_LR

# Settings that define the result: a resume must not change them. cpu_replicas may change
# (the global batch, hence the result, stays the same).
RESULT_SETTINGS = (
    "folder", "epochs", "mode", "batch_size", "lr", "val_split", "seed", "precision",
    "init", "augment", "dropout", "momentum", "keep",
)  # fmt: skip


class SettingsError(AlexNetStudioError):
    """Training options that cannot work together, or a resume that would change the job."""


@dataclass
class TrainSettings:
    """Options of ``alexnet-studio train`` (see the command's --help)."""

    folder: str
    epochs: int = 10
    mode: str = "head"
    batch_size: int = 32
    lr: float | None = None
    val_split: float = 0.2
    seed: int = 0
    precision: str = "fp32"
    init: str = "auto"
    augment: bool = True
    dropout: float | None = None  # None: the recipe's for the mode
    # Top and full modes fit fc8 alone first (see recipe). None: the --dropout given, else
    # head mode's, so that `--dropout 0` means no dropout anywhere (an exact, repeatable run).
    fc8_first_dropout: float | None = None
    momentum: float = 0.9
    keep: str = "best"  # the model saved: the best validation epoch's, or the last one's
    cpu_replicas: int = 1
    log_every: int = 1
    checkpoint_seconds: float = 60.0
    # A multi-worker step that takes longer than this (and 10x the slowest step) is hung.
    watchdog_seconds: float = 120.0

    def __post_init__(self):
        self.folder = str(Path(self.folder).expanduser().resolve())
        if self.lr is None:
            self.lr = DEFAULT_LR.get(self.mode, 0.001)
        if self.fc8_first_dropout is None:
            given = self.dropout
            self.fc8_first_dropout = DEFAULT_DROPOUT["head"] if given is None else given
        if self.dropout is None:
            self.dropout = DEFAULT_DROPOUT.get(self.mode, 0.5)
        self.check()

    def check(self) -> None:
        """Raise SettingsError (Keras-style message) for a value that cannot work."""

        def bad(name, rule):
            raise SettingsError(f"{name} {rule}. Received: {name}={getattr(self, name)!r}")

        if self.mode not in MODES:
            bad("mode", f"must be one of {', '.join(MODES)}")
        if self.keep not in KEEP:
            bad("keep", f"must be one of {', '.join(KEEP)}")
        if self.precision not in PRECISIONS:
            bad("precision", f"must be one of {', '.join(PRECISIONS)}")
        for name in ("epochs", "batch_size", "cpu_replicas", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                bad(name, "must be a positive integer")
        if not 0 < self.lr < 10:
            bad("lr", "must be in (0, 10)")
        if not 0 <= self.val_split < 1:
            bad("val_split", "must be in [0, 1)")
        if not 0 <= self.dropout < 1:
            bad("dropout", "must be in [0, 1)")
        if not 0 <= self.momentum < 1:
            bad("momentum", "must be in [0, 1)")
        if not self.watchdog_seconds > 0:
            bad("watchdog_seconds", "must be positive")

    def to_dict(self) -> dict:
        """JSON-ready settings, as stored in job.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainSettings:
        """Settings from job.json (unknown keys ignored, so older jobs still load)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def differences(self, other: TrainSettings) -> list[str]:
        """Result-defining settings that differ from ``other``, as readable ``name: a -> b``."""
        return [
            f"{name}: {getattr(other, name)!r} -> {getattr(self, name)!r}"
            for name in RESULT_SETTINGS
            if getattr(self, name) != getattr(other, name)
        ]
