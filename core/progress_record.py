"""The files a job leaves for pollers: one typed, versioned record per progress line and one
for status.json, with the one writer every job uses (pre-training, analysis, fine-tuning).

Readers (core.jobs.follow, the dashboard) get `ProgressRecord`/`JobState` objects and read
typed fields; lines written before the records were versioned are mapped once, in `from_json`.
A line from a newer format is refused with a message naming its version. Torch-free, so the
dashboard imports it cheaply.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import BehaviorLensError
from core.workspace import atomic_write_json

PROGRESS_VERSION = 1  # version of a progress.jsonl line this code writes and reads
STATUS_VERSION = 1  # version of status.json this code writes and reads


class RecordVersionError(BehaviorLensError):
    """A progress or status file written by a newer (or unknown) format version."""


def now() -> str:
    """UTC time as ISO text, the form status.json carries."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ProgressRecord:
    """One line of progress.jsonl: where a job is within its current stage."""

    stage: str  # "train", "evaluate", "finetune" or "analyze"
    step: float | None = None  # units done in the stage (optimizer steps; analysis steps)
    total_steps: float | None = None  # units planned in the stage, if known
    epoch: int | None = None  # 1-based epoch the step belongs to (training stages)
    epochs: int | None = None  # planned epochs
    loss: float | None = None  # loss of the last batch
    val: dict[str, Any] | None = None  # validation metrics (evaluation lines only)
    elapsed: float | None = None  # training seconds so far, summed over resumed sessions
    eta: float | None = None  # seconds left, estimated from the pace so far
    message: str = ""  # human-readable detail, e.g. the analysis step's name
    version: int = PROGRESS_VERSION  # format of the line; see `from_json`

    @property
    def fraction(self) -> float | None:
        """Share of the stage done, in [0, 1], or None when the total is unknown."""
        if self.step is None or not self.total_steps:
            return None
        return min(1.0, max(0.0, self.step / self.total_steps))

    def to_json(self) -> str:
        """One line of progress.jsonl (without the newline)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> ProgressRecord:
        """A record from a progress line; raises `RecordVersionError` on a newer format and
        ValueError on a line that is not a JSON object."""
        data = json.loads(text) if isinstance(text, str) else text
        if not isinstance(data, dict):
            raise ValueError(f"a progress line must be a JSON object, got {type(data).__name__}")
        version = _version(data, PROGRESS_VERSION, "progress line")
        if version == 0:
            data = _from_unversioned(data)
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**{**known, "version": PROGRESS_VERSION})


def _from_unversioned(data: dict[str, Any]) -> dict[str, Any]:
    """Lines of runs written before versioning: training lines had today's keys; the analysis
    step wrote analysis_step/analysis_steps; fine-tuning wrote val_score per epoch; a line
    without a stage is a training line (an evaluation when it carries metrics)."""
    data = dict(data)
    data.setdefault("stage", "evaluate" if data.get("val") else "train")
    if "analysis_step" in data:
        data["step"], data["total_steps"] = data["analysis_step"], data.get("analysis_steps")
    if "val_score" in data and data.get("val") is None:
        data["val"] = {"score": data["val_score"]}
    return data


@dataclass(frozen=True)
class JobState:
    """status.json: the job's overall state, written atomically by its one process."""

    state: str  # starting | running | analyzing | finished | failed | cancelled ("" unknown)
    pid: int | None = None  # the process writing it
    started: str | float | None = None  # ISO text (Unix seconds in older fine-tuning jobs)
    updated: str | float | None = None  # time of this write, same forms
    message: str = ""  # what it is doing, or why it stopped
    version: int = STATUS_VERSION  # format of the file

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        """A state from status.json's content; `RecordVersionError` on a newer format."""
        _version(data, STATUS_VERSION, "status file")
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**{"state": "", **known, "version": STATUS_VERSION})


def _version(data: dict[str, Any], current: int, what: str) -> int:
    """0 for files written before versioning; `current`; anything else is refused."""
    version = data.get("version", 0)
    if version not in (0, current):
        raise RecordVersionError(
            f"{what} has format version {version!r}; this Behavior Lens reads version "
            f"{current} (and unversioned files): update Behavior Lens to follow this job"
        )
    return int(version)


@dataclass
class JobFiles:
    """The one writer of a job's progress.jsonl and status.json.

    Pre-training and its analysis step write them in the run folder; fine-tuning in jobs/
    (its run folder appears whole at the end). `enabled=False` (torchrun ranks other than 0)
    writes nothing, so each file has one writer.
    """

    progress_path: Path  # progress.jsonl: appended one record per line
    status_path: Path  # status.json: replaced atomically
    enabled: bool = True  # False: every write is skipped
    started: str = field(default_factory=now)  # this process's start, kept in status.json

    @classmethod
    def in_folder(cls, folder: Path, enabled: bool = True) -> JobFiles:
        """The two files of a run folder."""
        return cls(folder / "progress.jsonl", folder / "status.json", enabled)

    def append(self, record: ProgressRecord) -> None:
        if not self.enabled:
            return
        with self.progress_path.open("a", encoding="utf-8") as handle:
            handle.write(record.to_json() + "\n")

    def write_status(self, state: str, message: str = "") -> None:
        if not self.enabled:
            return
        record = JobState(state, os.getpid(), self.started, now(), message)
        atomic_write_json(self.status_path, record.to_dict())


def read_progress_file(path: Path, since_line: int = 0) -> list[ProgressRecord]:
    """The records of a progress file from line `since_line`; a half-written last line and
    unparseable lines are skipped, a newer format is refused (`RecordVersionError`)."""
    if not path.is_file():
        return []
    records: list[ProgressRecord] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle):
            if number < since_line or not line.endswith("\n"):
                continue
            try:
                records.append(ProgressRecord.from_json(line))
            except RecordVersionError as error:
                raise RecordVersionError(f"{path}, line {number + 1}: {error}") from None
            except (ValueError, TypeError):
                continue  # a line damaged by a killed writer
    return records
