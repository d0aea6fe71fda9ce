"""``python -m localsoc``: the local runtime CLI (see localsoc/cli.py)."""

from localsoc.cli import main

raise SystemExit(main())
