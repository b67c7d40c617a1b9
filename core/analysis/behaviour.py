"""Classic behaviour analytics in one import: what the dashboard and the report chart for context.

Each function queries events.parquet in place with DuckDB and returns pandas DataFrames; the
implementations live in one small module per analytic.
"""

from core.analysis.funnels import FUNNEL_COLUMNS, funnel
from core.analysis.paths import PathsConfig, PathsResult, sankey_nodes, top_paths
from core.analysis.retention import RETENTION_COLUMNS, retention, retention_matrix
from core.analysis.summary import DataSummary, data_summary
from core.analysis.volume import VOLUME_COLUMNS, event_volume

__all__ = [
    "FUNNEL_COLUMNS",
    "RETENTION_COLUMNS",
    "VOLUME_COLUMNS",
    "DataSummary",
    "PathsConfig",
    "PathsResult",
    "data_summary",
    "event_volume",
    "funnel",
    "retention",
    "retention_matrix",
    "sankey_nodes",
    "top_paths",
]
