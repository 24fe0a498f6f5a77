"""`python -m tui_chat` runs the same entry point as the `tui-chat` command."""

from __future__ import annotations

from tui_chat.cli import main

raise SystemExit(main())
