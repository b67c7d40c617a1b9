"""Read only what a view shows from a run's large result tables (one row per user or session).

On a 10M-event log the per-user tables hold 200k rows and anomaly_sessions.parquet 1.4M, with
free-text columns (`reason`, names). A page shows the top 200 rows, a histogram and a map of a
few thousand points, so reading a whole table (and keeping it in the server's cache) costs
seconds and hundreds of MB for nothing. These helpers read the Parquet footer for counts, only
the named columns, and only the rows wanted; they never write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from core.analysis.anomaly_flags import RATE_COLUMN, false_alarm_rates


def row_count(path: Path) -> int:
    """Rows of a Parquet file, from its footer (nothing else is read)."""
    return pq.ParquetFile(path).metadata.num_rows


def read_columns(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """The `columns` the file has, in the asked order (older files may lack some)."""
    stored = set(pq.ParquetFile(path).schema_arrow.names)
    return pd.read_parquet(path, columns=[c for c in columns if c in stored])


def top_rows(path: Path, by: str, n: int, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The `n` rows with the largest `by`, largest first (ties in file order, NaN last), with
    only `columns` (those the file has; None: all) read, and only `by` for the other rows."""
    values = pd.read_parquet(path, columns=[by])[by].to_numpy(dtype=np.float64)  # (rows,)
    return _take(path, _descending(values)[:n], columns)


def _take(path: Path, rows: np.ndarray, columns: Sequence[str] | None) -> pd.DataFrame:
    """`rows` (positions) of the file with the `columns` it has (None: all), in that order."""
    stored = pq.ParquetFile(path).schema_arrow.names
    table = pq.read_table(path, columns=[c for c in columns or stored if c in set(stored)])
    return table.take(rows).to_pandas()


def _descending(values: np.ndarray) -> np.ndarray:
    """Indices sorting `values` largest first, stable, NaN last (as pandas sorts)."""
    keys = np.where(np.isnan(values), np.inf, -values)
    return np.argsort(keys, kind="stable")


@dataclass(frozen=True)
class AnomalyTable:
    """What the Anomalies page shows of anomalies.parquet: every user's score and false-alarm
    rate (for the counts and the histogram) and the top rows with their reasons."""

    scores: pd.DataFrame  # every user: score, false_alarm_rate
    top: pd.DataFrame  # the `n` highest scores, highest first, with the shown columns


def anomaly_table(path: Path, n: int, columns: Sequence[str]) -> AnomalyTable:
    """Scores of every user and the `n` most anomalous rows of anomalies.parquet.

    Files written before the rates were stored get them computed over every user's score (a
    rate is a rank against all users, so computing it on the top rows alone would be wrong).
    """
    scores = read_columns(path, ["score", RATE_COLUMN])
    if RATE_COLUMN not in scores:
        scores[RATE_COLUMN] = false_alarm_rates(scores["score"].to_numpy())
    order = _descending(scores["score"].to_numpy(dtype=np.float64))[:n]
    top = _take(path, order, columns)
    if RATE_COLUMN in columns and RATE_COLUMN not in top:
        top[RATE_COLUMN] = scores[RATE_COLUMN].to_numpy()[order]
    return AnomalyTable(scores=scores, top=top)


@dataclass(frozen=True)
class MapPoints:
    """The users a 2-D map draws, and how they relate to all users."""

    points: pd.DataFrame  # at most the asked number of rows with a position, in file order
    users: int  # rows of the file: every user
    placed: int  # users with a position (the segment step may place only a sample)


def map_points(path: Path, limit: int, columns: Sequence[str], seed: int = 0) -> MapPoints:
    """A seeded random sample of at most `limit` users that have a position (finite x, y).

    The same file, `limit` and `seed` give the same rows, so a selection made on the map maps
    back to the same users on the next rerun."""
    table = pq.read_table(path, columns=list(dict.fromkeys([*columns, "x", "y"])))
    xy = np.column_stack([table["x"].to_numpy(), table["y"].to_numpy()])  # (users, 2)
    placed = np.flatnonzero(np.isfinite(xy).all(axis=1))  # (placed,)
    chosen = placed
    if len(placed) > limit:
        chosen = np.sort(np.random.default_rng(seed).choice(placed, limit, replace=False))
    points = table.select(list(columns)).take(chosen).to_pandas()
    return MapPoints(points=points, users=table.num_rows, placed=len(placed))


SAMPLE_NOTE_FILES = (  # where each sample-based step records its `sample_note` (run folder)
    "segments.json",
    "anomaly_model.json",
    "session_intents.json",
)


def sample_notes(run_dir: Path) -> dict[str, str]:
    """{file: note} of the run's results computed on a user sample (empty when none was):
    a page showing those results says so, so a sample is never read as the whole log."""
    import json

    notes = {}
    for name in SAMPLE_NOTE_FILES:
        path = run_dir / name
        if not path.is_file():
            continue
        try:
            note = json.loads(path.read_text(encoding="utf-8")).get("sample_note")
        except (OSError, ValueError, AttributeError):
            continue
        if note:
            notes[name] = str(note)
    return notes
