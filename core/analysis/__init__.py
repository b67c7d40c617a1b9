"""Analysis of a dataset and a trained model: behaviour analytics (DuckDB), and the model-based
views (next actions, segments, anomalies, explanations).

Import the submodule you need (`core.analysis.behaviour` for funnels, paths, retention, volume
and the data summary); this package imports nothing itself, so loading one analysis does not
pay for the others' dependencies.
"""
