"""`d2l-tui` and `python -m tui`: the interactive app, or a headless command (tui/cli/).

The headless path never imports Textual (the app is imported only when there is no command, or for
`open NAME` once the CLI has found NAME), so scripts start fast and work where Textual can't draw.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the app or the command; returns the exit status."""
    from tui.start_gc import fewer_collections, freeze_once

    fewer_collections()
    from tui import cli

    args = cli.parse_args(argv)
    if args.command is None:
        from tui.app import run_app

        freeze_once("imports")  # Textual's and the app's modules: never garbage
        return run_app(args)
    if args.command == "open":
        # `open NAME`: the CLI finds the instance (or says in one line why not); the app opens on it.
        status = cli.run(args)
        if status != 0:
            return status
        from tui.app import run_app

        freeze_once("imports")
        return run_app(args)
    from tui.leaving import leave

    return leave(cli.run(args))


if __name__ == "__main__":
    sys.exit(main())
