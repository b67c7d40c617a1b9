"""Reports an analyst can e-mail: one self-contained HTML file (inline CSS and SVG charts, no
script, no network) or CSV tables safe to open in a spreadsheet.

Entry points: `core.reports.build.build_report` (HTML string), `core.reports.export.write_report`
(what `python -m core report` runs), `core.reports.csv_safe.write_csv_safe`.
"""
