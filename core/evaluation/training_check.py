"""Is a run clearly better than the simple baselines? If not, every view says "barely trained".

A quick demo run can predict view 37% / cart 32% / purchase 31% on a log that is 98.7% views and
still look like a model. The honest yardstick is the stronger of a first-order Markov chain and
the most popular items, scored exactly like the run's own validation (valid split, full
protocol, the same seeded users): a run whose best validation NDCG@10 is not at least
MIN_RELATIVE_GAIN above it is labelled, with both figures. (On a log where popularity is all
there is, a run can beat the Markov chain and still lose to the most popular items.) The
baselines are computed once per run and cached in the run folder (BASELINE_FILE), keyed by the
run's "updated" stamp so a retrained run is checked again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.workspace import Workspace, atomic_write_json, read_json

if TYPE_CHECKING:
    from core.data.sequences import EventSequences

BASELINE_FILE = "validation_baseline.json"  # {"updated", "markov_ndcg@10", "popular_…", "users"}
MIN_RELATIVE_GAIN = 0.05  # a run must beat the stronger baseline's NDCG@10 by 5% (relative)


@dataclass(frozen=True)
class TrainingCheck:
    """The run's best validation NDCG@10 beside the baselines' on the same split."""

    model_ndcg: float | None  # None: the run has no validation score
    markov_ndcg: float | None  # None: no user could be evaluated
    popular_ndcg: float | None = None  # None: not computed (a cache written before it was)

    @property
    def baseline(self) -> tuple[str, float] | None:
        """(who, NDCG@10) of the stronger baseline, None when neither could be scored."""
        scored = [
            (name, value)
            for name, value in (
                ("a simple Markov chain's", self.markov_ndcg),
                ("the most popular items'", self.popular_ndcg),
            )
            if value is not None
        ]
        return max(scored, key=lambda pair: pair[1]) if scored else None

    @property
    def barely_trained(self) -> bool:
        """True when the model is not clearly above the baselines (or has no score at all)."""
        if self.model_ndcg is None:
            return True
        if self.baseline is None:
            return False
        return self.model_ndcg < (1.0 + MIN_RELATIVE_GAIN) * self.baseline[1]

    def label(self) -> str | None:
        """The warning every page showing the run displays (None when the run is fine)."""
        if not self.barely_trained:
            return None
        if self.model_ndcg is None or self.baseline is None:
            return "Barely trained: this run has no validation score yet."
        who, value = self.baseline
        return (
            f"Barely trained: validation NDCG@10 {self.model_ndcg:.3f} is not clearly above "
            f"{who} {value:.3f} on the same users, so its predictions, attention and segments "
            "say little beyond event frequencies."
        )


def training_check(
    workspace: Workspace, run: str, sequences: EventSequences | None = None
) -> TrainingCheck | None:
    """The check for a pre-trained run, computing and caching the baseline on first use.

    None for a fine-tuned run (it predicts a label, not the next item, and the run table
    already shows it beside its own baseline) and for a run folder without a dataset.
    `sequences`: the run's dataset when the caller holds it already (the end of training).
    """
    folder = workspace.existing_run_dir(run)
    meta = read_json(folder / "config.json")
    if meta.get("kind") == "finetune" or not meta.get("dataset"):
        return None  # a label predictor, or a folder that does not say what it learned from
    model = (meta.get("metrics") or {}).get("ndcg@10")
    cached = _cached(folder / BASELINE_FILE, meta.get("updated"))
    if cached is None or "popular_ndcg@10" not in cached:
        cached = _baselines_on_validation(workspace, meta, sequences)
        atomic_write_json(folder / BASELINE_FILE, {"updated": meta.get("updated"), **cached})
    markov, popular = cached.get("markov_ndcg@10"), cached.get("popular_ndcg@10")
    return TrainingCheck(None if model is None else float(model), markov, popular)


def _cached(path: Any, updated: Any) -> dict[str, Any] | None:
    """The cached baseline when it belongs to this version of the run."""
    if not path.is_file():
        return None
    payload = read_json(path)
    return payload if payload.get("updated") == updated else None


def _baselines_on_validation(
    workspace: Workspace, meta: dict[str, Any], sequences: EventSequences | None
) -> dict[str, Any]:
    """Markov and most-popular NDCG@10 scored like the trainer's validation
    (core.training.run._validator)."""
    from core.data.store import load_sequences
    from core.evaluation.leave_one_out import eligible_users
    from core.evaluation.report import evaluate_baselines
    from core.evaluation.user_budget import validation_users

    if sequences is None:
        sequences = load_sequences(workspace, meta["dataset"])
    if len(eligible_users(sequences)) == 0:
        return {"markov_ndcg@10": None, "popular_ndcg@10": None, "users": 0}
    train = meta.get("train_config") or {}
    results = evaluate_baselines(
        sequences,
        split="valid",
        protocol="full",
        ks=(10,),
        max_users=validation_users(train.get("eval_max_users"), len(sequences.item_vocab)),
        seed=int(train.get("seed", 0)),
    )
    return {
        "markov_ndcg@10": float(results["markov"]["ndcg@10"]),
        "popular_ndcg@10": float(results["popular"]["ndcg@10"]),
        "users": int(results["markov"]["users"]),
    }
