"""Plotly figures built from core results: plain functions, DataFrame in, figure out.

No Streamlit here, so the same figures can be tested without a server and reused by reports.
Every figure gets readable axis titles and a hover that names what a point is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

ACCENT = "#4F46E5"
_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "template": "plotly_white"}


def volume_chart(volume: pd.DataFrame, title: str = "Events over time") -> go.Figure:
    """Stacked area of events per period and event type (core.analysis.volume.event_volume)."""
    fig = px.area(volume, x="period", y="events", color="event", title=title)
    fig.update_layout(**_LAYOUT, xaxis_title=None, yaxis_title="events", legend_title="event")
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
    """Funnel of units reaching each step in order, with conversion from the first step."""
    fig = go.Figure(
        go.Funnel(
            y=[f"{row.step}. {row.event}" for row in funnel.itertuples()],
            x=funnel["count"],
            textinfo="value+percent initial+percent previous",
            marker={"color": ACCENT},
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
    fig = px.bar(
        quality, x="model", y=metric, color="model", title=f"{metric.upper()} on held-out events"
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


def importance_bars(values: np.ndarray, labels: Sequence[str], title: str) -> go.Figure:
    """One bar per event of the timeline (e.g. rollout attention to each event from the last)."""
    axis = [f"{i}: {label}" for i, label in enumerate(labels)]
    fig = px.bar(x=axis, y=values, title=title, color_discrete_sequence=[ACCENT])
    fig.update_layout(**_LAYOUT, xaxis_title="event", yaxis_title="weight")
    return fig


def probability_bars(frame: pd.DataFrame, label: str, title: str) -> go.Figure:
    """Horizontal probability bars, most likely on top."""
    fig = px.bar(
        frame.iloc[::-1],
        x="probability",
        y=label,
        orientation="h",
        title=title,
        color_discrete_sequence=[ACCENT],
    )
    fig.update_layout(**_LAYOUT, yaxis_title=None, xaxis_tickformat=".0%")
    return fig
