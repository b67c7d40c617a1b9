"""Segments that mean something on every log: planted intents on the sample with the shipped
demo model, preferences on a log with only items and order, k chosen by stability."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from core.analysis.clustering import Segmenter
from core.analysis.segment_space import ITEMS_ONLY, BlockWeights, block, segment_space
from core.analysis.segments import SegmentConfig, segment_run
from core.analysis.session_intents import INTENTS_FILE, SESSION_ASSIGNMENTS_FILE
from core.cli import main
from core.data.ingest import ingest
from core.workspace import Workspace
from sample_data.demo import DEMO_RUN, ensure_demo

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
TIME_WORDS = re.compile(r"pace|rapid|quick|slow|fast|minute|second|hour|session|burst", re.I)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = Workspace.at(tmp_path_factory.mktemp("demo") / "ws")
    ensure_demo(workspace)
    return workspace


def test_default_segments_recover_the_planted_intents(demo: Workspace) -> None:
    result = segment_run(demo, DEMO_RUN)
    truth = pd.read_csv(SAMPLE / "ground_truth.csv", dtype=str).set_index("user_id")
    intent = truth.loc[result.assignments["user_id"], "intent"].to_numpy()
    ari = adjusted_rand_score(intent, result.assignments["segment"])
    print(f"sample_data default segments: ARI {ari:.3f}, k {result.summary['k']}")
    assert ari >= 0.9
    assert result.summary["stability"] >= 0.75
    assert set(result.summary["weights"]) == {"behaviour", "predicted", "state", "preference"}
    names = result.profiles["name"].tolist()
    assert len(set(names)) == len(names)
    small = max(10, int(np.ceil(0.01 * len(result.assignments))))
    assert (result.profiles["size"] >= small).all()


def items_only_log(path: Path, users: int = 120, seed: int = 0) -> tuple[Path, dict[str, int]]:
    """`user item` lines: three taste groups over 90 items, history lengths 5..60 in each."""
    rng = np.random.default_rng(seed)
    lines, group = [], {}
    for u in range(users):
        g = u % 3
        for _ in range(int(rng.integers(5, 60))):
            own = rng.random() < 0.85
            lines.append(
                f"u{u} {g * 30 + int(rng.integers(0, 30)) if own else rng.integers(0, 90)}"
            )
        group[f"u{u}"] = g
    path.write_text("\n".join(lines) + "\n")
    return path, group


def test_a_log_with_only_items_and_order_is_segmented_by_preference(tmp_path: Path) -> None:
    log, group = items_only_log(tmp_path / "plays.txt")
    ws = Workspace.at(tmp_path / "ws")
    ingest(log, "plays", ws)
    args = ["--workspace", str(ws.root)]
    assert main(["train", "--dataset", "plays", "--run", "r", "--epochs", "15", *args]) == 0
    result = segment_run(ws, "r")
    assert result.summary["weights"] == {k: v for k, v in ITEMS_ONLY.as_dict().items() if v > 0}
    names = result.profiles["name"].tolist()
    assert not any(TIME_WORDS.search(n) for n in names), names
    truth = result.assignments["user_id"].map(group)
    assert adjusted_rand_score(truth, result.assignments["segment"]) >= 0.8
    tops = [set(ids.split(", ")) for ids in result.profiles["top_item_ids"]]
    overlaps = [len(a & b) / len(a | b) for i, a in enumerate(tops) for b in tops[i + 1 :]]
    assert max(overlaps) < 0.5  # segments differ in what they like
    assert main(["anomalies", "--run", "r", *args]) == 0
    reasons = pd.read_parquet(ws.run_dir("r") / "anomalies.parquet")["reason"].astype(str)
    assert not reasons.str.contains(r"pace|burst| in \d+ s\b|per minute", regex=True).any()


def test_k_is_chosen_among_stable_splits() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 10, size=(4, 5))
    X = np.vstack([c + rng.normal(0, 0.6, size=(60, 5)) for c in centers])
    seg = Segmenter(k_range=(2, 7), seed=0).fit(X)
    assert seg.k_ == 4 and seg.stability_by_k_[4] > 0.95
    assert set(seg.stability_by_k_) == set(range(2, 8))


def test_no_block_stretches_the_space() -> None:
    rng = np.random.default_rng(1)
    wide = pd.DataFrame(rng.lognormal(size=(200, 3)) * [1.0, 1000.0, 1e6], columns=list("abc"))
    X, used = segment_space(wide, None, BlockWeights())
    assert used == {"behaviour": 1.0}
    spread = X.var(axis=0)
    assert spread.max() / spread.min() < 3  # a feature in millions does not dominate
    assert block(np.ones((10, 3)), 8) is None  # a constant feature (absent data) drops out


def test_segment_cli_takes_block_weights(demo: Workspace, capsys) -> None:
    args = ["segment", "--run", DEMO_RUN, "--workspace", str(demo.root)]
    assert main([*args, "--weights", "state=0,preference=0,predicted=0"]) == 0
    assert '"weights": {"behaviour": 1.0}' in capsys.readouterr().out
    assert main([*args, "--weights", "speed=2"]) == 2
    assert "--weights" in capsys.readouterr().err


def test_fixed_k_still_reports_stability(demo: Workspace) -> None:
    result = segment_run(demo, DEMO_RUN, SegmentConfig(k=3))
    assert result.summary["k"] == 3 and 0 < result.summary["stability"] <= 1


def test_session_intents_beside_user_segments(demo: Workspace, capsys) -> None:
    args = ["segment", "--run", DEMO_RUN, "--level", "session", "--workspace", str(demo.root)]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["level"] == "session" and summary["k"] >= 3 and summary["stability"] > 0.75
    run_dir = demo.run_dir(DEMO_RUN)
    assignments = pd.read_parquet(run_dir / SESSION_ASSIGNMENTS_FILE)
    profiles = pd.read_parquet(run_dir / INTENTS_FILE)
    assert len(assignments) == summary["sessions"] == assignments["session_idx"].nunique()
    assert profiles["sessions"].sum() == len(assignments)
    names = profiles["name"].tolist()
    assert len(set(names)) == len(names)
    buyers = profiles.sort_values("conversion").iloc[-1]
    assert buyers["conversion"] > 0.9 and "buy" in buyers["name"]  # a visit to buy is found
