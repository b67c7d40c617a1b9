"""Top behaviour paths and step-indexed links for a Sankey diagram, computed in DuckDB.

A path is the first `length` steps of each session (or user), starting at its first event or at
its first `start_event`. Consecutive repeats are collapsed by default ("view view view cart" is
the path "view → cart"), since in clickstreams the repeats otherwise crowd out every other path.
A path that ends before `length` steps gets a final "(end)" step, so the Sankey shows where
visitors leave. Nodes are step-indexed ("2. cart"): the same label at two depths is two nodes,
which keeps the diagram acyclic.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from core.analysis.events_db import check_events_exist, open_events
from core.errors import BehaviorLensError

END_LABEL = "(end)"  # the step after a path's last event, when it ends before `length` steps
OTHER_LABEL = "(other)"  # Sankey node lumping the rarer labels of one step
NONE_LABEL = "(none)"  # category label of events without a category
_UNIT_COLUMN = {"session": "session_idx", "user": "user_idx"}
_LABEL_COLUMN = {"event": "event", "category": f"coalesce(category, '{NONE_LABEL}')"}


@dataclass(frozen=True)
class PathsConfig:
    """What counts as a path; the defaults suit a first look at a clickstream."""

    length: int = 3  # steps per path, counted after collapsing repeats (the end marker included)
    start_event: str | None = (
        None  # start at each unit's first event of this type; None = first event
    )
    top: int = 20  # rows in the table of whole paths
    level: Literal["event", "category"] = "event"  # label each step by event type or item category
    within: Literal["session", "user"] = "session"  # a path never crosses this boundary
    collapse_repeats: bool = True  # merge consecutive steps with the same label
    max_nodes_per_step: int = 8  # Sankey nodes per step before the rest is lumped as "(other)"


@dataclass(frozen=True)
class PathsResult:
    """`links`: source→target counts (step, source, target, source_node, target_node, count).
    `paths`: the top whole paths (path, steps, count, share), most frequent first."""

    links: pd.DataFrame
    paths: pd.DataFrame


def top_paths(
    events_path: str | Path,
    config: PathsConfig | None = None,
    user_ids: Collection[str] | None = None,
    **overrides: Any,
) -> PathsResult:
    """Count the paths units take and the step-to-step links between their labels.

    Options come from `config`, with keyword `overrides` on top: `top_paths(p, length=4)`.
    """
    config = replace(config or PathsConfig(), **overrides)
    _validate(config)
    con = open_events(events_path, user_ids)
    try:
        if config.start_event is not None:
            check_events_exist(con, [config.start_event], "paths")
        con.execute(_steps_sql(config), [config.start_event])
        links = _links(con, config.max_nodes_per_step)
        paths = _paths(con, config.top)
    finally:
        con.close()
    return PathsResult(links=links, paths=paths)


def _validate(config: PathsConfig) -> None:
    if config.length < 2:
        raise BehaviorLensError(f"paths: length must be at least 2, got {config.length}")
    if config.top < 1 or config.max_nodes_per_step < 1:
        raise BehaviorLensError("paths: top and max_nodes_per_step must be at least 1")
    if config.level not in _LABEL_COLUMN:
        raise BehaviorLensError(f"paths: level must be 'event' or 'category', got {config.level!r}")
    if config.within not in _UNIT_COLUMN:
        raise BehaviorLensError(f"paths: within must be 'session' or 'user', got {config.within!r}")


def _steps_sql(config: PathsConfig) -> str:
    """Table `steps(unit, step, label)`: each unit's path, numbered from 1, end marker added."""
    unit, label = _UNIT_COLUMN[config.within], _LABEL_COLUMN[config.level]
    keep_repeat = "TRUE" if not config.collapse_repeats else "prev IS NULL OR prev <> label"
    from_start = (  # without a start event every unit's path starts at its first event
        "FROM base b"
        if config.start_event is None
        else "FROM base b JOIN start s ON b.unit = s.unit AND b.pos >= s.start_pos"
    )
    return f"""
    CREATE TEMP TABLE steps AS
    WITH base AS (
        SELECT {unit} AS unit, pos, event, {label} AS label FROM events_ordered
    ), start AS (
        SELECT unit, min(pos) AS start_pos FROM base
        WHERE $1::VARCHAR IS NULL OR event = $1 GROUP BY unit
    ), tail AS (
        SELECT b.unit, b.pos, b.label,
               lag(b.label) OVER (PARTITION BY b.unit ORDER BY b.pos) AS prev
        {from_start}
    ), numbered AS (
        SELECT unit, label, row_number() OVER (PARTITION BY unit ORDER BY pos) AS step
        FROM tail WHERE {keep_repeat}
    ), kept AS (
        SELECT * FROM numbered WHERE step <= {int(config.length)}
    )
    SELECT unit, step, label FROM kept
    UNION ALL
    SELECT unit, max(step) + 1, '{END_LABEL}' FROM kept
    GROUP BY unit HAVING max(step) < {int(config.length)}
    """


def _links(con, max_nodes: int) -> pd.DataFrame:
    """Step-to-step link counts, the rarer labels of each step lumped into "(other)"."""
    frame = con.execute(
        f"""
        WITH ranked AS (
            SELECT step, label, row_number() OVER (
                PARTITION BY step ORDER BY count(*) DESC, label) AS rank
            FROM steps GROUP BY step, label
        ), lumped AS (
            SELECT s.unit, s.step,
                   CASE WHEN r.rank <= {int(max_nodes)} OR s.label = '{END_LABEL}'
                        THEN s.label ELSE '{OTHER_LABEL}' END AS label
            FROM steps s JOIN ranked r USING (step, label)
        ), pairs AS (
            SELECT step, label AS source,
                   lead(label) OVER (PARTITION BY unit ORDER BY step) AS target
            FROM lumped
        )
        SELECT step, source, target, count(*) AS count FROM pairs
        WHERE target IS NOT NULL GROUP BY step, source, target
        ORDER BY step, count DESC, source, target
        """
    ).df()
    frame["count"] = frame["count"].astype("int64")
    frame["source_node"] = frame["step"].astype(str) + ". " + frame["source"]
    frame["target_node"] = (frame["step"] + 1).astype(str) + ". " + frame["target"]
    return frame[["step", "source", "target", "source_node", "target_node", "count"]]


def _paths(con, top: int) -> pd.DataFrame:
    frame = con.execute(
        f"""
        WITH whole AS (
            SELECT unit, list(label ORDER BY step) AS steps FROM steps GROUP BY unit
        )
        SELECT steps, count(*) AS count, count(*) / sum(count(*)) OVER () AS share
        FROM whole GROUP BY steps ORDER BY count DESC, steps::VARCHAR LIMIT {int(top)}
        """
    ).df()
    frame["steps"] = frame["steps"].map(list)
    frame["count"] = frame["count"].astype("int64")
    frame.insert(0, "path", frame["steps"].map(" → ".join))
    return frame[["path", "steps", "count", "share"]]


def sankey_nodes(links: pd.DataFrame) -> tuple[list[str], list[int], list[int]]:
    """Node labels and source/target index lists in the form plotly's Sankey trace takes."""
    nodes = sorted(
        set(links["source_node"]) | set(links["target_node"]),
        key=lambda node: (int(node.split(".", 1)[0]), node),
    )
    index = {node: i for i, node in enumerate(nodes)}
    sources = [index[node] for node in links["source_node"]]
    targets = [index[node] for node in links["target_node"]]
    return nodes, sources, targets
