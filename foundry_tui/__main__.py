"""`python -m foundry_tui` runs the same entry point as the `foundry-tui` console script."""

from foundry_tui.cli import main

raise SystemExit(main())
