"""The Textual application behind ``adlab tui``.

Structure: screens (runs, detail, compare, dialogs) own their widgets and talk through
messages; every database access goes through :mod:`adlab.tui.data` or :mod:`adlab.tui.actions`
inside worker threads. The app only holds what all screens share: the engine, the run cache,
the clock and the refresh interval.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from sqlalchemy.engine import Engine
from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from adlab.tui.data import Clock, LabData, utc_now


COMPARISONS_KEPT = 4
WARM_CHECK_S = 0.5  # how often to check whether the launch is over (see _warm_when_loaded)


def describe_db(engine: Engine) -> str:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)


class LabApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "adlab"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [Binding("q", "quit", "Quit"), Binding("ctrl+q", "quit", "Quit", show=False)]

    def __init__(self, *, engine: Engine | None = None, db_url: str | None = None,
                 refresh_s: float = 1.0, clock: Clock | None = None,
                 lease_s: float | None = None, db_label: str | None = None) -> None:
        super().__init__()
        if engine is None:
            from adlab.db.engine import get_engine
            from adlab.settings import database_url

            engine = get_engine(db_url or database_url())
        if lease_s is None:
            from adlab.settings import lease_seconds

            lease_s = lease_seconds()
        self.engine = engine
        self.refresh_s = refresh_s
        self.clock: Clock = clock or utc_now
        self.lease_s = lease_s
        self.db_label = db_label or describe_db(engine)
        self.data = LabData(engine, clock=self.clock, lease_s=lease_s)
        self.quitting = False  # set by exit(): screens refuse actions from then on
        self.warmed_up = False  # what the compare screen needs is imported (see on_mount)
        # the latest comparisons (scope -> result, lines, when read): reopened, one shows at
        # once while it is read again (see CompareScreen)
        # (result, lines, read at, complete, the run cache's stamp before the read)
        self.compare_cache: dict[tuple, tuple[Any, list[Any], dt.datetime, bool, tuple]] = {}

    def remember_comparison(self, key: tuple, result: Any, lines: list[Any], stamp: tuple, *,
                            complete: bool = True) -> None:
        """Keep a comparison read for ``key`` (a first, shorter listing never replaces a
        complete one of the same scope). ``stamp``: :meth:`LabData.stamp` taken before the
        read; while it is unchanged no run changed, and the comparison need not be read again."""
        old = self.compare_cache.pop(key, None)
        if not complete and old is not None and old[3]:
            self.compare_cache[key] = old
            return
        self.compare_cache[key] = (result, lines, self.clock(), complete, stamp)
        while len(self.compare_cache) > COMPARISONS_KEPT:
            self.compare_cache.pop(next(iter(self.compare_cache)))

    def exit(self, *args: Any, **kwargs: Any) -> None:
        """Mark the app as quitting first, so keys already queued behind ``q`` do nothing."""
        self.quitting = True
        super().exit(*args, **kwargs)

    async def on_event(self, event: events.Event) -> None:
        """Keys straight from the terminal go first to the screen's ``capture_key`` (the runs
        screen's filter box): handled here, in arrival order, a burst of keys cannot overtake
        the focus change that `/` asks for."""
        if isinstance(event, events.Key) and not self.screen_stack:
            return  # the last screen is gone: a key (even one a screen forwarded) has no target
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self.quitting:
                return  # keys queued behind `q`: the app is on its way out
            capture = getattr(self.screen, "capture_key", None)
            if capture is not None and capture(event):
                return
        await super().on_event(event)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action == "quit" or not self.quitting

    def on_mount(self) -> None:
        from adlab.tui.screens.runs import RunsScreen

        self.push_screen(RunsScreen())
        self._warm_timer = self.set_interval(WARM_CHECK_S, self._warm_when_loaded,
                                             name="warm-compare")

    def _warm_when_loaded(self) -> None:
        """Once the runs table is complete (the launch is over), import what the compare
        screen needs in a thread (:func:`adlab.tui.compare_view.warm_up`): it was 40% of the
        first `c` on 10,000 runs."""
        if self.quitting or not any(getattr(s, "refreshes", 0) for s in self.screen_stack):
            return
        self._warm_timer.stop()
        try:
            scope = self.runs_screen.compare_scope(with_marked=False)
        except Exception:  # noqa: BLE001 - no runs screen (tests that push their own)
            scope = None
        self.run_worker(lambda: self._warm_up(scope), thread=True, group="warm-up",
                        exit_on_error=False)

    def _warm_up(self, scope: dict[str, Any] | None) -> None:
        from adlab.tui.compare_view import warm_up
        from adlab.tui.screens import compare  # noqa: F401

        warm_up(self.engine, scope)
        self.warmed_up = True  # tests wait on this

    @property
    def runs_screen(self):  # noqa: ANN201 - RunsScreen, imported lazily
        from adlab.tui.screens.runs import RunsScreen

        return next(s for s in self.screen_stack if isinstance(s, RunsScreen))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action of the current screen is also a command palette entry."""
        commands = getattr(screen, "palette_commands", None)
        if commands is not None:
            yield from commands()
        yield from super().get_system_commands(screen)
