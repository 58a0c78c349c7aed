"""The Textual application: assembles the screens over one database engine and one set of
settings, read once at start."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import Engine
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widget import AwaitMount

from fleetui import config
from fleetui.db.audit import last_event_id
from fleetui.db.engine import redact
from fleetui.screens import freshness, keymap
from fleetui.screens.commands import FleetCommands
from fleetui.screens.dashboard import DashboardScreen
from fleetui.screens.first_read import FirstRead
from fleetui.screens.first_read import begin as begin_first_read
from fleetui.screens.messages import FleetChanged, ShowInventory, TelemetryPolled
from fleetui.screens.work import ignore, loaded, run_service
from fleetui.telemetry import health

# Start-up: the app opens on the dashboard, so it imports only the dashboard's modules; every
# other screen's (and the services only they use) load when that screen first opens.


UNCHECKED = object()


def screen(module: str, name: str) -> Callable[..., Screen]:
    """The screen class `name` of fleetui.screens.`module`, its module imported now."""
    return getattr(importlib.import_module(f"fleetui.screens.{module}"), name)


def checked_keymap(settings: config.Config) -> dict[str, str]:
    """The config's [keymap], checked against the bindings of this app and of every screen."""
    return keymap.check(settings.keymap, settings.source, FleetApp)


class FleetApp(App[None]):
    TITLE = "fleetui"
    COMMANDS = App.COMMANDS | {FleetCommands}
    BINDINGS = [
        Binding("d", "show('dashboard')", "Dashboard", id="app.dashboard"),
        Binding("i", "show('inventory')", "Inventory", id="app.inventory"),
        Binding("t", "show('teams')", "Teams", id="app.teams"),
        Binding("h", "show('history')", "History", id="app.history"),
        Binding("l", "show('lifecycle')", "Lifecycle", id="app.lifecycle"),
        Binding("g", "show('telemetry')", "GPUs live", id="app.telemetry"),
        Binding("I", "show('import')", "Import", id="app.import"),
        Binding("R", "request", "Request cards", id="app.request"),
        Binding("A", "scheduler", "Apply to scheduler", id="app.scheduler"),
        Binding("escape", "go_back", "Back", show=False, id="app.back"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(
        self,
        engine: Engine,
        *,
        initial_query: str = "",
        initial_mode: str = "dashboard",
        today: Callable[[], date] = date.today,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        settings: config.Config | None = None,
        first_read: FirstRead | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.today = today
        self.settings = settings = settings or config.load()
        self.set_keymap(checked_keymap(settings))
        self.initial_mode = initial_mode
        self.way_back: list[str] = []  # the modes go_back returns through, newest last
        self.polled: datetime | object | None = UNCHECKED  # the last poll, as last checked
        self.sub_title = redact(str(engine.url))
        # opening on the dashboard, its first read is begun before Textual starts (the caller
        # may have begun it before importing Textual: `fleetui` does)
        if first_read is None and initial_mode == "dashboard":
            first_read = begin_first_read(engine, today(), settings)
        head_start = [first_read] if first_read is not None else []

        def dashboard() -> DashboardScreen:
            first = head_start.pop() if head_start else None  # the first one built takes it
            return DashboardScreen(engine, today, settings=settings, first_read=first)

        self.add_mode("dashboard", dashboard)
        self.add_mode(
            "inventory",
            lambda: screen("inventory", "InventoryScreen")(
                engine, initial_query, today, settings=settings
            ),
        )
        self.add_mode(
            "import", lambda: screen("import_screen", "ImportScreen")(engine, settings=settings)
        )
        self.add_mode("teams", lambda: screen("teams", "TeamsScreen")(engine))
        self.add_mode("history", lambda: screen("history", "HistoryScreen")(engine))
        self.add_mode(
            "lifecycle",
            lambda: screen("lifecycle", "LifecycleScreen")(engine, today, settings=settings),
        )
        # the sick list: a mode of its own, so `d` from anywhere shows the dashboard itself
        self.add_mode(
            "health",
            lambda: screen("health", "HealthScreen")(engine, today, settings=settings),
        )
        self.add_mode(
            "telemetry", lambda: screen("telemetry", "TelemetryScreen")(engine, clock=clock)
        )

    def on_mount(self) -> None:
        self.switch_mode(self.initial_mode)
        self.set_interval(freshness.CHECK_S, self.check_freshness)

    def built_screens(self) -> list[Screen]:
        """Every screen built so far, in all modes (Textual keeps no public list of them)."""
        return [screen for stack in self._screen_stacks.values() for screen in stack]

    def check_freshness(self) -> None:
        """Mark the screens showing figures that another process has changed since, and have
        the views of telemetry read again after a poll (a round every minute would only mark
        them)."""
        run_service(
            self,
            lambda: (last_event_id(self.engine), health.last_round(self.engine)),
            on_done=self.fresh,
            on_error=ignore,
            group="freshness",
            exclusive=True,
        )

    def fresh(self, newest: tuple[int, datetime | None]) -> None:
        event, polled = newest
        freshness.check(self.built_screens(), event)
        # the first check too: a poll may have come between a screen's read and this check
        if polled != self.polled and (self.polled is not UNCHECKED or polled is not None):
            for screen in self.built_screens():
                screen.post_message(TelemetryPolled(polled))
        self.polled = polled

    def notify(self, message: str, **kwargs) -> None:
        """Every notification shows its message literally: messages carry data (serials, names,
        errors quoting what a user typed), and Textual would read markup in them."""
        kwargs["markup"] = False
        super().notify(message, **kwargs)

    def action_help_quit(self) -> None:
        """ctrl+c's hint, as Textual gives it but for its markup: notify shows it literally."""
        for key, active in self.active_bindings.items():
            if active.binding.action in ("quit", "app.quit"):
                self.notify(f"Press {key} to quit the app", title="Do you want to quit?")
                return

    def switch_mode(self, mode: str) -> AwaitMount:
        """Switch, remembering the way back for go_back: the modes passed through, each once.
        Going to a mode already on the way back cuts the way there, as going back to it would,
        so escape always ends at the dashboard (d, i, g, i: escape goes to the dashboard)."""
        if mode != self.current_mode and self.current_mode != self.DEFAULT_MODE:
            if mode in self.way_back:
                del self.way_back[self.way_back.index(mode) :]
            else:
                self.way_back.append(self.current_mode)
        return super().switch_mode(mode)

    def action_go_back(self) -> None:
        """Back to the screen the user came from, and on back to the dashboard; escape on any
        screen whose own escape does nothing else (the inventory's clears its filter, a
        dialog's closes it). The dashboard is where the app starts: escape there stays."""
        if self.current_mode != "dashboard":
            self.switch_mode(self.way_back[-1] if self.way_back else "dashboard")

    async def action_show(self, mode: str) -> None:
        """Go to `mode` as it was left; its key pressed in it goes back to its own screen (the
        sick list's `d`: the dashboard), unless a dialog waits for an answer."""
        if self.current_mode != mode:
            await self.switch_mode(mode)
        elif not isinstance(self.screen, ModalScreen):
            while len(self.screen_stack) > 1:
                await self.pop_screen()

    async def show_base(self, mode: str) -> Screen:
        """Go to `mode` showing its own screen: a card detail (or any screen) left open on top
        of it when the user went elsewhere is closed, else it would hide what comes next."""
        await self.switch_mode(mode)
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        return self.screen

    async def on_show_inventory(self, message: ShowInventory) -> None:
        from fleetui.screens.inventory import InventoryScreen

        screen = await self.show_base("inventory")
        if isinstance(screen, InventoryScreen):
            screen.set_filter(message.query)

    def on_fleet_changed(self, _message: FleetChanged) -> None:
        """A write was made here: every screen built so far gets its own FleetChanged and
        reloads what it shows."""
        for screen in self.built_screens():
            screen.post_message(FleetChanged())

    def action_help(self) -> None:
        from fleetui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        screen = self.screen
        keys = [
            (
                active.binding.key_display or self.get_key_display(active.binding),
                active.binding.description,
            )
            for active in screen.active_bindings.values()
            if active.node in (self, screen)
            and active.binding.description
            and active.binding.action != "command_palette"  # listed below, with what it does
        ]
        described = dict(keys)
        for key, more in getattr(screen, "EXTRA_KEYS", []):  # a bound key's says more on one line
            described[key] = f"{described[key]}: {more}" if key in described else more
        described["ctrl+p"] = "Command palette: every action by name"
        self.push_screen(HelpScreen(sorted(described.items())))

    def action_request(self) -> None:
        """Ask for N cards or X PFLOPS (of some models, from a team), preview, then move."""
        from fleetui.screens.reallocate import ReallocateModal

        def moved(batch: str | None) -> None:
            if batch:
                self.notify(dialog.moved(batch))

        dialog = ReallocateModal(self.engine, today=self.today, settings=self.settings)
        self.push_screen(dialog, moved)

    def action_scheduler(self) -> None:
        """After a move: preview the scheduler commands that follow it, then apply them."""
        from fleetui.screens.scheduler import SchedulerModal

        if not isinstance(self.screen, SchedulerModal):
            self.push_screen(SchedulerModal(self.engine, settings=self.settings))

    async def action_on(self, mode: str, action: str) -> None:
        """Run a screen's own action (the palette's "Edit cards"): go to its mode's screen, let
        it load (a screen opened for the first time had no rows yet: the action did nothing),
        then run it."""
        screen = await self.show_base(mode)
        await loaded(screen)  # its rows: "the highlighted card" needs them
        self.call_after_refresh(lambda: screen.run_action(action))

    def action_backup(self) -> None:
        from fleetui.admin import maintenance
        from fleetui.screens.dialogs import AskText

        def chosen(dest: str | None) -> None:
            if dest:
                run_service(self.screen, maintenance.backup, self.engine, dest, on_done=self.notify)

        self.push_screen(
            AskText("Back up the database to a new file:", "~/fleet-backup.db"), chosen
        )
