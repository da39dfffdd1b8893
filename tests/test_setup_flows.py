"""The provisioning and reach flows without any UI: which run the setup follows (the book's recipe,
a recipe file, or a reattach), the failed-step sentence both doors print, and the key and link to an
instance found on moto."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.instances import make_instance
from tui.context import AppContext
from tui.flows.provisioning import failed_step_words, plan_setup
from tui.flows.reach import find_link, key_for
from tui.models import Instance
from tui.services.cloud.aws import Aws
from tui.services.errors import D2lError, InputError
from tui.services.remote.instance_link import InstanceLink, known_hosts
from tui.services.remote.provision import RunOutcome

PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n"


def link(aws: Aws, instance: Instance, simulated: bool = False) -> InstanceLink:
    async def loopback(_: object, __: object) -> tuple[str, int]:  # never called: planning connects nowhere
        raise AssertionError("planning must not connect")

    return InstanceLink(aws, instance, None, known_hosts(), endpoint_for=loopback if simulated else None)


def test_a_fresh_run_is_the_books_recipe_for_that_gpu_and_framework(aws: Aws) -> None:
    box = make_instance(aws, "book", "g4dn.xlarge")
    setup = plan_setup(link(aws, box), box.instance_type, fresh=True, framework="jax")
    assert setup.mode == "fresh" and setup.recipe is not None
    assert setup.recipe.framework == "jax" and not setup.recipe.simulated
    assert "d2l" in [s.name for s in setup.recipe.steps]  # the book's own steps

    simulated = plan_setup(link(aws, box, simulated=True), box.instance_type, fresh=True)
    assert simulated.recipe is not None and simulated.recipe.simulated  # --demo prints, never installs


def test_own_steps_only_is_the_users_recipe_toml_alone_and_nothing_without_one(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.flows.launch_plan import OWN_SETUP
    from tui.services.remote.user_recipe import user_recipe_path

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    box = make_instance(aws)
    with pytest.raises(InputError) as refused:  # nothing runs that the user did not write
        plan_setup(link(aws, box), box.instance_type, fresh=True, framework=OWN_SETUP)
    assert "No setup ran" in str(refused.value) and str(user_recipe_path()) in str(refused.value)

    user_recipe_path().parent.mkdir(parents=True)
    user_recipe_path().write_text('[[step]]\nname = "my-data"\nrun = "echo data"\n')
    setup = plan_setup(link(aws, box, simulated=True), box.instance_type, fresh=True, framework=OWN_SETUP)
    assert setup.recipe is not None and [s.name for s in setup.recipe.steps] == ["my-data"]
    assert setup.recipe.simulated  # on --demo's cloud the user's steps print, as the book's do


def test_reattach_starts_nothing(aws: Aws) -> None:
    box = make_instance(aws)
    setup = plan_setup(link(aws, box), box.instance_type, fresh=False, only=Path("/nowhere.toml"))
    assert setup.mode == "reattach" and setup.recipe is None  # the file is not even read


def test_only_a_recipe_file_and_its_mistakes(aws: Aws, tmp_path: Path) -> None:
    box = make_instance(aws)
    mine = tmp_path / "mine.toml"
    mine.write_text('[[step]]\nname = "warm-cache"\nrun = "echo warm"\n')
    setup = plan_setup(link(aws, box), box.instance_type, fresh=True, only=mine)
    assert setup.recipe is not None and [s.name for s in setup.recipe.steps] == ["warm-cache"]

    mine.write_text('[[step]]\nname = "a"\nrun = "x"\nretries = 9\n')
    with pytest.raises(InputError, match="0..5"):  # a sentence naming the line, for either door
        plan_setup(link(aws, box), box.instance_type, fresh=True, only=mine)


def test_failed_step_words() -> None:
    outcome = RunOutcome(ok=False, failed_step="driver", rc=2)
    assert failed_step_words(outcome, "Install the driver", "Reboot, then retry.") == (
        "Step 'Install the driver' failed (exit code 2). Reboot, then retry."
    )
    assert (
        failed_step_words(outcome, "Install the driver") == "Step 'Install the driver' failed (exit code 2)."
    )


def test_key_for_finds_the_key_and_checks_it_only_when_asked(aws: Aws, key_dir: Path) -> None:
    box = Instance("i-1", "box", "us-east-1", "g4dn.xlarge", "running", key_name="d2l-key")
    assert key_for(box, key_dir) is None  # not on this computer
    key_dir.mkdir(parents=True, mode=0o700)
    pem = key_dir / "d2l-key.pem"
    pem.write_text(PEM)
    os.chmod(pem, 0o644)
    assert key_for(box, key_dir) == pem  # the app's asyncssh reads it as it is
    with pytest.raises(D2lError, match="other users can read"):
        key_for(box, key_dir, check=True)  # OpenSSH would refuse it: the sentence instead
    os.chmod(pem, 0o400)
    assert key_for(box, key_dir, check=True) == pem


def test_find_link_by_name_or_says_which_are_there(aws: Aws, key_dir: Path) -> None:
    box = make_instance(aws, "book")
    ctx = AppContext(aws=aws, key_dir=key_dir)
    found = find_link(ctx, "book", "us-east-1")
    assert found.instance.instance_id == box.instance_id and found.label == "book"
    assert find_link(ctx, box.instance_id, "us-east-1").instance.instance_id == box.instance_id
    with pytest.raises(InputError, match="No instance named 'nope'"):
        find_link(ctx, "nope", "us-east-1")
