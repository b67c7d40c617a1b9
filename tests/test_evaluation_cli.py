"""`python -m core evaluate` / `predict` as a user runs them: JSON last line, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.cli import main

DATASET, RUN = "walks", "tiny"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> str:
    """A workspace (path) holding a tiny ingested log and a run trained on it, built once.

    Each user walks items in a fixed cycle, so a Markov chain predicts it perfectly.
    """
    root = tmp_path_factory.mktemp("cli")
    lines = ["user,time,event,item"]
    for u in range(30):
        for step in range(8):
            event = "buy" if step % 4 == 3 else "view"
            item = (u * 3 + step) % 40
            lines.append(f"user{u},{1_700_000_000 + u * 10_000 + step * 60},{event},sku{item}")
    path = root / "walks.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ws = str(root / "ws")
    assert main(["ingest", str(path), "--name", DATASET, "--workspace", ws]) == 0
    argv = ["train", "--dataset", DATASET, "--run", RUN, "--epochs", "2", "--dim", "8",
            "--layers", "1", "--heads", "1", "--workspace", ws]  # fmt: skip
    assert main(argv) == 0
    return ws


def run_cli(capsys, *argv: str) -> tuple[int, dict | None, str]:
    """Exit code, the last stdout line as JSON (or None), and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return code, (json.loads(lines[-1]) if code == 0 and lines else None), err


def test_evaluate_needs_run_or_dataset(workspace, capsys) -> None:
    code, _, err = run_cli(capsys, "evaluate", "--workspace", str(workspace.root))
    assert code == 2
    assert err.strip().splitlines() == [
        "error: give --run NAME, or --dataset NAME to evaluate only the baselines"
    ]


def test_evaluate_unknown_run_and_dataset_are_one_line_errors(workspace, capsys) -> None:
    ws = str(workspace.root)
    code, _, err = run_cli(capsys, "evaluate", "--run", "nope", "--workspace", ws)
    assert code == 2 and "nope" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "evaluate", "--dataset", "nada", "--workspace", ws)
    assert code == 2 and "nada" in err and len(err.strip().splitlines()) == 1


def test_evaluate_rejects_bad_k(trained, capsys) -> None:
    code, _, err = run_cli(
        capsys, "evaluate", "--dataset", DATASET, "--k", "0", "--workspace", trained
    )
    assert code == 2 and "--k" in err


def test_baselines_alone_on_a_dataset(trained, capsys) -> None:
    code, summary, err = run_cli(capsys, "evaluate", "--dataset", DATASET, "--k", "3", "10",
                                 "--workspace", trained)  # fmt: skip
    assert code == 0
    assert summary["protocol"] == "full" and summary["users"] == 30
    popular, markov = summary["baselines"]["popular"], summary["baselines"]["markov"]
    assert markov["hr@3"] > popular["hr@3"] + 0.5
    assert markov["hr@10"] == pytest.approx(1.0)  # the cycle is fully predictable
    assert "markov" in err and "ndcg@10" in err  # the readable table


def test_train_evaluate_predict(trained, capsys) -> None:
    ws, trained_run = trained, RUN
    code, summary, _ = run_cli(capsys, "evaluate", "--run", trained_run, "--baselines",
                               "--protocol", "sampled-100", "--workspace", ws)  # fmt: skip
    assert code == 0
    assert summary["run"] == trained_run and summary["protocol"] == "sampled-100"
    assert {"hr@10", "ndcg@10", "mrr", "users"} <= summary.keys()
    assert set(summary["baselines"]) == {"popular", "markov"}

    code, pred, _ = run_cli(capsys, "predict", "--run", trained_run, "--user", "user3",
                            "--top-k", "4", "--workspace", ws)  # fmt: skip
    assert code == 0 and pred["user"] == "user3" and pred["history_events"] == 8
    probs = [item["prob"] for item in pred["items"]]
    assert len(probs) == 4 and probs == sorted(probs, reverse=True)
    assert all(item["id"].startswith("sku") for item in pred["items"])
    assert {e["type"] for e in pred["events"]} == {"view", "buy"}
    assert sum(e["prob"] for e in pred["events"]) == pytest.approx(1.0, abs=1e-4)


def test_predict_unknown_user_exits_2_naming_it(trained, capsys) -> None:
    code, _, err = run_cli(capsys, "predict", "--run", RUN, "--user", "ghost",
                           "--workspace", trained)  # fmt: skip
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "ghost" in lines[0]


def test_evaluate_run_against_other_dataset_is_refused(trained, capsys) -> None:
    code, _, err = run_cli(capsys, "evaluate", "--run", RUN, "--dataset", "other",
                           "--workspace", trained)  # fmt: skip
    assert code == 2 and "other" in err


def test_predict_help_mentions_top_k(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "--top-k" in capsys.readouterr().out


def test_top_items_skips_reserved_ids_and_caps_k() -> None:
    from core.cli.predict import top_items
    from core.data.vocab import Vocab

    vocab = Vocab.build(["a", "b", "c"])
    probs = np.array([0.0, 0.0, 0.0, 0.2, 0.5, 0.3])
    listed = top_items(probs, vocab, top_k=10, seen={4})
    assert [(x["id"], x["seen"]) for x in listed] == [("b", True), ("c", False), ("a", False)]
    assert [x["id"] for x in top_items(probs, vocab, top_k=1, seen=set())] == ["b"]
