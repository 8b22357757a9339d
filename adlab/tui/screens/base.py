"""What every monitor screen shares: the typed app handle and the guard that makes keys pressed
after ``q`` harmless (a burst such as "quick" must not open a screen while the app exits)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from textual.css.query import NoMatches
from textual.screen import Screen

if TYPE_CHECKING:
    from adlab.tui.app import LabApp

__all__ = ["LabScreen", "NoMatches"]


class LabScreen(Screen):
    """A screen whose actions are refused once the app is quitting or the screen is gone."""

    @property
    def lab(self) -> "LabApp":
        return self.app  # type: ignore[return-value]

    @property
    def live(self) -> bool:
        """True while the screen is mounted and the app is not on its way out."""
        return self.is_attached and not getattr(self.app, "quitting", False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return True if self.live else False
