"""The instances the app manages, in every enabled region.

AWS is the source of truth: the app keeps no list of its own and finds its instances by the
``d2l-tui:managed`` tag every launch puts on them. Regions are asked concurrently (one client per
region, shared by the pool's threads, which botocore clients allow).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from tui.aws_response import error_code
from tui.logs import log_exception
from tui.models import TAG_MANAGED, TAG_NAME, Instance, InstanceListing, unanswered_words
from tui.services.cloud import alarms
from tui.services.cloud.aws import Aws, as_d2l_error
from tui.services.cloud.fanout import fanout
from tui.services.cloud.launch import instance_from_api
from tui.services.cloud.unanswered import region_failure
from tui.services.errors import CapacityError, D2lError, InputError, from_client_error
from tui.services.polling import cancellable_sleep

log = logging.getLogger(__name__)

MAX_WORKERS = 16


def _managed_in_region(aws: Aws, region: str) -> list[Instance]:
    import botocore.exceptions as bex

    ec2 = aws.client("ec2", region)
    filters: list[dict[str, Any]] = [
        {"Name": f"tag:{TAG_MANAGED}", "Values": ["true"]},
        # Terminated instances linger in DescribeInstances for about an hour; they are gone for the user.
        {
            "Name": "instance-state-name",
            "Values": ["pending", "running", "stopping", "stopped", "shutting-down"],
        },
    ]
    found: list[Instance] = []
    try:
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page.get("Reservations", []):
                found.extend(instance_from_api(data, region) for data in reservation.get("Instances", []))
    except bex.ClientError as exc:
        raise from_client_error(exc, "DescribeInstances") from exc
    return found


def names_in_region(aws: Aws, region: str) -> set[str]:
    """The names of the d2l-tui instances in ``region`` that are not terminated (one DescribeInstances)."""
    return {i.name for i in _managed_in_region(aws, region) if i.name}


def _as_d2l_error(exc: BaseException, profile: str | None) -> D2lError:
    return as_d2l_error(
        exc,
        profile,
        D2lError(
            f"Listing instances failed ({type(exc).__name__}: {exc}).",
            "Check your network and credentials, then try again.",
        ),
    )


# Called from the pool's threads as each region answers: (region, its instances, answered, asked).
RegionAnswered = Callable[[str, list[Instance], int, int], None]


def list_managed(
    aws: Aws, regions: list[str] | None = None, on_region: RegionAnswered | None = None
) -> InstanceListing:
    """Instances tagged d2l-tui:managed=true (not terminated), regions queried concurrently.

    A region that fails (not enabled, unreachable, denied) is logged, and named in the listing's
    ``failed`` with why: the caller must say the list may be incomplete. When every region fails,
    the first error is raised instead of an empty list. ``on_region`` hears each region as it
    answers (a failed one with no instances), for a screen to show the sweep as it goes.
    Sorted by region, then name.
    """
    if regions is None:
        from tui.services.cloud.regions import list_region_names

        regions = list_region_names(aws)
    if not regions:
        return InstanceListing([])

    instances: list[Instance] = []
    failures: list[tuple[str, BaseException]] = []
    with fanout(min(MAX_WORKERS, len(regions)), "ls") as pool:
        futures = {pool.submit(_managed_in_region, aws, region): region for region in regions}
        for answered, future in enumerate(as_completed(futures), start=1):
            region = futures[future]
            found: list[Instance] = []
            try:
                found = future.result()
                instances.extend(found)
            except Exception as exc:  # one region's trouble must not hide the others' instances
                log_exception(log, exc, f"listing instances in {region}")
                failures.append((region, exc))
            if on_region is not None:
                on_region(region, found, answered, len(regions))

    # Every region failing is the credentials or the network, not the regions: say so instead of
    # showing an empty list. (A single region's AuthFailure is usually a region not enabled.)
    if failures and len(failures) == len(regions):
        failures.sort(key=lambda f: regions.index(f[0]))  # the first region's error, whatever the timing
        raise _as_d2l_error(failures[0][1], aws.profile)
    return InstanceListing(
        sorted(instances, key=lambda i: (i.region, i.name, i.instance_id)),
        tuple(sorted((region_failure(r, exc) for r, exc in failures), key=lambda f: f.region)),
    )


# -- what each action needs ------------------------------------------------------------------------

# The states from which AWS accepts each action (anything else answers IncorrectInstanceState).
# Screens grey out keys with these; the services still turn a race into a sentence.
ALLOWED_STATES: dict[str, frozenset[str]] = {
    "stop": frozenset({"running"}),
    "start": frozenset({"stopped"}),
    "terminate": frozenset({"pending", "running", "stopping", "stopped"}),
    "image": frozenset({"running", "stopped"}),
    "ssh": frozenset({"running"}),
}
# While one of these lasts the list is polled faster: the user is waiting for it to settle.
TRANSITIONAL_STATES = frozenset({"pending", "stopping", "shutting-down"})
_VERBS = {
    "StopInstances": "stopped",
    "StartInstances": "started",
    "TerminateInstances": "terminated",
    "CreateImage": "imaged",
}
# What to wait for before retrying, by the state that refused the action.
_WAIT_FOR = {
    "pending": "Wait until it is running (press r to refresh)",
    "stopping": "Wait until it has stopped (press r to refresh)",
    "shutting-down": "It is being terminated already; nothing else can be done with it",
    "terminated": "It is gone; press r to refresh the list",
}


def stop_refusal(instance: Instance) -> InputError | None:
    """Why AWS won't stop this instance whatever its state, or None.

    AWS stops a spot instance only when it came from a persistent request whose interruption
    behaviour is ``stop``; d2l-tui launches spot as one-time requests (launch.run_instances_params),
    so every spot instance it manages can be terminated but not stopped.
    """
    if not instance.spot:
        return None
    name = instance.name or instance.instance_id
    return InputError(
        f"{name} is a one-time spot instance: AWS can't stop it, only terminate it.",
        "Make an image first if you want to keep its disk, then terminate it.",
    )


def can(action: str, instance: Instance) -> bool:
    if action == "stop" and stop_refusal(instance) is not None:
        return False
    if action == "ssh":
        return instance.state == "running" and bool(instance.public_dns or instance.public_ip)
    return instance.state in ALLOWED_STATES.get(action, frozenset())


def describe_one(aws: Aws, region: str, instance_id: str) -> Instance | None:
    """The instance as AWS sees it now; None when it no longer exists (deleted outside the app)."""
    import botocore.exceptions as bex

    try:
        answer = aws.client("ec2", region).describe_instances(InstanceIds=[instance_id])
    except bex.ClientError as exc:
        if error_code(exc).startswith("InvalidInstanceID"):
            return None
        raise from_client_error(exc, "DescribeInstances") from exc
    for reservation in answer.get("Reservations", []):
        for data in reservation.get("Instances", []):
            return instance_from_api(data, region)
    return None


def _action_error(aws: Aws, exc: Any, operation: str, instance: Instance) -> D2lError:
    """A refused action as a sentence about this instance, with what to do next."""
    code = error_code(exc)
    name = instance.name or instance.instance_id
    verb = _VERBS.get(operation, "changed")
    if code == "IncorrectInstanceState":
        # The table was out of date (a race): say what the instance is doing now.
        try:
            now = describe_one(aws, instance.region, instance.instance_id)
        except D2lError:
            now = None
        state = now.state if now else "changing state"
        wait = _WAIT_FOR.get(state, "Press r to refresh, then try again")
        return D2lError(f"{name} is {state}, so it can't be {verb} right now.", f"{wait}.", code=code)
    if code.startswith("InvalidInstanceID"):
        return D2lError(
            f"{name} ({instance.instance_id}) no longer exists in {instance.region}; "
            "it was probably terminated outside d2l-tui.",
            "Press r to refresh the list.",
            code=code,
        )
    if code in ("UnauthorizedOperation", "AccessDenied"):
        return D2lError(
            f"Your AWS identity is not allowed to call {operation} (missing ec2:{operation}).",
            f"Ask your account admin to grant ec2:{operation}, or use another --profile.",
            code=code,
        )
    if code == "InsufficientInstanceCapacity" and operation == "StartInstances":
        # A stopped instance's disk lives in its zone: it can't start anywhere else. Launching a new
        # instance instead would lose the disk, so the app never does that on its own.
        zone = instance.availability_zone or instance.region
        return CapacityError(
            f"AWS has no {instance.instance_type} capacity in {zone} right now, and a stopped "
            "instance can't move to another zone.",
            "Try starting it again in a few minutes, or change its instance type "
            "(EC2 console: Actions > Instance settings > Change instance type) and start it then.",
            code=code,
        )
    return from_client_error(exc, operation)


def _state_call(aws: Aws, instance: Instance, operation: str, key: str) -> Instance:
    """Send Stop/Start/TerminateInstances and return the instance in the state AWS answered."""
    import botocore.exceptions as bex

    ec2 = aws.client("ec2", instance.region)
    method = {
        "StopInstances": ec2.stop_instances,
        "StartInstances": ec2.start_instances,
        "TerminateInstances": ec2.terminate_instances,
    }[operation]
    try:
        answer = method(InstanceIds=[instance.instance_id])
    except bex.ClientError as exc:
        raise _action_error(aws, exc, operation, instance) from exc
    log.info("%s %s (%s): %s", operation, instance.instance_id, instance.region, answer.get(key))
    for change in answer.get(key, []):
        state = str((change.get("CurrentState") or {}).get("Name", "")) or instance.state
        # A stopped instance keeps no public address; a started one gets a new one (found on refresh).
        keep_address = state in ("pending", "running")
        return replace(
            instance,
            state=state,
            public_dns=instance.public_dns if keep_address else "",
            public_ip=instance.public_ip if keep_address else "",
        )
    return instance


def stop(aws: Aws, instance: Instance) -> Instance:
    refusal = stop_refusal(instance)
    if refusal is not None:
        raise refusal
    return _state_call(aws, instance, "StopInstances", "StoppingInstances")


def start(aws: Aws, instance: Instance) -> Instance:
    return _state_call(aws, instance, "StartInstances", "StartingInstances")


def terminate(aws: Aws, instance: Instance) -> Instance:
    after = _state_call(aws, instance, "TerminateInstances", "TerminatingInstances")
    alarms.delete_for_instance(aws, instance)  # its auto-stop backstop; never raises
    return after


def find_instance(aws: Aws, name: str, region: str | None = None) -> Instance:
    """The managed instance called ``name`` (or with that id); a sentence when none or several match."""
    listing = list_managed(aws, [region] if region else None)
    found = [i for i in listing.instances if name in (i.name, i.instance_id)]
    if not found and not listing.complete:
        # It may be in a region that did not answer: "no such instance" would be a guess.
        raise D2lError(
            f"No instance named {name!r} in the regions that answered; {unanswered_words(listing.failed)}.",
            "Try again, or pass --region.",
        )
    if not found:
        where = region or "any enabled region"
        raise InputError(f"No instance named {name!r} launched by d2l-tui in {where}.", "See `d2l-tui ls`.")
    if len(found) > 1:
        places = ", ".join(f"{i.instance_id} in {i.region}" for i in found)
        raise InputError(f"Several instances are named {name!r}: {places}.", "Pass its id, or --region.")
    return found[0]


# -- images --------------------------------------------------------------------------------------

# Which instance an image was made from, so "My AMIs" can say where it came from.
TAG_SOURCE_INSTANCE = "d2l-tui:source-instance"
_IMAGE_NAME = re.compile(r"^[A-Za-z0-9()\[\] ./'@_-]{3,128}$")  # CreateImage's documented alphabet


def default_image_name(instance: Instance, now: datetime | None = None) -> str:
    moment = now or datetime.now(timezone.utc)
    base = re.sub(r"[^A-Za-z0-9()\[\] ./'@_-]", "-", instance.name or instance.instance_id)[:100]
    return f"{base}-{moment:%Y%m%d-%H%M}"


def validate_image_name(name: str) -> str | None:
    if not _IMAGE_NAME.match(name):
        return "Image names are 3 to 128 characters: letters, digits, spaces and ( ) [ ] . / - ' @ _ only."
    return None


def create_image(
    aws: Aws,
    instance: Instance,
    name: str,
    *,
    progress: Callable[[str], None] = lambda _: None,
    cancelled: Callable[[], bool] = lambda: False,
    poll_interval: float = 5.0,
    timeout: float = 3600.0,
    terminate_after: bool = False,
) -> str:
    """CreateImage (image and snapshots tagged as the app's), then poll until it is available.

    Returns the image id. The poll is a cancellable loop (no boto3 waiter): cancelling stops the
    waiting, not the image, which AWS goes on making. ``terminate_after`` terminates the instance
    only once the image is available, never after a failure.
    """
    import botocore.exceptions as bex

    problem = validate_image_name(name)
    if problem:
        raise InputError(problem, "Choose another name.")
    tags = [
        {"Key": "Name", "Value": name},
        {"Key": TAG_MANAGED, "Value": "true"},
        {"Key": TAG_NAME, "Value": name},
        {"Key": TAG_SOURCE_INSTANCE, "Value": instance.instance_id},
    ]
    ec2 = aws.client("ec2", instance.region)
    try:
        answer = ec2.create_image(
            InstanceId=instance.instance_id,
            Name=name,
            Description=f"d2l-tui image of {instance.name or instance.instance_id} ({instance.instance_type})",
            # Snapshots are tagged once the image lists them (below): moto refuses snapshot
            # TagSpecifications here, and CreateTags works the same on AWS.
            TagSpecifications=[{"ResourceType": "image", "Tags": tags}],
        )
    except bex.ClientError as exc:
        if error_code(exc) == "InvalidAMIName.Duplicate":
            raise InputError(f"You already have an image named {name!r}.", "Choose another name.") from exc
        raise _action_error(aws, exc, "CreateImage", instance) from exc
    image_id = str(answer["ImageId"])
    progress(f"Creating image {image_id} ({name}) from {instance.name}…")
    deadline = time.monotonic() + timeout
    while True:
        state, reason, snapshots = _image_state(ec2, image_id)
        if state == "available":
            _tag_snapshots(ec2, snapshots, tags)
            break
        if state in ("failed", "invalid", "deregistered", "error"):
            raise D2lError(
                f"Image {image_id} could not be created ({state}: {reason or 'no reason given'}).",
                f"{instance.name} is untouched; try creating the image again, or stop the instance first.",
            )
        progress(f"Image {image_id} is {state or 'not visible yet'}; snapshots take minutes…")
        if time.monotonic() > deadline:
            raise D2lError(
                f"Image {image_id} is still {state} after a long wait.", "Check it later in `d2l-tui ls`."
            )
        if cancellable_sleep(poll_interval, cancelled):
            raise D2lError(
                f"Stopped waiting for image {image_id}; AWS goes on creating it.",
                "It appears under My AMIs once available.",
            )
    progress(f"Image {image_id} is available.")
    if terminate_after:
        terminate(aws, instance)
        progress(f"{instance.name} is being terminated.")
    return image_id


def _image_state(ec2: Any, image_id: str) -> tuple[str, str, list[str]]:
    """(state, reason, snapshot ids) of an image being made."""
    import botocore.exceptions as bex

    try:
        images = ec2.describe_images(ImageIds=[image_id]).get("Images", [])
    except bex.ClientError as exc:
        if error_code(exc).startswith("InvalidAMIID"):
            return "", "", []  # just created: DescribeImages may not know it yet (eventual consistency)
        raise from_client_error(exc, "DescribeImages") from exc
    if not images:
        return "", "", []
    image = images[0]
    snapshots = [
        str(m["Ebs"]["SnapshotId"])
        for m in image.get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("SnapshotId")
    ]
    return str(image.get("State", "")), str((image.get("StateReason") or {}).get("Message", "")), snapshots


def _tag_snapshots(ec2: Any, snapshot_ids: list[str], tags: list[dict[str, str]]) -> None:
    """The image's snapshots carry the app's tags too, so leftovers can find them. Best effort: the
    image is made and usable either way."""
    if not snapshot_ids:
        return
    try:
        ec2.create_tags(Resources=snapshot_ids, Tags=tags)
    except Exception as exc:
        log_exception(log, exc, f"tagging snapshots {snapshot_ids}")
