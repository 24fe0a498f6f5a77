"""Entry point of the app process that `tui-chat web` starts for each browser tab.

It arranges to end when the server ends, however the server ends (even SIGKILL), then runs the
ordinary app. Run as `python -m tui_chat.web.child [app flags]`.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    from tui_chat.orphan_guard import exit_with_parent

    server = os.environ.get("TUI_CHAT_WEB_SERVER_PID", "")
    if server.isdigit():
        exit_with_parent(int(server))
    from tui_chat.cli import main as app_main

    return app_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
