"""Every insight of a trained run in one step: evaluate against the baselines, segments, session
intents, anomaly scores.

A finished training (CLI `train --analyze`, or a dashboard job) goes on here in the same
process, so an analyst opens Segments and Anomalies without pressing anything; `analyze --run R`
does the same for an existing run. One step that cannot run on this log (too few users to
segment, sessions too short for intents) is recorded as skipped with its reason, never fatal:
the others still run, and the report says what is missing and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import BehaviorLensError, for_analyst
from core.progress import ProgressCallback, ProgressEvent, ignore_progress
from core.progress_record import JobFiles, ProgressRecord
from core.workspace import Workspace

STEPS = ("evaluate", "segments", "session intents", "anomalies")
ANALYSIS_FILE = "analysis.json"  # runs/R/analysis.json: what the last analysis did, per step


@dataclass
class AnalysisResult:
    """What `analyze_run` did: per step "done" with a summary, or "skipped" with the reason."""

    run: str
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "steps": self.steps}


def _evaluate(workspace: Workspace, run: str, progress: ProgressCallback) -> dict[str, Any]:
    from core.analysis.run_info import evaluate_and_save

    rows = evaluate_and_save(workspace, run, True, on_progress=progress)
    own = rows[run]
    markov = rows.get("markov", {})
    return {"ndcg@10": own.get("ndcg@10"), "markov_ndcg@10": markov.get("ndcg@10")}


def _segments(workspace: Workspace, run: str, progress: ProgressCallback) -> dict[str, Any]:
    from core.analysis.segments import segment_run

    summary = segment_run(workspace, run, on_progress=progress).summary
    return {k: summary[k] for k in ("k", "segments", "stability", "names")}


def _intents(workspace: Workspace, run: str, progress: ProgressCallback) -> dict[str, Any]:
    from core.analysis.session_intents import intents_run

    _, summary = intents_run(workspace, run)
    return {k: summary[k] for k in ("k", "sessions", "names")}


def _anomalies(workspace: Workspace, run: str, progress: ProgressCallback) -> dict[str, Any]:
    from core.analysis.anomalies import anomalies_run

    summary = anomalies_run(workspace, run, on_progress=progress).summary
    return {k: summary[k] for k in ("users", "flagged", "false_alarm_rate") if k in summary}


_WORK: dict[str, Callable[[Workspace, str, ProgressCallback], dict[str, Any]]] = {
    "evaluate": _evaluate,
    "segments": _segments,
    "session intents": _intents,
    "anomalies": _anomalies,
}


def analyze_run(
    workspace: Workspace, run: str, on_progress: ProgressCallback | None = None
) -> AnalysisResult:
    """Run every analysis step on `run`; a step that cannot run is skipped with its reason."""
    from core.workspace import atomic_write_json

    progress = on_progress or ignore_progress
    workspace.existing_run_dir(run)
    result = AnalysisResult(run)
    for index, step in enumerate(STEPS):
        progress(ProgressEvent("analyze", index, len(STEPS), step))
        try:
            result.steps[step] = {"state": "done", **_WORK[step](workspace, run, progress)}
        except BehaviorLensError as error:
            result.steps[step] = {"state": "skipped", "reason": for_analyst(error)}
    progress(ProgressEvent("analyze", len(STEPS), len(STEPS), "done"))
    atomic_write_json(workspace.existing_run_dir(run) / ANALYSIS_FILE, result.to_dict())
    return result


def analyze_trained_run(
    workspace: Workspace, run: str, on_progress: ProgressCallback | None = None
) -> AnalysisResult:
    """`analyze_run` right after training, in the same job: status.json says "analyzing" with
    the current step and progress.jsonl gets one line per step, so the Train page follows the
    job to the end; "finished" is written last (or "failed" with the reason)."""
    files = JobFiles.in_folder(workspace.existing_run_dir(run))

    def report(event: ProgressEvent) -> None:
        if event.stage == "analyze":
            files.write_status("analyzing", f"trained; now {event.message}")
            files.append(ProgressRecord("analyze", event.done, event.total, message=event.message))
        if on_progress is not None:
            on_progress(event)

    try:
        result = analyze_run(workspace, run, report)
    except BaseException as error:
        files.write_status("failed", f"analysis failed: {for_analyst(error)}")
        raise
    skipped = [step for step, info in result.steps.items() if info["state"] == "skipped"]
    note = f"; skipped: {', '.join(skipped)}" if skipped else ""
    files.write_status("finished", f"trained and analysed{note}")
    return result
