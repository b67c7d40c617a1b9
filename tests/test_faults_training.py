"""`train` SIGKILLed during a step and at every stage of a checkpoint write, then resumed.

One chain of real processes: each is killed at a fault point, `--resume` picks up the last
complete checkpoint, and the last one runs to the end. It must end exactly (bit for bit) where
the session's unbroken run with the same seed ended, and after every kill each checkpoint file
under its real name must load.
"""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file
from test_faults_support import (
    RUN,
    TRAIN,
    assert_checkpoint_files_load,
    base_workspace,
    cli,
    killed,
    summary,
    temp_debris,
)

from core.inference.loading import load_run
from core.workspace import Workspace

# Where each attempt is killed. Hit counts follow the 3-epoch run: the resume state is saved at
# step 0 (fresh runs only) and at each epoch end, the best weights at epoch 1 (the first
# evaluation always improves) and at each later improvement.
CHAIN = [
    "checkpoint.resume.start@1",  # step 0's resume state, before its first file: nothing kept
    "checkpoint.best.after_weights@1",  # epoch 1's best weights renamed in, config.json not yet
    "checkpoint.resume.after_weights@1",  # epoch 1's resume state: model written, the rest not
    "checkpoint.resume.before_rename@2",  # epoch 2's resume state complete, not renamed in
    "train.step@5",  # inside an optimizer step of epoch 2 (after backward, before the update)
]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory):
    """The unbroken run, and the same run killed at each CHAIN point then resumed to the end."""
    reference, whole = base_workspace(tmp_path_factory, tmp_path_factory.mktemp("ref") / "ws")
    workspace, _ = base_workspace(tmp_path_factory, tmp_path_factory.mktemp("chain") / "ws")
    shutil.rmtree(Workspace(workspace).run_dir(RUN))  # the dataset only
    after_kills = []
    for index, point in enumerate(CHAIN):
        args = TRAIN if index == 0 else [*TRAIN, "--resume"]
        result = cli(workspace, *args, fault=point)
        assert killed(result), f"{point}: not reached (rc {result.returncode}) {result.stderr}"
        run_dir = Workspace(workspace).run_dir(RUN)
        assert_checkpoint_files_load(run_dir)
        after_kills.append((point, sorted(p.name for p in run_dir.iterdir())))
    final = summary(cli(workspace, *TRAIN, "--resume"))
    return reference, whole, workspace, final, after_kills


def test_a_run_killed_again_and_again_ends_exactly_like_an_unbroken_one(chain) -> None:
    reference, whole, workspace, final, _ = chain
    for key in ("epochs", "steps", "best_epoch", "val", "stopped"):
        assert final[key] == whole[key], key
    for name in ("model.safetensors", "resume/model.safetensors", "resume/optimizer.safetensors"):
        ours = load_file(str(Workspace(workspace).run_dir(RUN) / name))
        theirs = load_file(str(Workspace(reference).run_dir(RUN) / name))
        assert ours.keys() == theirs.keys()
        assert all(ours[k].equal(theirs[k]) for k in ours), name
    curves = [_curve(root / "runs" / RUN / "progress.jsonl") for root in (workspace, reference)]
    assert curves[0] == curves[1]  # no repeated or half-written lines from the killed attempts
    loaded = load_run(Workspace(workspace), RUN, "cpu")
    assert loaded.meta["metrics"] == whole["val"]
    assert loaded.meta["history"] == load_run(Workspace(reference), RUN, "cpu").meta["history"]


def _curve(path) -> list[tuple]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [(r["stage"], r["step"], r["loss"], json.dumps(r["val"])) for r in records]


def test_no_kill_leaves_a_temp_file_under_a_real_name_and_debris_is_swept(chain) -> None:
    _, _, workspace, _, after_kills = chain
    for point, names in after_kills:
        assert all(not n.endswith(".tmp") or n.startswith(".") for n in names), (point, names)
    # the first kill happened before any checkpoint; the second left weights but no config.json
    assert "resume" not in after_kills[0][1]
    assert "model.safetensors" in after_kills[1][1] and "config.json" not in after_kills[1][1]
    assert temp_debris(workspace) == []  # the resumed process swept what the killed ones left


def test_resume_of_a_run_never_started_is_refused(tmp_path_factory) -> None:
    workspace, _ = base_workspace(tmp_path_factory, tmp_path_factory.mktemp("never") / "ws")
    args = [*TRAIN, "--resume"]
    args[args.index(RUN)] = "other"
    result = cli(workspace, *args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "nothing to resume" in result.stderr
    assert "Traceback" not in result.stderr
