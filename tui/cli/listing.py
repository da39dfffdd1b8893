"""`d2l-tui ls` (the app's instances, and with --leftovers what they left behind) and `d2l-tui cleanup`
(delete those leftovers): what is listed across regions, and what a region that did not answer means."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from tui.cli.output import EXIT_CODES, INCOMPLETE, PROG, UsageError, say, table, waiting_notice
from tui.models import Instance, InstanceListing

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.services.cloud.leftovers import Leftover

_AGAIN = f"Run `{PROG} ls` again, or pass --region for the others."


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    ls = sub.add_parser(
        "ls",
        parents=[common],
        help="list the app's instances in every enabled region",
        description="List the instances d2l-tui manages (in --region only, when given).",
        epilog=EXIT_CODES,
    )
    ls.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    ls.add_argument(
        "--leftovers",
        action="store_true",
        help="also list unused resources and saved images, with $/month (table only)",
    )
    ls.set_defaults(handler=run_ls)


def add_cleanup_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    cleanup = sub.add_parser(
        "cleanup",
        parents=[common],
        help="delete the app's leftovers: unused security groups, key pairs, volumes, snapshots (needs --yes)",
        description="Delete what d2l-tui made that nothing uses any more. Saved images are kept (delete them "
        "in the app, key D). Key pairs are deleted in AWS only: the private key files stay. Without --yes: "
        "lists what would be deleted.",
    )
    cleanup.add_argument("--yes", action="store_true", help="go ahead and delete them")
    cleanup.set_defaults(handler=run_cleanup)


def _as_json(instance: Instance) -> dict[str, Any]:
    return {
        "id": instance.instance_id,
        "name": instance.name,
        "region": instance.region,
        "type": instance.instance_type,
        "state": instance.state,
        "public_dns": instance.public_dns,
        "public_ip": instance.public_ip,
        "key_name": instance.key_name,
        "image_id": instance.image_id,
        "availability_zone": instance.availability_zone,
        "spot": instance.spot,
        "launch_time": instance.launch_time.isoformat() if instance.launch_time else None,
    }


def _listing_json(listing: InstanceListing) -> dict[str, Any]:
    """complete is false while failed_regions names regions that did not answer: their instances
    are not in the list, and may be running."""
    return {
        "complete": listing.complete,
        "instances": [_as_json(i) for i in listing.instances],
        "failed_regions": [{"region": f.region, "reason": f.reason} for f in listing.failed],
    }


def _instances_table(instances: list[Instance]) -> str:
    header = ("NAME", "REGION", "TYPE", "STATE", "PUBLIC DNS", "ID")
    return table(
        [header]
        + [
            (i.name or "-", i.region, i.instance_type, i.state, i.public_dns or "-", i.instance_id)
            for i in instances
        ]
    )


def leftovers_table(items: list[Leftover]) -> str:
    """The leftovers as `ls` prints its instances: aligned columns, a header, the monthly total."""
    from tui.services.cloud.costs import money
    from tui.services.cloud.leftovers import LABELS, monthly

    header = ("KIND", "NAME", "REGION", "ID", "$/MONTH", "DETAIL")
    rows = [header] + [
        (LABELS[x.kind], x.name or "-", x.region, x.resource_id, money(x.usd_per_month), x.detail)
        for x in items
    ]
    return "\n".join([table(rows), f"Total: {money(monthly(items), '/month')}"])


def run_ls(args: argparse.Namespace, ctx: AppContext) -> int:
    from tui.models import unanswered_words
    from tui.services.cloud.lifecycle import list_managed

    aws = ctx.aws
    where = args.region or "every enabled region"
    with waiting_notice(f"asking {where} for the instances it launched"):
        listing = list_managed(aws, [args.region] if args.region else None)
    if args.json:
        print(json.dumps(_listing_json(listing), indent=2))
    elif listing.instances:
        print(_instances_table(listing.instances))
    elif listing.complete:
        print(f"No instances launched by {PROG} in {args.region or 'any enabled region'}.")
    else:
        print(f"No instances launched by {PROG} in the regions that answered.")
    complete = listing.complete
    if not listing.complete:
        say(f"{PROG}: {unanswered_words(listing.failed)}: the list may be incomplete. {_AGAIN}")
    if args.leftovers and not args.json:
        from tui.services.cloud.leftovers import find_leftovers

        with waiting_notice(f"looking for leftovers in {where}"):
            # EBS prices as the app reads them (Pricing API, cached beside the app's GPU prices);
            # --demo: the list prices, the simulated cloud has no Pricing API.
            found = find_leftovers(aws, [args.region] if args.region else None, ctx.pricebook.ebs)
        none = "none" if found.complete else "none in the regions that answered"
        print("\nLeftovers and saved images:\n" + (leftovers_table(found.items) if found.items else none))
        if not found.complete:
            say(f"{PROG}: leftovers: {unanswered_words(found.failed)}: the list may be incomplete. {_AGAIN}")
        complete = complete and found.complete
    return 0 if complete else INCOMPLETE


def run_cleanup(args: argparse.Namespace, ctx: AppContext) -> int:
    from tui.models import unanswered_words
    from tui.services.cloud.costs import money
    from tui.services.cloud.leftovers import bulk, clean_up, find_leftovers, monthly

    aws = ctx.aws
    listing = find_leftovers(aws, [args.region] if args.region else None, ctx.pricebook.ebs)
    # A region that did not answer may hold leftovers too: say so, whatever else happens.
    gaps = (
        ""
        if listing.complete
        else f"{PROG}: {unanswered_words(listing.failed)}: its leftovers are not listed. "
        f"Run `{PROG} cleanup` again later, or pass --region."
    )
    found = listing.items
    doomed = bulk(found)
    kept = len(found) - len(doomed)
    if kept:
        say(f"{kept} saved image(s) kept; delete them in the app (instances screen, key D).")
    if not doomed:
        print(
            "Nothing to clean up" + ("." if listing.complete else " in the regions that answered."),
            flush=True,
        )
        if gaps:
            say(gaps)
            return INCOMPLETE
        return 0
    print(leftovers_table(doomed), flush=True)
    if gaps:
        say(gaps)
    if not args.yes:
        raise UsageError(f"cleanup deletes the {len(doomed)} resource(s) above. Add --yes to go ahead.")
    results = clean_up(aws, doomed, progress=say)
    failed = [r for r in results if r.error is not None]
    saved = monthly(r.leftover for r in results if r.error is None)
    say(f"Deleted {len(results) - len(failed)} of {len(results)}, saving {money(saved, '/month')}.")
    if failed:
        from tui.services.errors import D2lError

        raise D2lError(f"{len(failed)} could not be deleted: {failed[0].error}", "")
    return 0 if listing.complete else INCOMPLETE
