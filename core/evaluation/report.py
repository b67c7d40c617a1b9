"""A model and its baselines in one table: the same protocol, users and seed for every row."""

from __future__ import annotations

from collections.abc import Sequence

from core.data.sequences import EventSequences
from core.evaluation.baselines import MarkovBaseline, PopularityBaseline
from core.evaluation.leave_one_out import evaluate
from core.evaluation.scorer import NextItemScorer
from core.progress import ProgressCallback


def baseline_scorers(sequences: EventSequences) -> dict[str, NextItemScorer]:
    """The fitted baselines, by the name they carry in reports."""
    return {
        "popular": PopularityBaseline().fit(sequences),
        "markov": MarkovBaseline().fit(sequences),
    }


def evaluate_baselines(
    sequences: EventSequences,
    on_progress: ProgressCallback | None = None,
    **evaluate_kwargs: object,
) -> dict[str, dict]:
    """{name: metrics} for every baseline, evaluated exactly like the model (same kwargs)."""
    return {
        name: evaluate(scorer, sequences, on_progress=on_progress, **evaluate_kwargs)  # type: ignore[arg-type]
        for name, scorer in baseline_scorers(sequences).items()
    }


def metric_names(ks: Sequence[int]) -> list[str]:
    """Column order of the table: HR@K and NDCG@K for each K, then MRR."""
    return [f"{m}@{k}" for k in ks for m in ("hr", "ndcg")] + ["mrr"]


def format_table(rows: dict[str, dict], ks: Sequence[int]) -> str:
    """A plain-text table, one row per model, for people reading the terminal."""
    columns = metric_names(ks)
    header = f"{'model':<12}{'users':>8}" + "".join(f"{c:>10}" for c in columns)
    lines = [header, "-" * len(header)]
    for name, result in rows.items():
        values = "".join(f"{result[c]:>10.4f}" for c in columns)
        lines.append(f"{name:<12}{result['users']:>8}{values}")
    return "\n".join(lines)
