"""Stand-ins for LLaVA's conversation template, shared by the tests that run the official
MMAD LLaVA/Cambrian scripts' own query classes: the user turn is the prompt they build."""
from __future__ import annotations

from typing import Any


class LlavaConversation:
    """``conv_templates[...]`` as the scripts use it: ``copy``, ``append_message``, and a
    ``get_prompt`` that returns the first (user) message unchanged."""

    roles = ("USER", "ASSISTANT")

    def __init__(self) -> None:
        self.messages: list = []

    def copy(self) -> "LlavaConversation":
        return LlavaConversation()

    def append_message(self, role: str, text: Any) -> None:
        self.messages.append((role, text))

    def get_prompt(self) -> str:
        return self.messages[0][1]
