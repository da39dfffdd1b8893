"""The headless front door: `d2l-tui launch … --yes`, `ls`, `stop`, `ssh`, `tunnel`, … for scripts.

One module per command group; each adds its subparser with ``set_defaults(handler=...)`` (and, when
something can be refused before AWS is asked, ``check=...``). A handler is ``(args, ctx) -> int``,
``ctx`` the same AppContext the app uses (tui/context.py make_context). Never imports Textual.

Output: results on stdout (the instance id and the ssh command; the table or JSON), progress on
stderr, and any failure as one line on stderr, "d2l-tui: <what happened> <what to do>", exit status
1. Tracebacks, AWS request ids and error codes go to the log file only.
"""

from __future__ import annotations

import argparse
import logging
import sys

from tui.cli import autostop, bench, gpu, launch, lifecycle, listing, provision, ssh, tunnel
from tui.cli import open as open_command
from tui.cli.output import EXIT_CODES, PROG, UsageError, say
from tui.flows import launch_plan

log = logging.getLogger(__name__)


def _region_arg(text: str) -> str:
    problem = launch_plan.region_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def build_parser() -> argparse.ArgumentParser:
    # The global options are accepted before or after the command (`d2l-tui --region X ls` and
    # `d2l-tui ls --region X`); SUPPRESS keeps a subcommand from resetting one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--demo", action="store_true", default=argparse.SUPPRESS, help="use the embedded simulated cloud"
    )
    common.add_argument("--profile", default=argparse.SUPPRESS, help="AWS profile (default: the usual chain)")
    common.add_argument(
        "--region", type=_region_arg, default=argparse.SUPPRESS, help="AWS region (default: the profile's)"
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        description="Launch and use an AWS GPU instance for Dive into Deep Learning. "
        "Without a command: the interactive app.",
        epilog=EXIT_CODES,
    )
    # Only for the app (no command): start on the instances screen once the credentials check passes.
    parser.add_argument(
        "--instances", action="store_true", help="open the instances screen at start (Escape: the wizard)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # The order is --help's order.
    launch.add_parser(sub, common)
    listing.add_parsers(sub, common)
    open_command.add_parser(sub, common)
    provision.add_parser(sub, common)
    tunnel.add_parser(sub, common)
    gpu.add_parser(sub, common)
    bench.add_parser(sub, common)
    lifecycle.add_parsers(sub, common)
    autostop.add_parser(sub, common)
    ssh.add_parsers(sub, common)
    listing.add_cleanup_parser(sub, common)
    ssh.add_config_parser(sub, common)
    return parser


# Options whose values may start with "-" ("-5m"): argparse would read such a value as an option
# and answer "expected one argument"; joined to their option, the value's own check answers with its
# sentence instead.
_VALUE_OPTIONS = ("--autostop", "--max-hours")


def _join_dash_values(argv: list[str]) -> list[str]:
    joined: list[str] = []
    words = iter(argv)
    for word in words:
        if word in _VALUE_OPTIONS:
            value = next(words, None)
            if value is not None and value.startswith("-") and not value.startswith("--"):
                joined.append(f"{word}={value}")
                continue
            joined.extend([word] if value is None else [word, value])
            continue
        joined.append(word)
    return joined


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line as a Namespace with every global option present (demo, profile, region,
    command), wherever it was given."""
    args = build_parser().parse_args(_join_dash_values(sys.argv[1:] if argv is None else argv))
    # Not set_defaults: the parents share their Action objects, so a default set on the top parser
    # would also reset, in the subcommand, a value given before it.
    for name, default in (("demo", False), ("profile", None), ("region", None), ("command", None)):
        if not hasattr(args, name):
            setattr(args, name, default)
    return args


DEMO_IS_NEW_EACH_TIME = (
    f"{PROG}: --demo starts a new, empty simulated cloud for every command, gone when it ends; "
    f"in the app (`{PROG} --demo`) one lasts while it runs."
)


def run(args: argparse.Namespace) -> int:
    """Run a headless command; the exit status: 0 done, 1 failed, 2 refused, 4 incomplete (ls,
    cleanup: some regions did not answer), 130 interrupted."""
    from tui.context import AppContext, make_context
    from tui.logs import log_exception, setup_logging

    # Never raises: a read-only home or a full disk costs the log file (one line says so), not the command.
    setup_logging()
    log.info("%s %s", PROG, " ".join(sys.argv[1:]))
    ctx: AppContext | None = None
    try:
        check = getattr(args, "check", None)
        if check is not None:
            check(args)  # refused before anything is sent (or the simulated cloud started)
        local = getattr(args, "local", None)
        if local is not None and local(args):  # answered from this machine's files (bench --results)
            return int(args.handler(args, None))
        ctx = make_context(args.profile, args.region, args.demo)
        if args.demo:
            # Said first, not only on failure: `--demo launch` then `--demo ls` finds nothing otherwise.
            say(DEMO_IS_NEW_EACH_TIME)
        return int(args.handler(args, ctx))
    except UsageError as exc:
        say(f"{PROG}: {exc}")
        return 2
    except KeyboardInterrupt:
        log.warning("interrupted by the user")
        maybe = f" An instance may have started: check with `{PROG} ls`." if args.command == "launch" else ""
        say(f"{PROG}: Interrupted.{maybe}")
        return 130
    except Exception as exc:
        log_exception(log, exc, f"{PROG} {args.command} failed")
        from tui.services.cloud.aws import as_d2l_error

        err = as_d2l_error(exc, getattr(args, "profile", None))
        next_step = err.next_step
        from tui.logs import working_log_file

        log_now = working_log_file()  # the disk may have filled since: never point at an empty log
        see_log = f"Details are in {log_now}." if log_now else ""
        if not next_step or next_step == "See the log file for details.":
            next_step = see_log
        say(f"{PROG}: {err.what} {next_step}".rstrip())
        if getattr(args, "demo", False) and ctx is None:
            say(DEMO_IS_NEW_EACH_TIME)  # it failed before the simulated cloud started
        return 1
    finally:
        if ctx is not None:
            ctx.close()
