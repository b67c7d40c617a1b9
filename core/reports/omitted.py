"""What a report leaves out, and why, so a reader never mistakes a missing part for a finding.

Each `Omission` carries the reason in analyst words (it is printed in the report's "Not in this
report" box) and, for the command-line summary only, the command that would produce the part.
The report itself never shows commands, flags or paths: its readers are stakeholders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Section titles, shared by the section builders and the "Not in this report" box.
SECTION_TITLES = {
    "summary": "Data summary",
    "behaviour": "Behaviour analytics",
    "model": "Model quality vs baselines",
    "segments": "Segments",
    "anomalies": "Top anomalies",
    "new_period": "New period",
}
# For each model-based section: (run output it needs, why it is missing, command making it).
_NEEDS = {
    "model": ("metrics", "the run has not been evaluated", "evaluate"),
    "segments": ("segments", "not computed for this run yet", "segment"),
    "anomalies": ("anomalies", "not computed for this run yet", "anomalies"),
}
NO_RUN = "no trained model was chosen for this report"
NOT_CHOSEN = "left out when this report was built"


@dataclass(frozen=True)
class Omission:
    """One part of the report that is not in it."""

    key: str  # section or part key, e.g. "segments", "funnel"
    title: str  # the heading the part would have had
    reason: str  # analyst words, shown in the report
    how: str | None = None  # command that produces it; the CLI summary only, never the report

    def as_dict(self) -> dict[str, Any]:
        payload = {"section": self.key, "title": self.title, "reason": self.reason}
        return payload | ({"how": self.how} if self.how else {})


def lacking(key: str, outputs: Any, run: str | None) -> Omission | None:
    """Why model section `key` has nothing to show (`outputs`: a ModelOutputs), else None."""
    if key not in _NEEDS:
        return None
    attribute, reason, command = _NEEDS[key]
    value = getattr(outputs, attribute)
    if value is not None and (attribute != "metrics" or value):
        return None
    if run is None:
        return Omission(key, SECTION_TITLES[key], NO_RUN)
    how = f"python -m core {command} --run {run}" + (
        " --dataset NEW" if key == "new_period" else ""
    )
    return Omission(key, SECTION_TITLES[key], reason, how)


def not_chosen(key: str) -> Omission:
    return Omission(key, SECTION_TITLES[key], NOT_CHOSEN)


def funnel_omission(kinds: list[str], steps: list[str]) -> Omission:
    """Why the behaviour section has no funnel: too few event types in the log, or steps."""
    if len(kinds) == 0:
        reason = "this log has no events"
    elif len(kinds) == 1:
        reason = "this log has one event type"
    else:
        reason = "fewer than two funnel steps were chosen"
    return Omission("funnel", "Funnel", reason)


def paths_omission(kinds: list[str]) -> Omission:
    reason = "this log has one event type" if kinds else "this log has no events"
    return Omission("paths", "Top paths", reason)


NO_TIME = Omission("volume", "Event volume and retention", "this log has no timestamps")
