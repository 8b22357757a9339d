"""Parameter values by meaning: ``2e-4 == 0.0002``, ``1 == 1.0``; strings stay strings.

Every hash that decides "same config" or "same group" goes through :func:`canonical_json`, so
two spellings of one *number* can never split a group or dodge duplicate detection, while two
different *strings* (``"1.10"`` and ``"1.1"``, ``"off"`` and ``"no"``) are never merged.
Values arrive typed from YAML (1.2 numbers, see :mod:`adlab.config.yamlio`), ``--set`` (parsed
as YAML), pydantic ``model_dump`` and JSON. Only a source known to write every value as text
(MLflow's ``params.*`` columns) reads its values through :func:`coerce_stringified`.

Stored form (``params`` rows): ``value_num`` holds numbers; ``value_text`` holds
:func:`value_text`: a string as written unless it would read back as JSON (``"1.10"``,
``"true"``, ``"null"``), then JSON-quoted, so the text alone tells a string from a number,
boolean or null and the SQL regrouping agrees with :func:`canonical`.

Hash changes (from the rule that read numeric- and boolean-looking strings as numbers and
booleans): a config, partition or group hash changes only for params that are *strings*
spelled like a number, boolean or null (``"01"``, ``"none"``, ``"off"``, ``""``), or with
surrounding spaces. Runs queued from YAML carry typed numbers and booleans, so their hashes
stay; MLflow imports are coerced at the source, so theirs stay too.
"""
from __future__ import annotations

import ast
import hashlib
import json
import math
import re
from typing import Any, Mapping

# How str() writes a number. A leading zero ("01", a category id) is never str() of a number.
_NUMBER = re.compile(r"[-+]?(?:(?:0|[1-9]\d*)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
                     r"|[-+]?(?:inf|infinity)|nan", re.IGNORECASE)
_INTEGER = re.compile(r"[-+]?(?:0|[1-9]\d*)")


def canonical_number(value: float | int) -> int | float | str:
    """An integer-valued number as an int (``1.0`` -> 1), other floats by ``repr``; nan/inf as text."""
    f = float(value)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f.is_integer() and abs(f) < 2**53:
        return int(f)
    return float(repr(f))


def canonical(value: Any) -> Any:
    """A normal form of a parameter value, used for hashing and equality.

    Numbers compare numerically, booleans as booleans (``True != 1``), strings as written.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return canonical_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if hasattr(value, "model_dump"):
        return canonical(value.model_dump(mode="json"))
    return str(value)


def coerce_stringified(value: Any) -> Any:
    """What a value means when its source writes everything as ``str(value)`` (MLflow params).

    ``"2e-4"`` -> 0.0002, ``"3"`` -> 3, ``"True"``/``"false"`` -> booleans, ``"None"``/``"null"``
    -> None, ``"[1, 2]"``/``"{'a': 1}"`` -> list/dict, a JSON string literal ``'"1.10"'`` (how
    ``adlab export`` writes a string that would otherwise read as a number) -> that string;
    anything else stays the string: ``yes``/``off`` (no stringifying source writes a boolean
    that way) and ``"01"`` (``str`` never writes a number with a leading zero). Non-strings
    are returned unchanged. Use it only for such sources, never for typed values.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    low = text.lower()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            decoded = json.loads(text)
        except ValueError:
            return value
        return decoded if isinstance(decoded, str) else value
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        return float(text)
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return value
            return parsed if isinstance(parsed, (list, dict)) else value
    return value


def canonical_json(value: Any) -> str:
    """The canonical value as compact, key-sorted JSON (the input of every identity hash)."""
    return json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stable_hash(value: Any) -> str:
    """sha256 of :func:`canonical_json`: equal for values equal by meaning."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def numeric_value(value: Any) -> float | None:
    """The number a parameter value is, or None (booleans and strings are not numbers here)."""
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


def _reads_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def value_text(value: Any, spelling: str | None = None) -> str:
    """How a parameter value is stored and shown (``params.value_text``).

    Strings as written, unless they would read back as JSON (``"1.10"``, ``"true"``): then
    JSON-quoted. Everything else as JSON. ``spelling`` (the text a stringifying source wrote)
    is kept for a number it spells (``"2e-4"`` for 0.0002): numbers compare by ``value_num``.
    """
    if spelling is not None and numeric_value(value) is not None:
        try:
            decoded = json.loads(spelling)
        except ValueError:
            decoded = None
        if (not isinstance(decoded, bool) and isinstance(decoded, (int, float))
                and canonical(decoded) == canonical(value)):
            return spelling
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if _reads_as_json(value) else value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def from_value_text(text: str) -> Any:
    """The value :func:`value_text` stored: JSON where it reads as JSON, else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text
