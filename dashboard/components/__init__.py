"""Reusable dashboard pieces: `charts` (plotly figures from core results), `widgets` (pickers,
friendly errors, headline cards). Plain functions; every widget takes a `key` prefix."""
