"""Plotly figures built from core results: plain functions, DataFrame in, figure out.

No Streamlit here, so the same figures can be tested without a server and reused by reports.
Every figure gets readable axis titles and a hover that names what a point is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.analysis.item_labels import unique_labels
from core.analysis.view_notes import format_probability, probability_tickformat
from dashboard.components.colors import segment_color

ACCENT = "#4F46E5"
POSITIVE = "#059669"  # attribution that raises the prediction
NEGATIVE = "#DC2626"  # attribution that lowers it
_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "template": "plotly_white"}


def volume_chart(volume: pd.DataFrame, unit: str = "day") -> go.Figure:
    """Stacked area of events per `unit` and event type (core.analysis.volume.event_volume).

    `unit` is the resolution core.analysis.time_resolution chose (or the analyst picked); it is
    named in the title and on the axis so a per-minute chart is never read as per-day.
    """
    fig = px.area(volume, x="period", y="events", color="event", title=f"Events per {unit}")
    fig.update_layout(
        **_LAYOUT, xaxis_title=None, yaxis_title=f"events per {unit}", legend_title="event"
    )
    return fig


def event_mix_chart(mix: pd.DataFrame) -> go.Figure:
    """Horizontal bars: events per type with their share (DataSummary.event_mix)."""
    frame = mix.sort_values("events")
    fig = px.bar(
        frame,
        x="events",
        y="event",
        orientation="h",
        title="Event mix",
        hover_data={"share": ":.1%", "users": True},
        color_discrete_sequence=[ACCENT],
    )
    fig.update_layout(**_LAYOUT, yaxis_title=None)
    return fig


def funnel_chart(funnel: pd.DataFrame) -> go.Figure:
    """Funnel of units reaching each step in order, with conversion from the first step (and
    each step's revenue on hover when the items have prices)."""
    revenue = funnel.get("revenue")
    fig = go.Figure(
        go.Funnel(
            y=[f"{row.step}. {row.event}" for row in funnel.itertuples()],
            x=funnel["count"],
            textinfo="value+percent initial+percent previous",
            marker={"color": ACCENT},
            customdata=None if revenue is None else revenue.to_numpy(),
            hovertemplate=None
            if revenue is None
            else "%{y}<br>%{x:,} reached<br>revenue %{customdata:,.2f}<extra></extra>",
        )
    )
    fig.update_layout(**_LAYOUT, title="Funnel")
    return fig


def sankey_chart(links: pd.DataFrame) -> go.Figure:
    """Top paths as a Sankey: step-indexed nodes ("2. cart"), link width = units taking it."""
    labels = sorted(set(links["source_node"]) | set(links["target_node"]), key=_step_order)
    index = {label: i for i, label in enumerate(labels)}
    fig = go.Figure(
        go.Sankey(
            node={"label": labels, "pad": 12, "color": ACCENT},
            link={
                "source": [index[s] for s in links["source_node"]],
                "target": [index[t] for t in links["target_node"]],
                "value": links["count"],
            },
        )
    )
    fig.update_layout(**_LAYOUT, title="Top paths")
    return fig


def _step_order(label: str) -> tuple[int, str]:
    head, _, rest = label.partition(". ")
    return (int(head), rest) if head.isdigit() else (0, label)


def retention_heatmap(matrix: pd.DataFrame, period: str = "week") -> go.Figure:
    """Cohort × periods-since heatmap of the share of the cohort still active."""
    fig = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(dtype=float),
            x=[str(c) for c in matrix.columns],
            y=[str(i) for i in matrix.index],
            colorscale="Blues",
            zmin=0,
            zmax=1,
            hovertemplate=f"cohort %{{y}}<br>{period}s since: %{{x}}<br>active: %{{z:.1%}}<extra></extra>",
        )
    )
    fig.update_layout(**_LAYOUT, title="Retention by cohort", xaxis_title=f"{period}s since first")
    fig.update_yaxes(autorange="reversed", title="cohort")
    return fig


def curves_chart(progress: pd.DataFrame, columns: Sequence[str], title: str) -> go.Figure:
    """Training curves: one line per metric column present, against the step."""
    present = [c for c in columns if c in progress and progress[c].notna().any()]
    long = progress.melt(id_vars=["step"], value_vars=present, var_name="metric").dropna()
    fig = px.line(long, x="step", y="value", color="metric", markers=True, title=title)
    fig.update_layout(**_LAYOUT, yaxis_title=None)
    return fig


def quality_chart(quality: pd.DataFrame, metric: str = "ndcg@10") -> go.Figure:
    """Bars of one metric for the model and its baselines (higher is better)."""
    colors = {m: ACCENT if m == "Transformer" else "#9CA3AF" for m in quality["model"]}
    fig = px.bar(
        quality,
        x="model",
        y=metric,
        color="model",
        color_discrete_map=colors,
        title=f"{metric.upper()} on held-out events (baselines in grey)",
    )
    fig.update_layout(**_LAYOUT, showlegend=False, xaxis_title=None)
    return fig


def attention_heatmap(
    weights: np.ndarray, labels: Sequence[str], hover: Sequence[str], title: str
) -> go.Figure:
    """(T, T) attention: row = the event attending, column = the event attended to."""
    axis = [f"{i}: {label}" for i, label in enumerate(labels)]
    text = [[f"{hover[r]}<br>→ {hover[c]}" for c in range(len(hover))] for r in range(len(hover))]
    fig = go.Figure(
        go.Heatmap(
            z=weights,
            x=axis,
            y=axis,
            text=text,
            colorscale="Purples",
            zmin=0,
            hovertemplate="%{text}<br>weight %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(**_LAYOUT, title=title, height=max(400, 22 * len(labels) + 120))
    fig.update_xaxes(title="attended event", tickangle=-45)
    fig.update_yaxes(title="attending event", autorange="reversed")
    return fig


def event_labels(events: Sequence[Any]) -> tuple[list[str], list[str]]:
    """Axis labels ("event · item label") and hover text (with the item id) for
    core.analysis.explain EventLabels."""
    labels = [f"{e.event} · {e.label or e.item}" for e in events]
    hover = [
        "<br>".join(
            part
            for part in (
                f"#{e.position} {e.event} · {e.label or e.item}",
                f"item id {e.item}" if e.label and e.label != e.item else "",
                f"category {e.category}" if e.category else "",
                (e.timestamp or "").replace("T", " ")[:19],
            )
            if part
        )
        for e in events
    ]
    return labels, hover


def importance_bars(
    values: np.ndarray, labels: Sequence[str], hover: Sequence[str], title: str
) -> go.Figure:
    """One bar per event of the timeline (e.g. rollout share of each event at the prediction)."""
    return _event_bars(values, labels, hover, title, ACCENT, "share", ".3f")


def attribution_bars(
    values: np.ndarray, labels: Sequence[str], hover: Sequence[str], title: str
) -> go.Figure:
    """Signed attribution per event: green raises the predicted item's score, red lowers it."""
    colors = [POSITIVE if v >= 0 else NEGATIVE for v in values]
    return _event_bars(values, labels, hover, title, colors, "attribution", "+.4f")


def _event_bars(
    values: np.ndarray,
    labels: Sequence[str],
    hover: Sequence[str],
    title: str,
    colors: str | list[str],
    measure: str,
    number_format: str,
) -> go.Figure:
    """Bars over a user's events, oldest first, with each event's details on hover."""
    axis = [f"{i}: {label}" for i, label in enumerate(labels)]
    bars = go.Bar(
        x=axis,
        y=values,
        marker_color=colors,
        customdata=list(hover),
        hovertemplate=f"%{{customdata}}<br>{measure} %{{y:{number_format}}}<extra></extra>",
    )
    fig = go.Figure(bars)
    fig.update_layout(
        **_LAYOUT, title=title, xaxis_title="event (oldest first)", yaxis_title=measure
    )
    return fig


def probability_bars(frame: pd.DataFrame, label: str, title: str) -> go.Figure:
    """Horizontal probability bars (column `prob`), most likely on top, each labelled with
    core's `format_probability` so probabilities under 1% still differ ("0.42%", not "0.0%")."""
    frame = frame.assign(**{label: frame[label].astype(str)})
    frame = frame.assign(prob_text=[format_probability(p) for p in frame["prob"]])
    fig = px.bar(
        frame.iloc[::-1],
        x="prob",
        y=label,
        orientation="h",
        title=title,
        text="prob_text",
        color_discrete_sequence=[ACCENT],
    )
    fig.update_traces(hovertemplate="%{y}: %{text}<extra></extra>")
    fig.update_layout(
        **_LAYOUT,
        yaxis_title=None,
        xaxis_title="probability",
        xaxis_tickformat=probability_tickformat(frame["prob"].max() if len(frame) else 1.0),
    )
    fig.update_yaxes(type="category")
    return fig


def item_probability_bars(items: pd.DataFrame, title: str) -> go.Figure:
    """Next-item bars: the item's label on the axis, its id on hover (NextActions.items)."""
    labels = items["label"] if "label" in items else items["item"]
    ids = items["item"].astype(str).tolist()
    frame = items.assign(shown=unique_labels(labels.astype(str).tolist(), ids), item=ids)
    fig = probability_bars(frame, "shown", title)
    fig.update_traces(
        customdata=frame.iloc[::-1][["item"]].to_numpy(),
        hovertemplate="%{y}<br>item id %{customdata[0]}<br>probability %{x:.2%}<extra></extra>",
    )
    return fig


def _map_groups(assignments: pd.DataFrame) -> list[tuple[int, str, pd.DataFrame]]:
    """One trace per segment, in segment order: trace i, point j = row j of group i."""
    ordered = assignments.sort_values("segment", kind="stable")
    return [
        (int(seg), f"{seg}: {group['segment_name'].iloc[0]}", group)
        for seg, group in ordered.groupby("segment", sort=True)
    ]


def segment_map(assignments: pd.DataFrame, max_points_svg: int = 5000) -> go.Figure:
    """2-D map of users coloured by segment; hover names the user and the segment."""
    trace = go.Scatter if len(assignments) <= max_points_svg else go.Scattergl
    fig = go.Figure()
    for seg, label, group in _map_groups(assignments):
        fig.add_trace(
            trace(
                x=group["x"],
                y=group["y"],
                mode="markers",
                name=label,
                marker={"size": 6, "opacity": 0.75, "color": segment_color(seg)},
                customdata=group[["user_id"]].astype(str).to_numpy(),
                hovertemplate=f"user %{{customdata[0]}}<br>{label}<extra></extra>",
            )
        )
    fig.update_layout(
        **_LAYOUT, height=520, dragmode="lasso", legend_title="segment", title="Users by segment"
    )
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None)
    return fig


def selected_rows(event: Any, assignments: pd.DataFrame) -> pd.DataFrame:
    """Rows of `assignments` picked by a lasso/box on `segment_map` (empty when none)."""
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    groups = _map_groups(assignments)
    picked = [
        groups[p["curve_number"]][2].index[p["point_index"]]
        for p in points
        if p.get("curve_number", -1) < len(groups) and "point_index" in p
    ]
    return assignments.loc[picked]


def profile_table(profiles: pd.DataFrame, segments: Sequence[int]) -> pd.DataFrame:
    """Segments side by side: one column per chosen segment, one row per profile measure."""
    chosen = profiles[profiles["segment"].isin(list(segments))]
    shown = chosen.drop(columns=[c for c in ("auto_name",) if c in chosen])
    if "revenue" in shown:  # money reads as 1,234.50, not 1.23e+03
        shown = shown.assign(revenue=shown["revenue"].map("{:,.2f}".format))
    table = shown.set_index("name").drop(columns=["segment"]).T
    table.index = [humanise(str(label)) for label in table.index]
    return table.map(lambda v: f"{v:.3g}" if isinstance(v, float) else str(v))


def intent_table(intents: pd.DataFrame) -> pd.DataFrame:
    """Session intents, one row each: name, sessions, share, users, shape, conversion, tops."""
    columns = ["name", "sessions", "share", "users", "events_per_session", "conversion"]
    columns += [c for c in ("top_categories", "top_items") if c in intents]
    table = intents[columns].copy()
    for column in ("share", "conversion"):
        table[column] = table[column].map("{:.1%}".format)
    table["events_per_session"] = table["events_per_session"].map("{:.1f}".format)
    return table.rename(
        columns={
            "name": "Intent",
            "sessions": "Sessions",
            "share": "Share of sessions",
            "users": "Users",
            "events_per_session": "Events per session",
            "conversion": "Sessions with a purchase",
            "top_categories": "Top categories",
            "top_items": "Top items",
        }
    )


PROFILE_LABELS = {  # profile measures whose plain-English name is not just the snake_case one
    "size": "Users",
    "share": "Share of users",
    "conversion": "Conversion (sessions with a purchase)",
    "cart_rate": "Sessions with add-to-cart",
    "events_per_session": "Events per session",
    "session_minutes": "Session length (min)",
    "median_gap_s": "Median gap between events (s)",
    "repeat_items": "Events on items seen in an earlier session",
    "revisits": "Events on items seen earlier in the session",
    "buyers": "Users who bought",
    "top_categories": "Top categories",
    "top_items": "Top items",
    "top_item_ids": "Top item ids",
    "revenue": "Revenue (purchases)",
    "category_share": "Share of events in the top category",
    "category_lift": "Top category lift vs all users",
}


def humanise(label: str) -> str:
    """A readable row/column label: "mix:add_to_cart" -> "Share of add to cart events"."""
    if label in PROFILE_LABELS:
        return PROFILE_LABELS[label]
    if label.startswith("mix:"):
        return f"Share of {label.removeprefix('mix:').replace('_', ' ')} events"
    text = label.replace("_", " ")
    return text[:1].upper() + text[1:]


def segment_mix_chart(profiles: pd.DataFrame, segments: Sequence[int]) -> go.Figure:
    """Event mix (share of each event type) of the chosen segments, grouped bars."""
    chosen = profiles[profiles["segment"].isin(list(segments))]
    chosen = chosen.assign(
        label=[f"{s}: {n}" for s, n in zip(chosen["segment"], chosen["name"], strict=True)]
    )
    mix = [c for c in chosen.columns if c.startswith("mix:")]
    long = chosen.melt(id_vars=["label"], value_vars=mix, var_name="event", value_name="of events")
    long["event"] = long["event"].str.removeprefix("mix:")
    colors = {
        f"{s}: {n}": segment_color(s)
        for s, n in zip(chosen["segment"], chosen["name"], strict=True)
    }
    fig = px.bar(
        long,
        x="event",
        y="of events",
        color="label",
        color_discrete_map=colors,
        barmode="group",
        title="Event mix",
    )
    fig.update_layout(**_LAYOUT, yaxis_tickformat=".0%", legend_title="segment", xaxis_title=None)
    return fig


def score_histogram(scores: pd.DataFrame, flagged_at: float | None, bins: int = 60) -> go.Figure:
    """Distribution of anomaly scores with a line where users start to count as flagged (none
    when no user is). Binned here, so 200k users send 60 bars to the browser, not 200k values."""
    values = scores["score"].to_numpy(dtype=float)
    values = values[np.isfinite(values)]  # (n,)
    counts, edges = np.histogram(values, bins=bins) if len(values) else ([], np.zeros(1))
    fig = go.Figure(
        go.Bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=counts,
            width=np.diff(edges),
            marker_color=ACCENT,
            customdata=np.stack([edges[:-1], edges[1:]], axis=1) if len(values) else None,
            hovertemplate="score %{customdata[0]:.1f}–%{customdata[1]:.1f}<br>%{y:,} users"
            "<extra></extra>",
        )
    )
    if flagged_at is not None:
        fig.add_vline(
            x=flagged_at, line_dash="dash", line_color=NEGATIVE, annotation_text="flagged"
        )
    fig.update_layout(
        **_LAYOUT,
        title="Anomaly score distribution",
        xaxis_title="score",
        yaxis_title="users",
        bargap=0.05,
    )
    return fig
