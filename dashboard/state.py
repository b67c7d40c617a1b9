"""Every cache and every session-state key of the dashboard, in one place.

Why one module: cached values are shared by all browser tabs of a server, session state belongs
to one tab. Keeping both here makes it easy to check that nothing per-user leaks into a cache
and that nothing mutates a cached value (pages get frames and models from these functions and
only read them). Every function below only calls `core`; none computes anything itself.

Cache keys include a "stamp" (the mtime of the file that marks a dataset or run complete, or of
a run's output files), so re-ingesting, retraining or recomputing invalidates exactly what
changed.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from core import areas
from core.analysis import run_info, timeline
from core.errors import BehaviorLensError
from core.workspace import Workspace

if TYPE_CHECKING:  # the modules load pandas, DuckDB or torch: imported where first used
    import pandas as pd

    from core.analysis.explain import Explanation
    from core.analysis.next_actions import NextActions
    from core.analysis.result_tables import AnomalyTable, MapPoints
    from core.analysis.time_resolution import TimeSupport
    from core.data.items import ItemCatalog
    from core.data.sequences import EventSequences
    from core.inference.loading import LoadedRun
    from core.reports.build import ModelOutputs
    from sample_data.demo import DemoInfo

WORKSPACE_ENV = "BEHAVIOR_LENS_WORKSPACE"
DEMO_ENV = "BEHAVIOR_LENS_DEMO"  # "0": do not install the sample dataset and demo run
AUTH_SECTION = "auth"  # a secrets.toml [auth] section turns sign-in on (st.login)

# Session-state keys (per browser tab).
DATASET = "bl_dataset"  # name of the dataset the tab is looking at
RUN = "bl_run"  # name of the run the tab is looking at
USER = "bl_user"  # user id picked on the model pages
TRAIN_RUN = "bl_train_run"  # run whose training progress the Train page follows
TRAIN_FOLLOW = "train_live_follow"  # the Train page's "Follow job" selectbox (widget key)
LAUNCHED = "bl_launched"  # runs this tab started: the pages open on each once it is trained
UPLOAD = "bl_upload"  # {"file_id", "path", "name"} of the last file saved from the uploader
ITEM_UPLOAD = "bl_item_upload"  # the same record for the optional item table
TAB_TOKEN = "bl_tab_token"  # random id of this tab: its private upload folder
WHAT_IF = "bl_what_if"  # events appended on the Predict page: list of (item, event), per run+user
REPORT = "bl_report"  # {"html", "tables", "dataset", "run"} of the last report built in this tab
DRILL_USER = "bl_drill_user"  # user id whose timeline a Segments/Anomalies drill-down shows
PRED_EXPORT = "bl_pred_export"  # {"run", "top_k", "data"}: the Predict page's every-user file
TEAM_NOTE = "bl_team_note"  # ("success" | "error", text): the Team page's last publish/copy
DATA_TAB = "data_tabs"  # the Data page's open tab (widget key): only that tab's view runs
# Run outputs the pages read (written by evaluate / segment / anomalies).
METRICS_FILE = "metrics.json"  # model vs baselines
SEGMENTS_FILE = "segments.parquet"  # one row per segment
ASSIGNMENTS_FILE = "segment_assignments.parquet"  # one row per user: user_id, segment, x, y
ANOMALIES_FILE = "anomalies.parquet"  # one row per user: score, false-alarm rate, reason
# One row per session intent: core.analysis.session_intents.INTENTS_FILE, named here because
# that module loads scikit-learn and torch (seconds) and the Segments page only reads the file.
INTENTS_FILE = "session_intents.parquet"
RUN_OUTPUT_FILES = (  # files whose change invalidates a run's cached outputs
    METRICS_FILE,
    SEGMENTS_FILE,
    ASSIGNMENTS_FILE,
    "segment_names.json",
    ANOMALIES_FILE,
)


class NotSignedInError(BehaviorLensError):
    """Sign-in is on and this browser has not signed in: there is no workspace to show."""


def root() -> Path:
    """The installation's folder: $BEHAVIOR_LENS_WORKSPACE or ./workspace (read on every call)."""
    return Path(os.environ.get(WORKSPACE_ENV) or "workspace").resolve()


def signin_enabled() -> bool:
    """Sign-in is on when the secrets (.streamlit/secrets.toml) have an [auth] section."""
    return st.secrets.load_if_toml_exists() and AUTH_SECTION in st.secrets


def bound_to_localhost() -> bool:
    """True when the server accepts connections from this machine only (server.address is
    localhost or a loopback address; unset means every interface)."""
    address = str(st.get_option("server.address") or "")
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def identity() -> str | None:
    """Who signed in: the OIDC `sub` claim (else the e-mail); None when signed out or when
    sign-in is off."""
    if not signin_enabled() or not st.user.is_logged_in:
        return None
    who = st.user.get("sub") or st.user.get("email")
    return str(who) if who else None


def display_name() -> str:
    """How the signed-in person is named on screen (e-mail, else name, else sub)."""
    return str(st.user.get("email") or st.user.get("name") or st.user.get("sub") or "")


def workspace() -> Workspace:
    """The workspace every page reads and writes.

    Sign-in off: the installation's folder itself (single user, bound to localhost). Sign-in on:
    the caller's private area ROOT/users/<area id> (core.areas), and NotSignedInError for a
    browser that has not signed in, so no page can fall back to someone else's data.
    """
    if not signin_enabled():
        return Workspace(root())
    who = identity()
    if who is None:
        raise NotSignedInError("sign in to see your workspace")
    return areas.user_workspace(root(), who)


def team_workspace() -> Workspace:
    """The team's shared area, ROOT/shared (used only with sign-in on)."""
    return areas.shared_workspace(root())


def get(key: str, default: Any = None) -> Any:
    return st.session_state.get(key, default)


def put(key: str, value: Any) -> None:
    st.session_state[key] = value


def follow_job(run: str) -> None:
    """Make the Train page follow `run` (a job just started or resumed), and the pages open on
    it once it is trained (dashboard.components.widgets.adopt_trained_runs).

    The "Follow job" selectbox is set from TRAIN_RUN on every run (widgets.synced_select), so
    this may be called anywhere, even after the selectbox is drawn.
    """
    st.session_state[TRAIN_RUN] = run
    st.session_state[LAUNCHED] = [*st.session_state.get(LAUNCHED, []), run]


def dataset_stamp(ws: Workspace, name: str) -> float:
    """mtime of the dataset's manifest: changes whenever the dataset is (re)written."""
    path = ws.dataset_dir(name) / "manifest.json"
    return path.stat().st_mtime if path.is_file() else 0.0


def items_stamp(ws: Workspace, name: str) -> tuple[float, float]:
    """mtimes of the dataset's manifest and item table: an item file added later counts too."""
    folder = ws.dataset_dir(name)
    paths = (folder / "manifest.json", folder / "items.parquet")
    return tuple(p.stat().st_mtime if p.is_file() else 0.0 for p in paths)


def run_stamp(ws: Workspace, name: str) -> float:
    """mtime of the run's weights (or config): changes with every new best checkpoint."""
    folder = ws.run_dir(name)
    for marker in ("model.safetensors", "config.json"):
        if (folder / marker).is_file():
            return (folder / marker).stat().st_mtime
    return 0.0


def outputs_stamp(ws: Workspace, name: str) -> tuple[float, ...]:
    """mtimes of the run's analysis outputs (0 when absent)."""
    folder = ws.run_dir(name)
    paths = [folder / f for f in RUN_OUTPUT_FILES]
    return tuple(p.stat().st_mtime if p.is_file() else 0.0 for p in paths)


def demo_enabled() -> bool:
    return os.environ.get(DEMO_ENV, "1") != "0"


@st.cache_resource(show_spinner="Preparing the demo dataset and model…")
def demo(root: str) -> DemoInfo | None:
    """sample_data.demo.ensure_demo once per workspace and server: DemoInfo(dataset, run) or None."""
    if not demo_enabled():
        return None
    from sample_data.demo import ensure_demo

    return ensure_demo(Workspace(Path(root)))


@st.cache_data(show_spinner=False, max_entries=64)
def manifest(root: str, name: str, stamp: float) -> dict[str, Any]:
    from core.data.store import load_manifest

    return load_manifest(Workspace(Path(root)), name)


@st.cache_resource(show_spinner="Loading event sequences…", max_entries=2)
def sequences(root: str, name: str, stamp: float) -> EventSequences:
    """EventSequences of a dataset: a resource (numpy arrays, shared read-only, never copied).
    Two at most: a 10M-event log holds about 270 MB, and a re-ingest makes a new entry."""
    from core.data.store import load_sequences

    return load_sequences(Workspace(Path(root)), name)


@st.cache_resource(show_spinner=False, max_entries=8)
def item_catalog(root: str, name: str, stamp: tuple[float, float]) -> ItemCatalog:
    """ItemCatalog of a dataset (labels, prices), loaded once and shared read-only; `stamp` is
    `items_stamp`. A dataset without an item table gets an empty one (labels are the ids)."""
    from core.data.items import load_item_catalog

    return load_item_catalog(Workspace(Path(root)), name)


def catalog_of(root: str, dataset: str) -> ItemCatalog:
    """The cached ItemCatalog of `dataset` at its current stamp (empty when no dataset)."""
    if not dataset:
        from core.data.items import ItemCatalog

        return ItemCatalog()
    return item_catalog(root, dataset, items_stamp(Workspace(Path(root)), dataset))


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def loaded_run(root: str, name: str, stamp: float) -> LoadedRun:
    """A trained run (model + configs), loaded once per checkpoint and shared read-only."""
    from core.inference.loading import load_run

    return load_run(Workspace(Path(root)), name)


@st.cache_data(show_spinner=False, max_entries=32)
def headline(
    root: str, dataset: str, run: str | None, stamps: tuple[float, ...]
) -> run_info.Headline:
    """The Home cards, from files only (core.analysis.run_info.headline)."""
    return run_info.headline(Workspace(Path(root)), dataset, run)


@st.cache_data(show_spinner=False, max_entries=4)
def run_outputs(root: str, run: str, stamps: tuple[float, ...]) -> ModelOutputs:
    """metrics, segments, assignments, anomalies of a run (core.reports.build.load_run_outputs):
    every row of the per-user tables, so only a report being built asks for them."""
    from core.reports.build import load_run_outputs

    return load_run_outputs(Workspace(Path(root)), run)


@st.cache_data(show_spinner=False, max_entries=8)
def anomaly_table(
    root: str, run: str, stamps: tuple[float, ...], top: int, columns: tuple[str, ...]
) -> AnomalyTable:
    """Every user's score and rate plus the `top` rows of anomalies.parquet with `columns`
    (core.analysis.result_tables): a 200k-user file is never held whole, reasons and all."""
    from core.analysis.result_tables import anomaly_table as read

    return read(Workspace(Path(root)).existing_run_dir(run) / ANOMALIES_FILE, top, columns)


@st.cache_data(show_spinner=False, max_entries=8)
def map_points(root: str, run: str, stamps: tuple[float, ...], limit: int) -> MapPoints:
    """At most `limit` users of segment_assignments.parquet that have a map position (user_id,
    segment, x, y; a seeded sample, the same every rerun) and how many users there are."""
    from core.analysis.result_tables import map_points as read

    path = Workspace(Path(root)).existing_run_dir(run) / ASSIGNMENTS_FILE
    return read(path, limit, ("user_id", "segment", "x", "y"))


@st.cache_data(show_spinner=False, max_entries=8)
def scored_users(
    root: str, run: str, dataset: str, stamp: float, top: int
) -> tuple[pd.DataFrame, int]:
    """The `top` users of a scored period (users.parquet of core.analysis.score_period) by
    anomaly score, and how many users it holds; `stamp` is the file's mtime."""
    from core.analysis.result_tables import row_count, top_rows
    from core.analysis.score_period import USERS_FILE, scored_dir

    path = scored_dir(Workspace(Path(root)), run, dataset) / USERS_FILE
    return top_rows(path, "anomaly_score", top), row_count(path)


@st.cache_data(show_spinner=False, max_entries=32)
def quality(root: str, run: str, stamps: tuple[float, ...]) -> pd.DataFrame | None:
    """Model vs baselines from the run's metrics.json; None when never evaluated."""
    return run_info.quality_table(Workspace(Path(root)), run)


@st.cache_data(show_spinner=False, max_entries=256)
def user_timeline(root: str, dataset: str, stamp: float, user_id: str) -> pd.DataFrame:
    from core.analysis.item_labels import with_labels
    from core.data.store import events_path

    frame = timeline.user_timeline(events_path(Workspace(Path(root)), dataset), user_id)
    return with_labels(frame, catalog_of(root, dataset))


@st.cache_data(show_spinner="Explaining the prediction…", max_entries=64)
def explanation(
    root: str, run: str, stamp: float, user_id: str, session: int | None
) -> Explanation:
    """core.analysis.explain for the user's history up to the end of `session`."""
    from core.analysis.explain import explain_user

    loaded = loaded_run(root, run, stamp)
    data = sequences(root, loaded.dataset, dataset_stamp(Workspace(Path(root)), loaded.dataset))
    history = timeline.history_until(data, user_id, session)
    return explain_user(loaded, history, user_id, catalog=catalog_of(root, loaded.dataset))


@st.cache_data(show_spinner=False, max_entries=256)
def predictions(
    root: str, run: str, stamp: float, user_id: str, steps: tuple[tuple[str, str], ...], top_k: int
) -> NextActions:
    """Next actions after the user's whole history (no steps) or after typed steps (what-if)."""
    from core.analysis import next_actions

    loaded = loaded_run(root, run, stamp)
    data = sequences(root, loaded.dataset, dataset_stamp(Workspace(Path(root)), loaded.dataset))
    catalog = catalog_of(root, loaded.dataset)
    if not steps:
        return next_actions.next_actions(loaded, data, [user_id], top_k, catalog)[str(user_id)]
    return next_actions.what_if(loaded, data, list(steps), top_k, catalog=catalog)


@st.cache_data(show_spinner="Generating…", max_entries=64)
def continuation(
    root: str, run: str, stamp: float, steps: tuple[tuple[str, str], ...], n: int, seed: int
) -> pd.DataFrame:
    """A sampled continuation of typed steps (core.analysis.next_actions.generate)."""
    from core.analysis.next_actions import GenerationConfig, generate

    loaded = loaded_run(root, run, stamp)
    data = sequences(root, loaded.dataset, dataset_stamp(Workspace(Path(root)), loaded.dataset))
    config = GenerationConfig(steps=n, seed=seed)
    return generate(loaded, data, list(steps), config, catalog=catalog_of(root, loaded.dataset))


@st.cache_data(show_spinner=False, max_entries=64)
def time_support(root: str, dataset: str, stamp: float) -> TimeSupport:
    """What the dataset's timestamps support (core.analysis.time_resolution.dataset_support)."""
    from core.analysis.time_resolution import dataset_support
    from core.data.store import events_path, load_manifest

    ws = Workspace(Path(root))
    return dataset_support(events_path(ws, dataset), load_manifest(ws, dataset))


@st.cache_data(show_spinner="Checking the run against a simple baseline…", max_entries=64)
def training_label(root: str, run: str, stamp: float) -> str | None:
    """ "Barely trained: …" when the run is not clearly above the Markov chain (else None)."""
    from core.evaluation.training_check import training_check

    check = training_check(Workspace(Path(root)), run)
    return check.label() if check is not None else None


@st.cache_data(show_spinner=False, max_entries=64)
def outdated_label(root: str, run: str, stamps: tuple[float, float]) -> str | None:
    """Says so when the run's dataset was replaced after training (core.analysis.run_freshness);
    `stamps`: the run's and its dataset's, so a re-ingest is seen on the next rerun."""
    from core.analysis.run_freshness import outdated_note

    return outdated_note(Workspace(Path(root)), run)
