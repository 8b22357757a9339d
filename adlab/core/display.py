"""How a canonical parameter value is written in tables and messages (one rule for the CLI,
the report and the pipelines' own views)."""
from __future__ import annotations

import json
from typing import Any


def format_value(v: Any) -> str:
    """How a canonical parameter value is shown in tables and messages."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    return str(v)
