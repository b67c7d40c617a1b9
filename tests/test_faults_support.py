"""Shared pieces of the fault-injection tests (tests/test_faults_*.py); holds no test itself.

Every fault is real: the command runs as its own `python -m core` process and is SIGKILLed,
either by a fault point (`core.faults`, BEHAVIOR_LENS_FAULT_AT) at an exact place or by the test
after a delay. A small slice of sample_data and a 16-wide, 1-block model keep each process to a
few seconds; the base workspace (dataset + one finished run) is built once per session.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

from core import fs_atomic
from core.faults import ENV, POINTS
from core.locks import LOCK_FILE

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "events.csv"
EVENTS = 3000  # rows of sample_data kept: ~300 users, enough for every analysis step
RUN = "r"
TRAIN = [
    "train", "--dataset", "s", "--run", RUN, "--epochs", "3", "--dim", "16", "--layers", "1",
    "--heads", "1", "--max-len", "20", "--batch-size", "32", "--eval-users", "20",
    "--device", "cpu", "--seed", "0",
]  # fmt: skip


# A fork server: one interpreter that has imported core and torch (and run nothing) forks a fresh
# process per command, which runs the CLI's `main` exactly as `python -m core` does. Each command
# is still its own process, killed for real; it only skips the ~3 s of interpreter and torch
# start-up, which would otherwise be most of these tests' time.
_SERVER = r"""
import json, os, sys, traceback
import core.cli, core.training.run, core.analysis.pipeline, core.reports.build  # noqa
import core.analysis.score_period, core.data.ingest, core.data.store, torch, torch._dynamo  # noqa
import duckdb, pyarrow.parquet, sklearn.cluster  # noqa
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.environ.clear()
        os.environ.update(job["env"])
        for fd, name in ((1, job["out"]), (2, job["err"])):
            os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        code = 1
        try:
            code = core.cli.main(job["argv"])
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), flush=True)
"""


@functools.cache
def _server() -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER],
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    atexit.register(_stop, server)
    return server


def _stop(server: subprocess.Popen[str]) -> None:
    server.stdin.close()  # its loop ends; waiting counts its CPU time in the test run's
    server.wait(timeout=30)


def cli(
    workspace: Path, *args: str, fault: str | None = None, on_start=None, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m core ARGS --workspace WS` in its own (forked) process; `fault`: where it kills
    itself; `on_start(pid)` is called once it runs (e.g. to kill it after a delay)."""
    argv = [*args, "--workspace", str(workspace)]
    out, err = (workspace.parent / f".cli.{name}" for name in ("out", "err"))
    out.write_text("")  # there even when the process is killed before it opens them
    err.write_text("")
    server = _server()
    job = {"argv": argv, "env": child_env(fault, **env), "out": str(out), "err": str(err)}
    server.stdin.write(json.dumps(job) + "\n")
    server.stdin.flush()
    pid = json.loads(server.stdout.readline())["pid"]
    if on_start is not None:
        on_start(pid)
    code = json.loads(server.stdout.readline())["rc"]
    result = subprocess.CompletedProcess(argv, code, out.read_text(), err.read_text())
    out.unlink()
    err.unlink()
    return result


def python_m_core(workspace: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The same through a plain `python -m core` process (no fork server)."""
    return subprocess.run(
        [sys.executable, "-m", "core", *args, "--workspace", str(workspace)],
        cwd=ROOT,
        env=child_env(None, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def child_env(fault: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    # No bf16 timing at start-up (seconds where bf16 is emulated), and one CPU thread: the
    # trainer shares the idle cores among LOCAL_WORLD_SIZE processes, so every process of a test
    # (unbroken or resumed) computes with the same thread count whatever the machine's load.
    env.update(BEHAVIOR_LENS_CPU_BF16="0", LOCAL_WORLD_SIZE="64", **extra)
    if fault is not None:
        assert fault.partition("@")[0] in POINTS, fault
        env[ENV] = fault
    return env


def killed(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == -signal.SIGKILL


def summary(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def small_log(folder: Path) -> Path:
    path = folder / "small.csv"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with open(SAMPLE, encoding="utf-8") as source:
            path.write_text("".join(next(source) for _ in range(EVENTS + 1)), encoding="utf-8")
    return path


@functools.cache
def _base(root: Path) -> tuple[Path, dict]:
    workspace = root / "ws"
    summary(cli(workspace, "ingest", str(small_log(root)), "--name", "s"))
    return workspace, summary(cli(workspace, *TRAIN))


def base_workspace(tmp_path_factory, into: Path) -> tuple[Path, dict]:
    """A copy at `into` of the session's workspace: dataset "s" and finished run "r" (+ summary)."""
    workspace, trained = _base(tmp_path_factory.getbasetemp() / "faults_base")
    shutil.copytree(workspace, into, symlinks=True)
    return into, trained


def tree(root: Path) -> dict[str, str]:
    """Every path under `root` -> sha256 of its bytes ("dir" for folders).

    Ignored: hidden temp names of the atomic writers (`core.fs_atomic.is_temp_name`, what a
    SIGKILL can leave before its rename; the next write there sweeps them) and `.lock` files.
    """
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not fs_atomic.is_temp_name(d)]
        base = Path(folder)
        for name in dirs:
            found[str((base / name).relative_to(root))] = "dir"
        for name in files:
            if fs_atomic.is_temp_name(name) or name == LOCK_FILE:
                continue
            path = base / name
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def temp_debris(root: Path) -> list[str]:
    """Temp names left anywhere under `root`."""
    return [
        str(Path(folder, name).relative_to(root))
        for folder, dirs, files in os.walk(root)
        for name in [*dirs, *files]
        if fs_atomic.is_temp_name(name) or name.endswith(".tmp")
    ]


def assert_checkpoint_files_load(run_dir: Path) -> None:
    """Every checkpoint file under its real name is whole: JSON parses, safetensors load."""
    for path in [*run_dir.glob("*"), *run_dir.glob("resume/*")]:
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".safetensors":
            load_file(str(path))
    resume = run_dir / "resume"
    if resume.is_dir():  # the folder is swapped in whole: all three or none
        assert sorted(p.name for p in resume.iterdir()) == [
            "model.safetensors",
            "optimizer.safetensors",
            "state.json",
        ]
