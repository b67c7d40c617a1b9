"""`python -m core …`: the command line, which calls the same functions as the dashboard."""

from core.cli import main

raise SystemExit(main())
