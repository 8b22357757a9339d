"""Compare parameter values by meaning: ``2e-4 == 0.0002``, ``1 == 1.0``, ``"true" == True``.

Every hash that decides "same config" or "same group" goes through :func:`canonical_json`, so
two spellings of one value can never split a group or dodge duplicate detection.
"""
from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Mapping

_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}
_NULL = {"null", "none", "~", ""}


def canonical_number(value: float | int) -> int | float | str:
    f = float(value)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f.is_integer() and abs(f) < 2**53:
        return int(f)
    return float(repr(f))


def canonical(value: Any) -> Any:
    """A normal form of a parameter value, used for hashing and equality."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return canonical_number(value)
    if isinstance(value, str):
        text = value.strip()
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        if low in _NULL:
            return None
        try:
            return canonical_number(float(text))
        except ValueError:
            return text
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if hasattr(value, "model_dump"):
        return canonical(value.model_dump(mode="json"))
    return str(value)


def canonical_json(value: Any) -> str:
    return json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stable_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def numeric_value(value: Any) -> float | None:
    """The number a parameter value means, or None (booleans are not numbers here)."""
    c = canonical(value)
    if isinstance(c, bool) or not isinstance(c, (int, float)):
        return None
    return float(c)


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys (``data.category``); lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def value_text(value: Any) -> str:
    """How a parameter value is stored and shown: strings as-is, everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
