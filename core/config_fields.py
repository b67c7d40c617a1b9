"""Command lines derived from typed config dataclasses: one field, one flag, one default.

Why: a setting used to be written five times (the dataclass, a CLI flag, its help string, the
job arguments, the presets) and the copies drifted. Here the dataclass field is the only place:
its name gives the flag (`max_len` -> `--max-len`), its annotation the type and choices
(`Literal`), `setting(default, doc)` the default and the help text, to which the default is
appended so no help string ever types it. `given` reads the flags back (only what the user
typed: a flag left out keeps the dataclass default) and `to_args` writes a config as flags.
Torch-free, so building the CLI parser stays fast.
"""

from __future__ import annotations

import argparse
import types
from dataclasses import MISSING, Field, field, fields
from typing import Any, Literal, TypeVar, Union, cast, get_args, get_origin, get_type_hints

T = TypeVar("T")
DOC = "doc"  # metadata key holding a field's one-line help text


def setting(default: T, doc: str) -> T:
    """A dataclass field with its default and the help text that --help and forms show."""
    return cast(T, field(default=default, metadata={DOC: doc}))


def flag(name: str) -> str:
    """The command-line flag of a field: `max_len` -> `--max-len`."""
    return "--" + name.replace("_", "-")


def defaults(*classes: type) -> dict[str, Any]:
    """Field name -> default for every field that has one (what presets are compared with)."""
    return {f.name: f.default for cls in classes for f in fields(cls) if f.default is not MISSING}


def add_fields(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    flags: dict[str, str] | None = None,
    notes: dict[str, str] | None = None,
) -> None:
    """One flag per field of `cls`, stored under the field's name and None when not given.

    `flags` renames a field's flag (`{"eval_max_users": "--eval-users"}`); `notes` adds a
    command-line remark to a field's help (`"0 = all"`).
    """
    hints = get_type_hints(cls)
    for f in fields(cls):
        name = (flags or {}).get(f.name, flag(f.name))
        parser.add_argument(
            name,
            dest=f.name,
            default=None,
            help=help_text(f, (notes or {}).get(f.name)),
            **_kind(cls, f, hints[f.name], metavar=name[2:].replace("-", "_").upper()),
        )


def help_text(f: Field[Any], note: str | None = None) -> str:
    """The field's doc, an optional note, then its default: `hidden width (default: 64)`."""
    parts = [f.metadata.get(DOC, f.name.replace("_", " ")), *([note] if note else [])]
    text = "; ".join(parts)
    if f.default is True:
        text += " (default: on)"
    elif not isinstance(f.default, bool) and f.default not in (None, MISSING):
        text += f" (default: {f.default})"
    return text.replace("%", "%%")  # argparse %-formats help strings


def _kind(cls: type, f: Field[Any], annotation: Any, metavar: str) -> dict[str, Any]:
    """argparse keywords for an annotation: store_true / --x/--no-x, choices, or a type."""
    hint = _strip_none(annotation)
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction if f.default is True else "store_true"}
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        return {"choices": choices, "type": type(choices[0])}
    if hint in (int, float, str):
        return {"type": hint, "metavar": metavar}
    raise TypeError(f"{cls.__name__}.{f.name}: no command-line form for type {annotation!r}")


def _strip_none(annotation: Any) -> Any:
    """`int | None` -> int: None is what a flag left out means, never a value one can type."""
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of `cls` the user typed a flag for; the others keep the dataclass default."""
    values = {f.name: getattr(args, f.name, None) for f in fields(cls)}
    return {name: value for name, value in values.items() if value is not None}


def to_args(
    config: Any, flags: dict[str, str] | None = None, skip: tuple[str, ...] = ()
) -> list[str]:
    """`config` as flags, in field order; None means "not given" and is left out.

    A bool becomes its bare flag when True, and `--no-x` when False against a default of True
    (see `add_fields`); a False against a default of False needs no flag.
    """
    args: list[str] = []
    for f in fields(config):
        value = getattr(config, f.name)
        name = (flags or {}).get(f.name, flag(f.name))
        if f.name in skip or value is None:
            continue
        if isinstance(value, bool):
            args += [name] if value else ["--no-" + name[2:]] if f.default is True else []
        else:
            args += [name, str(value)]
    return args
