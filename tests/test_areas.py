"""core.areas: private area folders, the team area, publishing and copying between them."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from core import areas
from core.errors import BehaviorLensError, NotFoundError
from core.workspace import Workspace


def make_dataset(ws: Workspace, name: str, tag: str = "v1") -> Path:
    """A minimal complete dataset folder (manifest written, as ingest does, last)."""
    folder = ws.dataset_dir(name)
    folder.mkdir(parents=True)
    (folder / "events.parquet").write_bytes(b"events " + tag.encode())
    (folder / "manifest.json").write_text(json.dumps({"name": name, "tag": tag}))
    return folder


def make_run(ws: Workspace, name: str, dataset: str) -> Path:
    folder = ws.run_dir(name)
    (folder / "scored" / "week2").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "scored" / "week2" / "users.parquet").write_bytes(b"scores")
    (folder / "config.json").write_text(json.dumps({"dataset": dataset}))
    return folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "install"


def test_area_id_is_a_short_hash_never_the_identity(root: Path) -> None:
    ident = "../../alice@example.com"
    assert areas.area_id(ident) == areas.area_id(ident)
    assert len(areas.area_id(ident)) == areas.AREA_ID_LENGTH
    assert set(areas.area_id(ident)) <= set("0123456789abcdef")
    assert areas.area_id("alice") != areas.area_id("bob")
    ws = areas.user_workspace(root, ident)
    assert ws.root.parent == root / "users"
    assert "alice" not in str(ws.root)
    assert areas.shared_workspace(root).root == root / "shared"


@pytest.mark.parametrize("identity", ["", "   "])
def test_area_id_refuses_an_empty_identity(identity: str) -> None:
    with pytest.raises(ValueError, match="non-empty identity"):
        areas.area_id(identity)


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "", "/etc"])
def test_item_dir_refuses_names_that_are_paths(root: Path, name: str) -> None:
    with pytest.raises(BehaviorLensError, match="invalid"):
        areas.item_dir(areas.user_workspace(root, "bob"), "dataset", name)


def test_item_dir_stays_inside_the_callers_area(root: Path) -> None:
    alice = areas.user_workspace(root, "alice")
    bob = areas.user_workspace(root, "bob")
    secret = make_dataset(alice, "secret")
    assert areas.item_dir(alice, "dataset", "secret") == secret
    with pytest.raises(NotFoundError):
        areas.item_dir(bob, "dataset", "secret")
    bob.datasets_dir.mkdir(parents=True)
    (bob.datasets_dir / "stolen").symlink_to(secret)  # a link leading into another area
    with pytest.raises(NotFoundError):
        areas.item_dir(bob, "dataset", "stolen")


def test_publish_a_run_takes_its_dataset_and_records_who(root: Path) -> None:
    alice, team = areas.user_workspace(root, "alice"), areas.shared_workspace(root)
    make_dataset(alice, "shop")
    make_run(alice, "r1", "shop")
    done = areas.publish(alice, team, "run", "r1", "alice", "alice@example.com")
    assert done == ["dataset shop", "run r1"]
    listed = {(p.kind, p.name): p for p in areas.published(team)}
    assert set(listed) == {("dataset", "shop"), ("run", "r1")}
    assert listed[("run", "r1")].dataset == "shop"
    assert listed[("run", "r1")].by == "alice@example.com"
    assert listed[("run", "r1")].publisher == areas.area_id("alice")
    assert (team.run_dir("r1") / "scored" / "week2" / "users.parquet").read_bytes() == b"scores"
    assert [p.name for p in team.root.rglob(".*")] == []  # no staging folder left behind


def test_only_the_publisher_may_replace_a_published_item(root: Path) -> None:
    alice, bob = areas.user_workspace(root, "alice"), areas.user_workspace(root, "bob")
    team = areas.shared_workspace(root)
    make_dataset(alice, "shop", tag="alice")
    make_dataset(bob, "shop", tag="bob")
    areas.publish(alice, team, "dataset", "shop", "alice", "alice@example.com")
    with pytest.raises(BehaviorLensError, match="published by alice@example.com"):
        areas.publish(bob, team, "dataset", "shop", "bob", "bob@example.com")
    assert b"alice" in (team.dataset_dir("shop") / "manifest.json").read_bytes()
    (alice.dataset_dir("shop") / "manifest.json").write_text('{"tag": "alice v2"}')
    areas.publish(alice, team, "dataset", "shop", "alice", "alice@example.com")
    assert b"alice v2" in (team.dataset_dir("shop") / "manifest.json").read_bytes()


def test_copy_to_own_copies_a_run_with_its_dataset_once(root: Path) -> None:
    alice, bob = areas.user_workspace(root, "alice"), areas.user_workspace(root, "bob")
    team = areas.shared_workspace(root)
    make_dataset(alice, "shop")
    make_run(alice, "r1", "shop")
    areas.publish(alice, team, "run", "r1", "alice", "alice@example.com")
    assert areas.copy_to_own(team, bob, "run", "r1") == ["dataset shop", "run r1"]
    assert bob.run_names() == ["r1"] and bob.dataset_names() == ["shop"]
    assert not (bob.run_dir("r1") / areas.PUBLISHED_FILE).exists()
    with pytest.raises(BehaviorLensError, match="already has another run named 'r1'"):
        areas.copy_to_own(team, bob, "run", "r1")


def test_copy_to_own_keeps_the_same_dataset_and_refuses_a_different_one(root: Path) -> None:
    alice, bob = areas.user_workspace(root, "alice"), areas.user_workspace(root, "bob")
    carol, team = areas.user_workspace(root, "carol"), areas.shared_workspace(root)
    make_dataset(alice, "shop")
    make_run(alice, "r1", "shop")
    areas.publish(alice, team, "run", "r1", "alice", "a")
    areas.copy_to_own(team, bob, "dataset", "shop")
    assert areas.copy_to_own(team, bob, "run", "r1") == ["run r1"]  # dataset already the same
    make_dataset(carol, "shop", tag="carol's own")
    with pytest.raises(BehaviorLensError, match="another dataset named 'shop'"):
        areas.copy_to_own(team, carol, "run", "r1")
    assert carol.run_names() == []  # nothing half-copied


def test_a_run_still_training_is_not_published(root: Path, monkeypatch) -> None:
    alice, team = areas.user_workspace(root, "alice"), areas.shared_workspace(root)
    make_dataset(alice, "shop")
    make_run(alice, "r1", "shop")
    monkeypatch.setattr(areas.jobs, "job_status", lambda ws, run: SimpleNamespace(active=True))
    with pytest.raises(BehaviorLensError, match="still training"):
        areas.publish(alice, team, "run", "r1", "alice", "a")
    assert areas.published(team) == []


def test_a_failed_copy_leaves_the_team_area_as_it_was(root: Path, monkeypatch) -> None:
    alice, team = areas.user_workspace(root, "alice"), areas.shared_workspace(root)
    make_dataset(alice, "shop")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(areas.shutil, "copytree", broken)
    with pytest.raises(OSError, match="disk full"):
        areas.publish(alice, team, "dataset", "shop", "alice", "a")
    assert areas.published(team) == []
    assert list(team.root.rglob("*")) == []  # the temp folder went with the failure
