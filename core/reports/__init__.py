"""Reports an analyst can e-mail: one self-contained HTML file (inline CSS and SVG charts, no
script, no network), the same report as PDF, or CSV tables safe to open in a spreadsheet.

Entry points: `core.reports.build.build_report` (HTML string), `core.reports.export.write_report`
(what `python -m core report` runs), `core.reports.export.tables_zip` (the dashboard's CSV zip),
`core.reports.csv_safe.write_csv_safe`, `core.reports.pdf.html_to_pdf` (the HTML printed by
headless Chromium). Each report is described by one `core.reports.request.ReportRequest`.
"""

FORMATS = ("html", "pdf", "csv")  # what `write_report` writes; here so the CLI needs no pandas
