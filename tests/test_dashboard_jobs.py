"""core.jobs: launch detached, poll status/progress, cancel via SIGTERM, resume, dead jobs.

A fake trainer (a tiny script standing in for `python -m core train`) writes status.json and
progress.jsonl like the real one, so these tests do not depend on the model being fast.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from core import jobs
from core.errors import BehaviorLensError
from core.progress_record import ProgressRecord
from core.workspace import Workspace

FAKE_TRAINER = """#!{python}
import json, os, signal, sys, time
args = sys.argv[1:]
run = args[args.index("--run") + 1]
root = args[args.index("--workspace") + 1]
mode = os.environ.get("FAKE_MODE", "finish")
folder = os.path.join(root, "runs", run)
os.makedirs(folder, exist_ok=True)
if mode == "slow-start":  # still importing torch: no state written, SIGTERM ends it outright
    time.sleep(60)
def status(state, message=""):
    with open(os.path.join(folder, "status.json.tmp"), "w") as f:
        json.dump({{"state": state, "pid": os.getpid(), "started": 1.0, "updated": time.time(),
                   "message": message}}, f)
    os.replace(os.path.join(folder, "status.json.tmp"), os.path.join(folder, "status.json"))
def on_term(*_):
    status("cancelled", "stopped by user")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
if mode == "crash":
    sys.exit(3)
status("running")
with open(os.path.join(folder, "progress.jsonl"), "a") as f:
    for step in range(1, 4):
        f.write(json.dumps({{"version": 1, "stage": "train", "step": step, "total_steps": 3,
                            "loss": 1.0 / step,
                            "message": "resumed" if "--resume" in args else ""}}) + "\\n")
        f.flush()
    f.write('{{"stage": "tra')  # a half-written line, as a reader may see mid-write
if mode == "hang":
    while True:
        time.sleep(0.05)
with open(os.path.join(folder, "config.json"), "w") as f:
    f.write("{{}}")
status("finished", "done")
print(json.dumps({{"run": run, "epochs": 1}}))
"""


@pytest.fixture
def fake_python(tmp_path: Path) -> str:
    script = tmp_path / "fake_python"
    script.write_text(FAKE_TRAINER.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


def _config(run: str = "r1") -> jobs.TrainJobConfig:
    return jobs.TrainJobConfig(dataset="sample", run=run, epochs=2, dim=16)


def test_to_args_passes_only_set_knobs() -> None:
    args = jobs.TrainJobConfig(dataset="d", run="r", epochs=3, nsp=True).to_args()
    assert args[:6] == ["--dataset", "d", "--run", "r", "--objective", "causal"]
    assert args[args.index("--epochs") + 1] == "3"
    assert "--dim" not in args and "--nsp" in args


def test_presets_are_valid_configs() -> None:
    from core.training.config import ModelOptions

    for preset in jobs.TRAIN_PRESETS.values():
        args = jobs.TrainJobConfig(dataset="d", run="r", **preset).to_args()
        sizes = {k: preset[k] for k in ("max_len", "dim", "layers", "heads") if k in preset}
        options = ModelOptions(**sizes)  # raises ValueError on sizes the model rejects
        for name, value in preset.items():  # every knob reaches the training command line
            flag = "--" + name.replace("_", "-")
            assert args[args.index(flag) + 1] == str(value), (flag, args)
        assert all(getattr(options, k) == v for k, v in sizes.items())


def test_presets_list_only_what_differs_from_the_defaults() -> None:
    from core.config_fields import defaults
    from core.jobs.config import FINETUNE_PRESET
    from core.training.config import FineTuneConfig, ModelOptions, TrainConfig

    presets = [(defaults(TrainConfig, ModelOptions), p) for p in jobs.TRAIN_PRESETS.values()]
    for known, preset in [*presets, (defaults(FineTuneConfig), FINETUNE_PRESET)]:
        assert set(preset) <= set(known), f"{preset} names no setting: {set(preset) - set(known)}"
        restated = {k: v for k, v in preset.items() if known[k] == v}
        assert not restated, f"preset {preset} restates defaults {restated}"


def test_job_knobs_are_trainer_settings_and_reach_them_through_the_cli() -> None:
    """Every knob is a field of the trainer's configs, and the command parses back to it."""
    from dataclasses import fields

    from core.cli import build_parser
    from core.cli.finetune import _config
    from core.cli.train import _configs
    from core.config_fields import defaults
    from core.training.config import FineTuneConfig, ModelOptions, TrainConfig
    from core.training.targets import CHURN_DAYS

    job = jobs.TrainJobConfig(
        dataset="d",
        run="r",
        objective="masked",
        epochs=3,
        max_minutes=1.5,
        max_len=20,
        dim=32,
        layers=1,
        heads=2,
        batch_size=16,
        lr=0.002,
        nsp=True,
        seed=7,
        analyze=False,
        device="cpu",
    )
    knobs = {f.name: getattr(job, f.name) for f in fields(job)}
    knobs = {k: v for k, v in knobs.items() if k not in ("dataset", "run", "analyze")}
    assert set(knobs) <= set(defaults(TrainConfig, ModelOptions))
    parsed = build_parser().parse_args(["train", *job.to_args()])
    config, options = _configs(parsed)
    assert {k: getattr(config, k, getattr(options, k, None)) for k in knobs} == knobs
    assert (parsed.dataset, parsed.run, parsed.analyze) == ("d", "r", False)

    tune = jobs.FineTuneJobConfig("p", "r", "churn", epochs=4, max_minutes=0.5, device="cpu")
    parsed = build_parser().parse_args(["finetune", *tune.to_args()])
    assert (parsed.run, parsed.name, parsed.target) == ("p", "r", "churn")
    assert parsed.churn_days == CHURN_DAYS
    assert _config(parsed) == FineTuneConfig(epochs=4, max_minutes=0.5, device="cpu")


def test_finished_job_reports_progress_and_summary(workspace, fake_python) -> None:
    jobs.start_training(workspace, _config(), python=fake_python)
    status = jobs.wait(workspace, "r1", timeout=30)
    assert status.state == "finished", status
    assert not status.alive
    assert status.summary == {"run": "r1", "epochs": 1}
    progress = jobs.read_progress(workspace, "r1")
    assert [record.step for record in progress] == [1, 2, 3]  # half line skipped
    assert jobs.read_progress(workspace, "r1", since_line=2)[0].step == 3
    assert [s.run for s in jobs.list_jobs(workspace)] == ["r1"]


def test_existing_run_is_not_overwritten(workspace, fake_python) -> None:
    jobs.start_training(workspace, _config(), python=fake_python)
    jobs.wait(workspace, "r1", timeout=30)
    with pytest.raises(BehaviorLensError, match="already exists"):
        jobs.start_training(workspace, _config(), python=fake_python)


def test_cancel_then_resume(workspace, fake_python, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "hang")
    jobs.start_training(workspace, _config(), python=fake_python)
    deadline = time.monotonic() + 30
    while not jobs.read_progress(workspace, "r1") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert jobs.job_status(workspace, "r1").state == "running"
    with pytest.raises(BehaviorLensError, match="already training"):
        jobs.start_training(workspace, _config(), python=fake_python)
    assert jobs.cancel(workspace, "r1")
    status = jobs.wait(workspace, "r1", timeout=30)
    assert status.state == "cancelled" and status.message == "stopped by user"
    assert not jobs.cancel(workspace, "r1")
    monkeypatch.setenv("FAKE_MODE", "finish")
    jobs.resume(workspace, "r1", python=fake_python)
    assert jobs.wait(workspace, "r1", timeout=30).state == "finished"
    assert jobs.read_progress(workspace, "r1")[-1].message == "resumed"


def test_cancel_before_the_trainer_reports_is_cancelled_not_failed(
    workspace, fake_python, monkeypatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "slow-start")
    jobs.start_training(workspace, _config(), python=fake_python)
    deadline = time.monotonic() + 30
    while not jobs.job_status(workspace, "r1").alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert jobs.job_status(workspace, "r1").state == "starting"
    assert jobs.cancel(workspace, "r1")
    status = jobs.wait(workspace, "r1", timeout=30)
    assert status.state == "cancelled" and "before training started" in status.message
    assert "log" not in status.message


def test_dead_job_without_status_is_failed_with_log(workspace, fake_python, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "crash")
    jobs.start_training(workspace, _config(), python=fake_python)
    status = jobs.wait(workspace, "r1", timeout=30)
    assert status.state == "failed"
    assert "without reporting" in status.message


def test_unknown_run_and_bad_names(workspace) -> None:
    assert jobs.job_status(workspace, "nope").state == "unknown"
    assert jobs.read_progress(workspace, "nope") == []
    assert jobs.list_jobs(workspace) == []
    with pytest.raises(BehaviorLensError):
        jobs.start_training(workspace, _config(run="../evil"))
    with pytest.raises(BehaviorLensError):
        jobs.resume(workspace, "nope")


def test_job_record_is_json_with_pid(workspace, fake_python) -> None:
    jobs.start_training(workspace, _config(), python=fake_python)
    record = json.loads(jobs.job_file(workspace, "r1").read_text())
    assert record["pid"] > 0 and record["config"]["dataset"] == "sample"
    jobs.wait(workspace, "r1", timeout=30)
    assert not os.path.exists(f"/proc/{record['pid']}") or not jobs.is_alive(record["pid"])


def test_finetune_args_per_target() -> None:
    from core.jobs import FineTuneJobConfig

    churn = FineTuneJobConfig(parent="p", run="r", target="churn", epochs=2).to_args()
    assert churn[:6] == ["--run", "p", "--name", "r", "--target", "churn"]
    assert "--churn-days" in churn and churn[churn.index("--epochs") + 1] == "2"
    tag = FineTuneJobConfig(parent="p", run="r", target="precedes-purchase").to_args()
    assert tag[4:6] == ["--tag", "precedes-purchase"] and "--churn-days" not in tag
    with pytest.raises(BehaviorLensError):
        FineTuneJobConfig(parent="p", run="r", target="nonsense").to_args()


def test_finetune_job_status_lives_in_the_jobs_folder(workspace, fake_python) -> None:
    from core.jobs import FineTuneJobConfig, start_finetune

    with pytest.raises(BehaviorLensError):  # no parent run
        start_finetune(workspace, FineTuneJobConfig(parent="nope", run="ft"), python=fake_python)
    (workspace.run_dir("parent")).mkdir(parents=True)
    (workspace.run_dir("parent") / "config.json").write_text("{}")
    config = FineTuneJobConfig(parent="parent", run="ft")
    jobs.spawn(
        workspace, "ft", {}, [sys.executable, "-c", "import time; time.sleep(30)"], "finetune"
    )
    status_path = jobs.jobs_dir(workspace) / "ft.status.json"
    status_path.write_text(
        json.dumps({"state": "running", "pid": jobs.read_job(workspace, "ft")["pid"]})
    )
    (jobs.jobs_dir(workspace) / "ft.progress.jsonl").write_text(
        '{"stage": "finetune", "step": 2, "total_steps": 4, "loss": 0.5, "val_score": 0.7}\n'
    )
    assert jobs.job_status(workspace, "ft").state == "running"
    assert jobs.read_progress(workspace, "ft") == [
        ProgressRecord("finetune", 2, 4, loss=0.5, val={"score": 0.7})
    ]  # a line of a job written before the records were versioned
    assert [s.run for s in jobs.list_jobs(workspace)] == ["ft"]  # the status file is no job
    with pytest.raises(BehaviorLensError, match="already training"):
        start_finetune(workspace, config, python=fake_python)
    assert jobs.cancel(workspace, "ft")
    assert jobs.wait(workspace, "ft", timeout=30).state == "failed"  # killed without reporting


def test_a_stopped_finetune_job_starts_again_with_its_knobs(
    workspace, fake_python, monkeypatch
) -> None:
    """A fine-tune writes its run only when done, so resuming one restarts it from its parent
    with the knobs it was launched with."""
    from core.jobs import FineTuneJobConfig, start_finetune

    workspace.run_dir("parent").mkdir(parents=True)
    (workspace.run_dir("parent") / "config.json").write_text("{}")
    monkeypatch.setenv("FAKE_MODE", "crash")  # the worker dies at once: a failed job
    config = FineTuneJobConfig(parent="parent", run="ft", target="churn", epochs=3)
    first = start_finetune(workspace, config, python=fake_python)
    assert jobs.wait(workspace, "ft", timeout=30).state == "failed"
    again = jobs.resume(workspace, "ft", python=fake_python)
    record = jobs.read_job(workspace, "ft")
    assert record["kind"] == "finetune" and again.pid != first.pid
    assert jobs.job_config(workspace, "ft") == config
    command = record["command"]
    assert "core.jobs.finetune_worker" in command and "--resume" not in command
    assert command[command.index("--epochs") + 1] == "3" and "--churn-days" in command
