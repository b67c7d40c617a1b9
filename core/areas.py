"""Private and shared areas of a team installation (the dashboard with sign-in on).

Layout under the installation's ROOT (the workspace folder of a single-user install):
    ROOT/users/<area id>/   one Workspace per signed-in person: datasets, runs, jobs, uploads
    ROOT/shared/            the team's Workspace: only what someone published, each item with a
                            published.json (who, when)

An area id is a short sha256 of the person's identity (the OIDC `sub`, else the e-mail), so an
identity never becomes a path and two people never share a folder. Nothing here trusts a name it
is given: every name passes `validate_name` and is resolved inside one given Workspace.

Publishing and copying build the target in a temp folder and rename it into place
(`atomic_directory`), so a reader sees the old item or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from core import jobs
from core.errors import BehaviorLensError, NotFoundError
from core.workspace import (
    Workspace,
    atomic_directory,
    atomic_write_json,
    read_json,
    validate_name,
)

USERS_FOLDER = "users"  # ROOT/users/<area id>: private areas
SHARED_FOLDER = "shared"  # ROOT/shared: the team area
AREA_ID_LENGTH = 16  # hex digits of sha256 kept: 64 bits, no collision in any team
PUBLISHED_FILE = "published.json"  # inside a shared item: who published it, and when
Kind = Literal["dataset", "run"]
_MARKERS = {"dataset": "manifest.json", "run": "config.json"}  # written last: item complete


def area_id(identity: str) -> str:
    """The folder name of a person's private area: sha256 of the identity, 16 hex digits."""
    if not identity or not identity.strip():
        raise ValueError(f"an area needs a non-empty identity, got {identity!r}")
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:AREA_ID_LENGTH]


def user_workspace(root: Path, identity: str) -> Workspace:
    """The private Workspace of `identity` under ROOT/users/."""
    return Workspace(Path(root) / USERS_FOLDER / area_id(identity))


def shared_workspace(root: Path) -> Workspace:
    """The team's Workspace, ROOT/shared/."""
    return Workspace(Path(root) / SHARED_FOLDER)


def item_dir(ws: Workspace, kind: Kind, name: str) -> Path:
    """The folder of an existing dataset or run, checked to lie inside `ws` (no '..', no link
    leading out of it); NotFoundError when the area holds no complete item of that name."""
    if kind not in _MARKERS:
        raise ValueError(f"kind must be 'dataset' or 'run', got {kind!r}")
    folder = ws.dataset_dir(name) if kind == "dataset" else ws.run_dir(name)
    root = ws.root.resolve()
    if not folder.resolve().is_relative_to(root) or not (folder / _MARKERS[kind]).is_file():
        raise NotFoundError(f"no {kind} {name!r} in this area")
    return folder


@dataclass(frozen=True)
class Published:
    """One item of the team area, as the Team page lists it."""

    kind: Kind
    name: str
    by: str  # who published it (the e-mail or name shown at sign-in)
    at: str  # when, ISO 8601 UTC
    dataset: str | None  # a run's dataset (published with it); None for a dataset
    publisher: str  # the publisher's area id: only they may replace the item


def published(shared: Workspace) -> list[Published]:
    """Every complete item of the team area, datasets first, each by name."""
    items = [_published(shared, "dataset", name) for name in shared.dataset_names()]
    return items + [_published(shared, "run", name) for name in shared.run_names()]


def _published(shared: Workspace, kind: Kind, name: str) -> Published:
    folder = item_dir(shared, kind, name)
    record = _record(folder)
    dataset = _run_dataset(folder) if kind == "run" else None
    return Published(
        kind,
        name,
        record.get("by", "?"),
        record.get("at", ""),
        dataset,
        record.get("publisher", ""),
    )


def _record(folder: Path) -> dict:
    path = folder / PUBLISHED_FILE
    return read_json(path) if path.is_file() else {}


def _run_dataset(run_folder: Path) -> str:
    dataset = read_json(run_folder / "config.json").get("dataset")
    if not isinstance(dataset, str):
        raise BehaviorLensError(f"run {run_folder.name!r} names no dataset in its config.json")
    return validate_name(dataset, "dataset name")


def publish(
    own: Workspace, shared: Workspace, kind: Kind, name: str, identity: str, by: str
) -> list[str]:
    """Copy a dataset, or a run with its dataset, from `own` into the team area.

    An item already published under that name by someone else is never replaced
    (BehaviorLensError); the same person publishing again replaces their copy. A run still
    training is refused: its files are still changing. Returns what was published ("dataset x").
    """
    source = item_dir(own, kind, name)
    if kind == "run" and jobs.job_status(own, name).active:
        raise BehaviorLensError(f"run {name!r} is still training: publish it once it has finished")
    items: list[tuple[Kind, str]] = [(kind, name)]
    if kind == "run":
        items.insert(0, ("dataset", _run_dataset(source)))
    publisher = area_id(identity)
    for item_kind, item_name in items:
        _check_owner(shared, item_kind, item_name, publisher)
    record = {
        "by": by,
        "publisher": publisher,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for item_kind, item_name in items:
        _copy_item(own, shared, item_kind, item_name, record)
    return [f"{item_kind} {item_name}" for item_kind, item_name in items]


def _check_owner(shared: Workspace, kind: Kind, name: str, publisher: str) -> None:
    try:
        folder = item_dir(shared, kind, name)
    except NotFoundError:
        return
    owner = _record(folder).get("publisher")
    if owner != publisher:
        by = _record(folder).get("by", "someone else")
        raise BehaviorLensError(
            f"the team area already has a {kind} {name!r} published by {by}: "
            "rename yours before publishing it"
        )


def copy_to_own(shared: Workspace, own: Workspace, kind: Kind, name: str) -> list[str]:
    """Copy a published dataset, or a run with its dataset, into `own` (never replacing).

    A run's dataset already in `own` as the same ingest (identical manifest) is kept; a
    different dataset of that name, or any run of that name, is refused (BehaviorLensError).
    Returns what was copied.
    """
    source = item_dir(shared, kind, name)
    items: list[tuple[Kind, str]] = [(kind, name)]
    if kind == "run":
        items.insert(0, ("dataset", _run_dataset(source)))
    todo = [(k, n) for k, n in items if not _same_in_own(shared, own, k, n)]
    if not todo:
        raise BehaviorLensError(f"your area already has {kind} {name!r}")
    for item_kind, item_name in todo:
        if _exists(own, item_kind, item_name):
            raise BehaviorLensError(
                f"your area already has another {item_kind} named {item_name!r}: "
                "rename or remove yours before copying the team's"
            )
    for item_kind, item_name in todo:
        _copy_item(shared, own, item_kind, item_name, None)
    return [f"{item_kind} {item_name}" for item_kind, item_name in todo]


def _exists(ws: Workspace, kind: Kind, name: str) -> bool:
    try:
        item_dir(ws, kind, name)
    except NotFoundError:
        return False
    return True


def _same_in_own(shared: Workspace, own: Workspace, kind: Kind, name: str) -> bool:
    """True when `own` holds this dataset exactly as published (same manifest bytes)."""
    if kind != "dataset" or not _exists(own, kind, name):
        return False
    marker = _MARKERS[kind]
    mine = item_dir(own, kind, name) / marker
    return mine.read_bytes() == (item_dir(shared, kind, name) / marker).read_bytes()


def _copy_item(src: Workspace, dst: Workspace, kind: Kind, name: str, record: dict | None) -> None:
    """Copy one item folder atomically; `record` (publishing) is written as published.json,
    None (copying to a private area) leaves the publication record behind."""
    source = item_dir(src, kind, name)
    target = dst.dataset_dir(name) if kind == "dataset" else dst.run_dir(name)
    with atomic_directory(target) as staging:
        staging.chmod(0o755)
        shutil.copytree(source, staging, dirs_exist_ok=True, ignore=_skipped)
        if record is not None:
            atomic_write_json(staging / PUBLISHED_FILE, record)


def _skipped(folder: str, names: list[str]) -> set[str]:
    """Left out of a copy: hidden temp files, the publication record, and links (a link could
    lead out of the area; the workspace never makes one)."""
    return {
        n
        for n in names
        if n.startswith(".") or n == PUBLISHED_FILE or (Path(folder) / n).is_symlink()
    }
