"""Anomalies: planted anomalies rank on top of sample_data, features, scorer, surprise, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from fixtures_model import SampleRun, tiny_sequences, trained_sample

from core.analysis.anomalies import ANOMALIES_FILE, AnomalyScorer, score_anomalies
from core.analysis.embeddings import event_surprise, pooled_embeddings, units_of
from core.analysis.user_features import session_table
from core.cli import main
from core.model import BehaviorTransformer, ModelConfig


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    return trained_sample(tmp_path_factory)


def test_planted_anomalies_rank_on_top(sample_run: SampleRun) -> None:
    result = score_anomalies(sample_run.loaded, sample_run.sequences)
    planted = sample_run.truth["is_anomaly"] == "1"
    n = int(planted.sum())
    top = result.users.head(n)
    precision = float(planted.loc[top["user_id"]].mean())
    print(f"sample_data anomalies: precision@{n} = {precision:.3f}")
    assert precision >= 0.8
    assert top["percentile"].min() > 95.0
    flagged = result.users[result.users["flagged"]]  # at the default 1% false-alarm rate
    assert planted.loc[flagged["user_id"]].sum() >= 0.8 * n
    assert result.users.set_index("user_id").loc[top["user_id"], "false_alarm_rate"].max() < 0.01
    kinds = sample_run.truth.loc[top["user_id"], "anomaly_kind"]
    reasons = top["reason"][kinds.to_numpy() == "scraper"]
    assert reasons.str.contains("consecutive item ids").all()
    assert result.users["score"].is_monotonic_decreasing
    assert len(result.sessions) == len(np.unique(sample_run.sequences.sessions))


def test_rate_features_on_a_hand_made_session() -> None:
    bot = [(2 * i, "view", 3 + i) for i in range(15)]  # 15 views, 2 s apart, ids +1
    normal = [(0, "view", 5), (40, "cart", 5), (100, "view", 9), (200, "buy", 9)]
    seqs = tiny_sequences([bot, normal])
    table = session_table(seqs)
    assert table.loc[0, "events"] == 15 and table.loc[0, "seconds"] == 28
    assert table.loc[0, "median_gap_s"] == 2.0
    assert table.loc[0, "burst"] == 15 and table.loc[1, "burst"] == 2  # 0 s and 40 s in 60 s
    assert table.loc[0, "same_event_run"] == 15
    assert table.loc[0, "sequential_run"] == 15 and table.loc[1, "sequential_run"] == 1
    assert bool(table.loc[1, "purchase"]) and not bool(table.loc[0, "purchase"])
    assert bool(table.loc[1, "cart"])


def test_scorer_ranks_the_outlier_first_and_caps_each_feature() -> None:
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {"burst": rng.integers(1, 5, 200).astype(float), "median_gap_s": rng.uniform(10, 40, 200)}
    )
    table.loc[7, ["burst", "median_gap_s"]] = [90.0, 0.5]
    scorer = AnomalyScorer(cap=5.0)
    assert scorer.fit(table) is scorer
    scores = scorer.score_samples(table)
    assert int(np.argmax(scores)) == 7
    z = scorer.z_scores(table)
    assert z.to_numpy().max() <= 5.0 and z.to_numpy().min() >= 0.0
    assert list(scorer.features_) == ["median_gap_s", "burst"]


@pytest.mark.parametrize("mode", ["causal", "bidirectional"])
def test_event_surprise_scores_every_predictable_event(mode: str) -> None:
    users = [[(t * 10, "view", 3 + (t * 3) % 17) for t in range(n)] for n in (3, 25, 70)]
    seqs = tiny_sequences(users)
    torch.manual_seed(0)
    config = ModelConfig(
        num_items=len(seqs.item_vocab),
        num_events=len(seqs.event_vocab),
        max_len=16,
        dim=16,
        heads=2,
        layers=1,
        mode=mode,
    )
    model = BehaviorTransformer(config)
    item_nll, event_nll = event_surprise(model, seqs, batch_size=2)
    firsts = seqs.offsets[:-1]
    scored = np.ones(seqs.num_events, dtype=bool)
    if mode == "causal":  # the first event of each user has no context
        assert np.isnan(item_nll[firsts]).all()
        scored[firsts] = False
    assert np.isfinite(item_nll[scored]).all() and (item_nll[scored] > 0).all()
    assert np.isfinite(event_nll[scored]).all()
    # an untrained model is close to uniform over the 20 items
    assert abs(float(np.nanmean(item_nll)) - np.log(20)) < 1.0


def test_session_embeddings_one_row_per_session(sample_run: SampleRun) -> None:
    seqs = sample_run.sequences
    units = units_of(seqs, "session", sample_run.loaded.model_config.max_len)
    assert len(units.start) == len(np.unique(seqs.sessions))
    assert ((units.end - units.start) <= sample_run.loaded.model_config.max_len).all()
    few = units_of(seqs, "user", 50)
    vectors = pooled_embeddings(sample_run.loaded.model, seqs, few, "last")
    assert vectors.shape == (seqs.num_users, sample_run.loaded.model_config.dim)
    assert np.isfinite(vectors).all()


def test_anomalies_cli_writes_top_rows(sample_run: SampleRun, tmp_path, capsys) -> None:
    out = tmp_path / "anomalies.csv"
    root = str(sample_run.workspace.root)
    assert (
        main(
            [
                "anomalies",
                "--run",
                sample_run.run,
                "--workspace",
                root,
                "--top",
                "5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    csv = pd.read_csv(out, dtype={"user_id": str})
    assert list(csv.columns) == [
        "user_id", "score", "false_alarm_rate", "flagged", "percentile", "reason"
    ]  # fmt: skip
    assert len(csv) == 5 and csv["score"].is_monotonic_decreasing
    stored = pd.read_parquet(sample_run.workspace.run_dir(sample_run.run) / ANOMALIES_FILE)
    assert len(stored) == sample_run.sequences.num_users
    capsys.readouterr()
    assert main(["anomalies", "--run", sample_run.run, "--workspace", root, "--top", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --top")


def test_the_flag_rule_in_run_info_gives_the_home_card_and_the_page_table(tmp_path) -> None:
    """The Home card counts and the Anomalies page's table flag the same users (run_info)."""
    from core.analysis import run_info
    from core.analysis.anomaly_flags import RATE_COLUMN, with_flags
    from core.analysis.result_tables import anomaly_table
    from core.workspace import Workspace, atomic_write_json

    ws = Workspace(tmp_path / "ws")
    atomic_write_json(ws.dataset_dir("d") / "manifest.json", {"stats": {"users": 203}})
    folder = ws.run_dir("r")
    atomic_write_json(folder / "config.json", {"dataset": "d"})
    scores = np.r_[np.linspace(0.0, 2.0, 200), [40.0, 50.0, 60.0]]  # three far outliers
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(len(scores))], "score": scores})
    users.assign(reason="fast").to_parquet(folder / run_info.ANOMALIES_FILE)  # no stored rates

    rate = 0.01
    table = anomaly_table(folder / run_info.ANOMALIES_FILE, 10, run_info.ANOMALY_COLUMNS)
    flags = run_info.flag_summary(table.scores, rate)
    shown = run_info.flagged_top(table.top, rate, 5)
    head = run_info.headline(ws, "d", "r")
    expected = with_flags(users, rate).sort_values("score", ascending=False)
    flagged = int(expected["flagged"].sum())
    assert (head.flagged, head.scored) == (flags.flagged, flags.scored) == (flagged, 203)
    assert 3 <= flagged < 10  # the outliers, plus what a 1% rate allows of the rest
    assert list(shown.columns) == ["user_id", "score", RATE_COLUMN, "flagged", "reason"]
    assert list(shown["user_id"]) == ["u202", "u201", "u200", "u199", "u198"]
    assert list(shown["flagged"]) == list(expected["flagged"].head(5))
    assert flags.lowest_flagged_score == expected.loc[expected["flagged"], "score"].min()
