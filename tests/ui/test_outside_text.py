"""Text from outside the app is shown as it is, never read as markup.

An instance named "[/]" (the CLI takes any printable name) made every start crash with a
MarkupError from the remembered list; "[bold]x" showed as a bold "x". Each screen that shows such
a name is driven with keys here, on moto, and must show the name literally: the instances list
(remembered, then live), the leftovers table, the instance's own view, the stop / terminate /
image / delete confirmations, an AWS error sentence with brackets, and the launch view.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from moto import mock_aws
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from tests.support.instances import make_instance
from tests.support.screen_app import demo_cloud
from tests.support.wizard_choices import app_on
from tests.test_lifecycle import run
from tests.ui.conftest import screen_lines
from tests.ui.driving import build_context, wait_for_screen, wait_until
from tests.ui.test_instances_remembered import HeldListing, on_every_call, priced, scope
from tests.ui.test_provision import SIZE, ProvisionApp, finished
from tests.ui.test_wizard_inputs import drive_to
from tui.app import make_app
from tui.demo.cloud import add_realistic_image_sizes
from tui.models import TAG_MANAGED, TAG_NAME, Recipe, RecipeStep
from tui.screens.instances import InstancesScreen
from tui.screens.provision import SetupPane
from tui.services import instance_memory
from tui.services.cloud.aws import Aws
from tui.services.remote.hostkeys import KnownHosts
from tui.services.remote.instance_link import InstanceLink
from tui.widgets.log_view import LogView

NAMES = ["[/]", "[bold]x", "[link=http://x]y[/link]", "[red", "\\[x]"]
# An AWS message with brackets, as a refusal could quote a name or a policy.
REFUSAL = "You are not authorized for [/] [bold]i-0[/bold] [link=http://x]this[/link]."


def statics(app: App[Any]) -> str:
    """The text of every Static on the screen on top, unwrapped (a modal wraps a long line)."""
    return "\n".join(str(widget.render()) for widget in app.screen.query(Static))


def visible(app: App[Any]) -> str:
    """Every character on the screen (toasts included), as the terminal would show them."""
    return "\n".join(screen_lines(app.export_screenshot()))


def leftover_ids(screen: InstancesScreen) -> set[str]:
    return {x.resource_id for x in screen.leftovers.values()}


def refuse(aws: Aws, operation: str, message: str) -> None:
    """Every `operation` answered with AWS's error shape and `message` (moto still holds the rest)."""

    def hook(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        meta = {"RequestId": "req-refused", "HTTPStatusCode": 403, "HTTPHeaders": {}}
        return AWSResponse("https://ec2.us-east-1.amazonaws.com/", 403, HTTPHeaders(), None), {
            "Error": {"Code": "OperationNotPermitted", "Message": message},
            "ResponseMetadata": meta,
        }

    on_every_call(aws, f"before-call.ec2.{operation}", hook)


def choose(table: DataTable[str], key: str) -> None:
    """Put the table's cursor on the row ``key``, as the arrow keys would."""
    table.move_cursor(row=table.get_row_index(key), scroll=True)


async def back_to_list(pilot: Pilot[Any], key: str) -> None:
    await pilot.press(key)
    await wait_for_screen(pilot, "InstancesScreen")


async def test_names_with_brackets_are_shown_as_they_are_on_every_screen(aws: Aws, tmp_path: Path) -> None:
    """One app, one instance and one leftover volume per name: each name on each screen."""
    ec2 = aws.client("ec2", "us-east-1")
    instances = {name: run(aws, "us-east-1", name, itype="g4dn.xlarge") for name in NAMES}
    volumes = {}
    for name in NAMES:
        tags = [{"Key": TAG_MANAGED, "Value": "true"}, {"Key": TAG_NAME, "Value": name}]
        volumes[name] = ec2.create_volume(
            AvailabilityZone="us-east-1a",
            Size=8,
            TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
        )["VolumeId"]
    ctx = build_context(aws, tmp_path)
    saved_at = datetime.now(timezone.utc) - timedelta(minutes=4)
    remembered = [priced(aws, "us-east-1", iid) for iid in instances.values()]
    instance_memory.remember(ctx.cache_dir, scope(aws), remembered, saved_at)
    held = HeldListing(aws)  # last time's list stays on screen until released
    app = make_app(ctx, instances=True)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for_screen(pilot, "InstancesScreen")
        screen = pilot.app.screen
        assert isinstance(screen, InstancesScreen)
        await wait_until(pilot, lambda: screen.remembered)
        await pilot.pause(0.1)
        shown = visible(app)
        for name in NAMES:
            assert name in shown, name  # the remembered list: painted, no crash

        held.release.set()
        await wait_until(pilot, lambda: screen.loaded and set(volumes.values()) <= leftover_ids(screen), 30)
        await pilot.pause(0.1)
        shown = visible(app)
        for name in NAMES:
            assert shown.count(name) >= 2, (name, shown)  # its row, and its volume's in the leftovers

        table = screen.query_one("#instances-table", DataTable)
        leftovers = screen.query_one("#leftovers-table", DataTable)
        for name in NAMES:
            choose(table, instances[name])
            await pilot.pause()
            await pilot.press("enter")
            await wait_for_screen(pilot, "CockpitScreen")
            await pilot.pause(0.1)
            shown = visible(app)
            assert name in shown and "● running" in shown, name  # the cockpit's header
            await back_to_list(pilot, "escape")

            await pilot.press("s")
            await wait_for_screen(pilot, "ConfirmationModal")
            shown = statics(app)
            assert f"Stop {name}?" in shown and f"{name} stops being billed" in shown, name
            await back_to_list(pilot, "n")

            await pilot.press("x")
            await wait_for_screen(pilot, "TypeNameModal")
            await pilot.press("z", "enter")  # not the name: refused, quoting it
            await pilot.pause(0.1)
            shown = statics(app)
            assert f"Terminate {name}?" in shown and f"Type {name} and press Enter" in shown, name
            assert f"type {name} exactly" in shown, name
            await back_to_list(pilot, "escape")

            await pilot.press("i")
            await wait_for_screen(pilot, "ImageNameModal")
            await pilot.pause(0.1)
            assert f"Create an image of {name}" in statics(app), name
            await back_to_list(pilot, "escape")

            key = next(k for k, x in screen.leftovers.items() if x.resource_id == volumes[name])
            choose(leftovers, key)
            await pilot.pause()
            await pilot.press("D")  # the leftovers table's highlighted row: this name's volume
            await wait_for_screen(pilot, "ConfirmationModal")
            await pilot.pause(0.1)
            assert f"{name} ({volumes[name]}, us-east-1)" in statics(app), name
            await back_to_list(pilot, "n")

        # AWS refuses the stop with brackets in its message: the sentence and the toast show it as is.
        refuse(aws, "StopInstances", REFUSAL)
        await pilot.press("s")
        await wait_for_screen(pilot, "ConfirmationModal")
        await pilot.press("y")
        await wait_until(pilot, lambda: any(REFUSAL in n.message for n in app._notifications), 15)
        await pilot.pause(0.2)
        status = str(screen.query_one("#instances-status").render())
        assert REFUSAL in status
        assert "[bold]i-0[/bold]" in visible(app)


async def test_an_aws_refusal_with_brackets_on_the_launch_view(tmp_path: Path) -> None:
    def hook(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        meta = {"RequestId": "req-launch", "HTTPStatusCode": 400, "HTTPHeaders": {}}
        return AWSResponse("https://ec2.us-east-1.amazonaws.com/", 400, HTTPHeaders(), None), {
            "Error": {"Code": "InvalidParameterValue", "Message": REFUSAL},
            "ResponseMetadata": meta,
        }

    def customize(session: Any) -> None:
        add_realistic_image_sizes(session)
        session.events.register("before-call.ec2.RunInstances", hook)

    with mock_aws():
        aws = Aws(region="us-east-1", customize=customize)
        app = app_on(build_context(aws, tmp_path), "ReviewStep")
        async with app.run_test(size=(200, 50)) as pilot:
            await drive_to(pilot, "ReviewStep")
            await wait_until(pilot, lambda: app.screen.query_one("#cidr").value != "")  # type: ignore[attr-defined]
            await pilot.press("ctrl+n")
            await wait_for_screen(pilot, "LaunchScreen")
            await wait_until(pilot, lambda: app.screen.failed)  # type: ignore[attr-defined]
            await pilot.pause(0.1)
            error = str(app.screen.query_one("#step-error").render())
            assert "[/] [bold]i-0[/bold] [link=http://x]this[/link]" in error
            assert "[bold]i-0[/bold]" in visible(app)


async def test_provisioning_shows_names_titles_and_log_lines_as_they_are(
    tmp_path: Path, client_key: tuple[Path, str]
) -> None:
    every = " ".join(NAMES)
    recipe = Recipe(
        steps=(
            RecipeStep("hello", f"Say {every}", "echo '[bold]x [/] a log line'"),
            RecipeStep("broken", "Fail [/]", "exit 3", hint="Look at [link=http://x]y[/link] then retry."),
        ),
        env=(("D2L_RETRY_PAUSE", "0"),),
    )
    with demo_cloud(tmp_path) as (aws, hosts):
        instance = make_instance(aws, name=every)
        known = KnownHosts(tmp_path / "known_hosts")
        link = InstanceLink(
            aws, instance, client_key[0], known, endpoint_for=hosts.endpoint, console_timeout_s=5
        )
        screen = SetupPane(link, recipe=recipe, mode="fresh")
        app = ProvisionApp(screen)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: finished(pilot), 30)
            await pilot.pause(0.1)
            shown = statics(app)
            assert f"Setting up {every}" in shown
            assert (
                "Step 'Fail [/]' failed (exit code 3). Look at [link=http://x]y[/link] then retry." in shown
            )
            table = screen.query_one("#provision-steps")
            titles = [str(table.get_row(key)[1]) for key in table.rows]  # type: ignore[attr-defined]
            assert titles == [f"Say {every}", "Fail [/]"]
            assert f"Say {every}"[:30] in visible(app)  # the title column is 40 wide
            assert "[bold]x [/] a log line" in screen.query_one("#provision-log", LogView).lines
        await hosts.stop()


async def test_the_wizard_shows_an_ami_and_a_key_pair_with_brackets_as_they_are(tmp_path: Path) -> None:
    image_name = "[/] [bold]x (d2l)"
    key_name = "[bold]k[/]"
    with mock_aws():
        aws = Aws(region="us-east-1", customize=add_realistic_image_sizes)
        ec2 = aws.client("ec2", "us-east-1")
        iid = run(aws, "us-east-1", "source", itype="g4dn.xlarge")
        tags = [{"Key": TAG_MANAGED, "Value": "true"}, {"Key": TAG_NAME, "Value": image_name}]
        ec2.create_image(
            InstanceId=iid, Name=image_name, TagSpecifications=[{"ResourceType": "image", "Tags": tags}]
        )
        ec2.create_key_pair(KeyName=key_name)
        app = app_on(build_context(aws, tmp_path), "ImageStep")
        async with app.run_test(size=(200, 50)) as pilot:
            await drive_to(pilot, "ImageStep")
            step = app.screen
            index = next(n for n, i in enumerate(step.images) if i.name == image_name)  # type: ignore[attr-defined]
            step.query_one("#images").highlighted = index  # type: ignore[attr-defined]
            await pilot.pause(0.1)
            assert image_name in visible(app)
            await pilot.press("ctrl+n")
            await drive_to(pilot, "KeyPairStep")
            await pilot.pause(0.1)
            assert key_name in visible(app)
            await pilot.press("ctrl+n")  # a new key pair (the default): on to the review
            await drive_to(pilot, "ReviewStep")
            await pilot.pause(0.1)
            assert f"{image_name} (ami-" in visible(app)  # the review table (a Rich table)
