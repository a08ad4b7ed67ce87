"""`python -m irgrad ...`: the `irgrad` command (see irgrad/frontend/cli.py)."""

from irgrad.frontend.cli import main

raise SystemExit(main())
