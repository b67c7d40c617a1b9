"""The CLI front end: `--workspace` placement, JSON last line, one-line errors."""

from __future__ import annotations

import json

import pytest

from core.cli import COMMAND_MODULES, main


@pytest.mark.parametrize("before", [True, False])
def test_workspace_is_accepted_before_or_after_the_command(tmp_path, capsys, before):
    log = tmp_path / "log.csv"
    log.write_text("user,time,item\nu1,2024-01-01T00:00:00Z,a\nu1,2024-01-01T00:01:00Z,b\n")
    ws = ["--workspace", str(tmp_path / "ws")]
    argv = ["ingest", str(log), "--name", "d"]
    assert main([*ws, *argv] if before else [*argv, *ws]) == 0
    capsys.readouterr()
    assert main([*ws, "datasets"] if before else ["datasets", *ws]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [entry["name"] for entry in listed] == ["d"]


def test_unknown_run_is_one_error_line_with_exit_2(tmp_path, capsys):
    assert main(["predict", "--run", "nope", "--user", "u1", "--workspace", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "nope" in err[0]


@pytest.mark.parametrize("command", [m.NAME for m in COMMAND_MODULES])
def test_every_command_prints_its_help(command: str, capsys) -> None:
    """argparse formats help text with %: a literal '1%' in a default crashed `--help`."""
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    assert "usage:" in capsys.readouterr().out
