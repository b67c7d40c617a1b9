"""core.config_fields: flags, help texts and command lines made from dataclass fields alone."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, make_dataclass
from typing import Literal

import pytest

from core.config_fields import add_fields, defaults, given, setting, to_args
from core.training.config import FineTuneConfig, ModelOptions, TrainConfig


@dataclass
class Knobs:
    size: int = setting(8, "how big")
    rate: float | None = setting(None, "how fast; unset = auto")
    mode: Literal["a", "b"] = setting("a", "which way")
    share: float = setting(0.5, "share kept (50% by default)")
    verbose: bool = setting(False, "say more")
    cache: bool = setting(True, "keep results")


def parser_for(cls: type, **kwargs) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="knobs")
    add_fields(parser, cls, **kwargs)
    return parser


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {name for action in parser._actions for name in action.option_strings} - {"-h", "--help"}


def test_flags_come_from_the_fields() -> None:
    parser = parser_for(Knobs)
    assert options(parser) == {
        "--size",
        "--rate",
        "--mode",
        "--share",
        "--verbose",
        "--cache",
        "--no-cache",
    }
    with pytest.raises(SystemExit):  # a Literal's values are the only choices
        parser.parse_args(["--mode", "c"])
    assert given(parser.parse_args(["--size", "3", "--no-cache"]), Knobs) == {
        "size": 3,
        "cache": False,
    }


def test_help_shows_each_default_once_and_only_from_the_field() -> None:
    text = " ".join(parser_for(Knobs).format_help().split())
    assert "how big (default: 8)" in text
    assert "which way (default: a)" in text
    assert "keep results (default: on)" in text
    assert "share kept (50% by default) (default: 0.5)" in text  # a % in a doc is kept as is
    assert "how fast; unset = auto --mode" in text  # None and False print no default
    assert "say more --cache" in text


def test_flags_left_out_keep_the_dataclass_defaults() -> None:
    values = given(parser_for(Knobs).parse_args([]), Knobs)
    assert values == {}
    assert Knobs(**values) == Knobs()
    assert defaults(Knobs) == {
        "size": 8,
        "rate": None,
        "mode": "a",
        "share": 0.5,
        "verbose": False,
        "cache": True,
    }


@pytest.mark.parametrize(
    "config",
    [
        Knobs(),
        Knobs(size=5, rate=0.25, mode="b", share=0.1, verbose=True, cache=False),
    ],
)
def test_round_trip_config_to_args_to_config(config: Knobs) -> None:
    args = to_args(config)
    assert Knobs(**given(parser_for(Knobs).parse_args(args), Knobs)) == config
    if config == Knobs():
        # False needs no flag; True is always written (a job's analyze=True is the CLI's off)
        assert args == ["--size", "8", "--mode", "a", "--share", "0.5", "--cache"]


def test_a_renamed_flag_still_lands_on_its_field() -> None:
    parser = parser_for(Knobs, flags={"size": "--n"}, notes={"size": "0 = none"})
    assert "--n" in options(parser) and "--size" not in options(parser)
    assert "how big; 0 = none (default: 8)" in " ".join(parser.format_help().split())
    config = Knobs(size=2)
    assert (
        Knobs(**given(parser.parse_args(to_args(config, flags={"size": "--n"})), Knobs)) == config
    )


def test_a_field_added_to_a_dataclass_becomes_a_flag_with_no_other_edit() -> None:
    bigger = make_dataclass("Bigger", [("extra", int, setting(3, "a new knob"))], bases=(Knobs,))
    parser = parser_for(bigger)
    assert "--extra" in options(parser)
    assert "a new knob (default: 3)" in " ".join(parser.format_help().split())
    config = bigger(extra=7, size=1)
    assert bigger(**given(parser.parse_args(to_args(config)), bigger)) == config


def test_a_field_with_no_command_line_form_is_named() -> None:
    bad = make_dataclass("Bad", [("pairs", tuple[int, ...], setting((1, 2), "pairs"))])
    with pytest.raises(TypeError, match=r"Bad\.pairs"):
        parser_for(bad)


@pytest.mark.parametrize("cls", [TrainConfig, ModelOptions, FineTuneConfig])
def test_every_config_field_has_a_flag_and_help(cls: type) -> None:
    parser = parser_for(cls)
    text = " ".join(parser.format_help().split())
    assert given(parser.parse_args([]), cls) == {}
    for name, default in defaults(cls).items():
        assert f"--{name.replace('_', '-')}" in options(parser)
        if not isinstance(default, bool) and default is not None:
            assert f"(default: {default})" in text, name


def test_train_command_reads_back_what_to_args_writes() -> None:
    from core.cli import build_parser
    from core.cli.train import RENAMED, _configs

    config = TrainConfig(objective="masked", lr=0.002, amp=False, threads=3, nsp=True, loss="full")
    sizes = ModelOptions(max_len=30, dim=32, heads=2, dropout=0.1, scale_ids=False)
    words = ["train", "--dataset", "d", "--run", "r"]
    words += to_args(config, flags=RENAMED) + to_args(sizes)
    assert _configs(build_parser().parse_args(words)) == (config, sizes)
    every = build_parser().parse_args([*words, "--eval-users", "0"])
    assert _configs(every)[0].eval_max_users is None  # --eval-users 0: every validation user
