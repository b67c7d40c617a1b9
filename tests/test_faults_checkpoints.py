"""A checkpoint edited by hand (truncated, garbage, other shapes, another format version) is
refused with a message naming the file: on the command line one `error:` line and exit code 2,
on the dashboard a readable message, never a traceback. A run of the current format still loads.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from streamlit.testing.v1 import AppTest
from test_faults_support import ROOT, RUN, SAMPLE, TRAIN, base_workspace, cli

from core.inference.loading import FORMAT_VERSION, load_run
from core.workspace import Workspace

USER = SAMPLE.read_text(encoding="utf-8").split("\n", 2)[1].split(",")[0]  # the first row's user


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _edit_json(path: Path, **changes: object) -> None:
    payload = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    path.write_text(json.dumps(payload), encoding="utf-8")


def _shrink_a_tensor(path: Path) -> None:
    tensors = load_file(str(path))
    name = max(tensors, key=lambda k: tensors[k].numel())  # the item embedding
    tensors[name] = tensors[name][:-3].contiguous()
    save_file(tensors, str(path), metadata={"format": str(FORMAT_VERSION)})


def _other_step(path: Path) -> None:
    save_file(load_file(str(path)), str(path), metadata={"format": "1", "step": "99999"})


# (case, file under runs/r, damage, command, words the message must hold)
CASES: list[tuple[str, str, Callable[[Path], None], str, str]] = [
    ("truncated JSON", "config.json", _truncate, "load", "unreadable"),
    ("JSON not UTF-8", "config.json", lambda p: p.write_bytes(b"\xff\xfe{"), "load", "unreadable"),
    ("JSON not an object", "config.json", lambda p: p.write_text("[1]"), "load", "not a JSON"),
    ("wrong format", "config.json", lambda p: _edit_json(p, format=99), "load", "version 99"),
    ("no format", "config.json", lambda p: _edit_json(p, format=None), "load", "no format"),
    ("truncated weights", "model.safetensors", _truncate, "load", "cannot load weights"),
    ("wrong shapes", "model.safetensors", _shrink_a_tensor, "load", "size mismatch"),
    ("weights of another step", "model.safetensors", _other_step, "load", "step 99999"),
    ("truncated resume state", "resume/state.json", _truncate, "resume", "unreadable"),
    ("resume of another format", "resume/state.json", lambda p: _edit_json(p, format=0), "resume",
     "version 0"),
    ("truncated optimizer", "resume/optimizer.safetensors", _truncate, "resume", "cannot load"),
    ("resume weights reshaped", "resume/model.safetensors", _shrink_a_tensor, "resume",
     "size mismatch"),
]  # fmt: skip


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workspace, _ = base_workspace(tmp_path_factory, tmp_path_factory.mktemp("ckpt") / "ws")
    return workspace


def _damaged_copy(pristine: Path, into: Path, file: str, damage: Callable[[Path], None]) -> Path:
    shutil.copytree(pristine, into)
    damage(into / "runs" / RUN / file)
    return into / "runs" / RUN / file


def _command(kind: str) -> list[str]:
    if kind == "load":  # any command that loads the run; this one is quick
        return ["predict", "--run", RUN, "--user", USER, "--top-k", "1"]
    return [*TRAIN, "--resume"]


@pytest.mark.parametrize(("file", "damage", "kind", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_the_cli_refuses_a_damaged_checkpoint_in_one_line(
    pristine: Path, tmp_path: Path, file: str, damage, kind: str, words: str
) -> None:
    path = _damaged_copy(pristine, tmp_path / "ws", file, damage)
    result = cli(tmp_path / "ws", *_command(kind))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(path) in lines[0], result.stderr
    assert words in lines[0], lines[0]


def test_the_format_message_names_both_versions(pristine: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    shutil.copytree(pristine, workspace)
    _edit_json(workspace / "runs" / RUN / "config.json", format=7)
    with pytest.raises(Exception, match=r"config\.json.*format version 7.*reads format 1"):
        load_run(Workspace(workspace), RUN, "cpu")


def test_a_run_of_the_current_format_loads(pristine: Path) -> None:
    loaded = load_run(Workspace(pristine), RUN, "cpu")
    assert loaded.meta["format"] == FORMAT_VERSION
    assert loaded.meta["weights_step"] == loaded.meta["step"] or loaded.meta["best_epoch"] < 3
    assert torch.isfinite(next(loaded.model.parameters())).all()


def test_the_demo_run_shipped_with_the_app_still_loads(tmp_path: Path) -> None:
    """An older run (written before weights carried their step) keeps loading."""
    runs = tmp_path / "ws" / "runs"
    shutil.copytree(ROOT / "sample_data" / "demo_run", runs / "demo")
    assert load_run(Workspace(tmp_path / "ws"), "demo", "cpu").meta["format"] == FORMAT_VERSION


def test_the_dashboard_shows_a_readable_message(
    pristine: Path, tmp_path: Path, monkeypatch
) -> None:
    workspace = tmp_path / "ws"
    shutil.copytree(pristine, workspace)
    _truncate(workspace / "runs" / RUN / "model.safetensors")
    monkeypatch.setenv("BEHAVIOR_LENS_WORKSPACE", str(workspace))
    at = AppTest.from_file(str(ROOT / "dashboard" / "app_pages" / "predict.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    errors = " ".join(str(e.value) for e in at.error)
    assert "model.safetensors" in errors and "cannot load weights" in errors, errors
    assert "Traceback" not in errors and str(workspace) not in errors
