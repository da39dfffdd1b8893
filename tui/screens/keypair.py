"""Step 6: the key pair: a new ed25519 key made here (0400, never overwritten) or an existing pair."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.models import KeyChoice
from tui.screens.base import StepScreen
from tui.services.cloud.keys import KeyFileProblem
from tui.services.errors import D2lError

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.screens.wizard_state import WizardState

NEW_KEY = "__new__"
DEFAULT_KEY_NAME = "d2l-tui"


class KeyPairStep(StepScreen):
    STEP = 5
    TITLE_TEXT = "Key pair"
    HELP_TEXT = (
        "SSH logs in with a key pair. d2l-tui can make one for you: the private key stays on this machine, "
        "readable only by you (the chapter's chmod 400)."
    )
    BINDINGS = [
        Binding(
            "f",
            "fix_permissions",
            "Fix permissions",
            id="key.fix",
            tooltip="Run the chmod shown (400 on the key file, 700 on the key folder)",
        )
    ]

    def compose_body(self) -> ComposeResult:
        yield OptionList(id="keys")
        yield Static("New key pair name:", id="key-name-label")
        yield Input(id="key-name", value=DEFAULT_KEY_NAME, max_length=64)
        yield Static("Private key file for this pair:", id="key-path-label")
        yield Input(id="key-path", placeholder="~/.ssh/my-key.pem")

    def __init__(self, ctx: AppContext, state: WizardState) -> None:
        super().__init__(ctx, state)
        # Set before mounting: the footer can ask check_action before on_mount has run.
        self.pairs: list[KeyChoice] = []
        # The key file's or key folder's problem that f repairs; f is offered only while there is one.
        self.fixable: KeyFileProblem | None = None
        # Why the region's pairs are missing: kept on screen while the person moves in the list.
        self.listing_problem = ""

    def on_mount(self) -> None:
        self.query_one("#keys", OptionList).loading = True
        self.load_pairs()

    @work(exclusive=True, group="keys", exit_on_error=False)
    async def load_pairs(self) -> None:
        from tui.services.cloud.keys import list_key_pairs

        options = self.query_one("#keys", OptionList)
        assert self.state.region is not None
        try:
            self.pairs = await asyncio.to_thread(
                list_key_pairs, self.ctx.aws, self.state.region.name, self.ctx.key_dir
            )
        except Exception as exc:
            self.listing_problem = self.explain_exception(exc, "listing key pairs")
            self.show_error(self.listing_problem)
            self.pairs = []
        finally:
            options.loading = False
        options.clear_options()
        options.add_option(Option(Text("Create a new key pair (ed25519)", style="bold"), id=NEW_KEY))
        for pair in self.pairs:
            where = pair.private_key_path or "private key not found on this machine"
            options.add_option(
                Option(Text.assemble((pair.name, "bold"), ("\n  " + where, "dim")), id=pair.name)
            )
        chosen = self.state.key
        index = 0
        if chosen and not chosen.create:
            index = next((n + 1 for n, p in enumerate(self.pairs) if p.name == chosen.name), 0)
        elif chosen is None:
            # Reuse the app's own key when this region already has it and the file is here.
            index = next(
                (
                    n + 1
                    for n, p in enumerate(self.pairs)
                    if p.name == DEFAULT_KEY_NAME and p.private_key_path
                ),
                0,
            )
        if chosen and chosen.create:
            self.query_one("#key-name", Input).value = chosen.name
        options.highlighted = index
        options.focus()
        self.update_fields()

    def selected_pair(self) -> KeyChoice | None:
        index = self.query_one("#keys", OptionList).highlighted
        if not index:
            return None  # "create new" (index 0) or nothing yet
        return self.pairs[index - 1]

    def update_fields(self) -> None:
        index = self.query_one("#keys", OptionList).highlighted
        pair = self.selected_pair()
        creating = index == 0
        missing = pair is not None and pair.private_key_path is None
        for widget_id in ("#key-name-label", "#key-name"):
            self.query_one(widget_id).display = creating
        for widget_id in ("#key-path-label", "#key-path"):
            self.query_one(widget_id).display = missing
        self.set_fixable(self.key_problem())

    def key_problem(self) -> KeyFileProblem | None:
        """What is wrong with the highlighted choice's key file or the key folder, if anything."""
        from tui.services.cloud.keys import key_dir_problem, key_problem

        index = self.query_one("#keys", OptionList).highlighted
        if index is None:
            return None
        if index == 0:
            return key_dir_problem(self.ctx.key_dir)
        pair = self.pairs[index - 1]
        path = Path(pair.private_key_path) if pair.private_key_path else self.key_path_given()
        if path is None or not path.is_file():
            return None
        return key_problem(path, self.ctx.key_dir)

    def set_fixable(self, problem: KeyFileProblem | None) -> None:
        self.fixable = problem if problem is not None and problem.app_can_fix else None
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[Any, ...]) -> bool | None:
        if action == "fix_permissions":
            return self.fixable is not None
        return super().check_action(action, parameters)

    def explain(self, problem: KeyFileProblem) -> str:
        """The problem, and the key that fixes it when d2l-tui may, else the command to run."""
        self.set_fixable(problem)
        if problem.app_can_fix:
            return f"{problem.what} Press f to fix it (`{problem.fix_command}`)."
        return str(problem)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.show_error(self.listing_problem)  # a typing mistake's sentence goes; that one stays
        self.update_fields()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        index = event.option_index
        pair = self.pairs[index - 1] if index else None
        if index == 0:
            self.query_one("#key-name", Input).focus()
        elif pair is not None and pair.private_key_path is None:
            self.query_one("#key-path", Input).focus()
        else:
            self.action_next()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_next()

    def action_fix_permissions(self) -> None:
        from tui.services.cloud.keys import fix

        problem = self.key_problem()
        if problem is None or not problem.app_can_fix or problem.target is None:
            self.set_fixable(problem)
            self.show_error(str(problem) if problem else "")
            return
        try:
            fix(problem)
        except D2lError as exc:
            self.show_error(str(exc))
            return
        self.clear_error()
        self.set_fixable(self.key_problem())
        self.notify(f"Ran `{problem.fix_command}`.", title="Permissions fixed", markup=False)

    def key_path_given(self) -> Path | None:
        text = self.query_one("#key-path", Input).value.strip()
        return Path(text).expanduser() if text else None

    def accept(self) -> str | None:
        from tui.services.cloud.keys import find_private_key, key_dir_problem, key_problem, validate_key_name

        index = self.query_one("#keys", OptionList).highlighted
        if index is None:
            return "The key pairs haven't loaded yet."
        if index == 0:
            name = self.query_one("#key-name", Input).value.strip()
            problem = validate_key_name(name)
            if problem:
                return problem
            if any(p.name == name for p in self.pairs):
                return f"This region already has a key pair named {name!r}. Choose it in the list, or type another name."
            folder_problem = key_dir_problem(self.ctx.key_dir)
            if folder_problem:
                return self.explain(folder_problem)
            local = find_private_key(name, self.ctx.key_dir)
            self.state.key = KeyChoice(name=name, private_key_path=str(local) if local else None, create=True)
            return None
        pair = self.pairs[index - 1]
        path = Path(pair.private_key_path) if pair.private_key_path else self.key_path_given()
        if path is None:
            return f"The private key for {pair.name!r} isn't in ~/.ssh. Type its path below (or create a new pair)."
        if not path.is_file():
            return f"There is no file at {path}. Check the path, or create a new key pair."
        file_problem = key_problem(path, self.ctx.key_dir)
        if file_problem:
            return self.explain(file_problem)
        self.state.key = KeyChoice(name=pair.name, private_key_path=str(path))
        return None
