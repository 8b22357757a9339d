"""Command-line overrides: generic ``--set a.b=value`` and the shortcuts pipelines declare.

Both are params sources, so both refuse key-looking values by the lab's one rule
(:func:`adlab.core.secrets.find_secret`), naming the option.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from adlab.config.yamlio import parse_scalar
from adlab.core.secrets import find_secret, secret_refusal
from adlab.errors import ConfigError


def parse_set_option(item: str, option: str = "--set",
                     example: str = "train.max_epochs=3") -> tuple[str, Any]:
    """``a.b=value`` -> ("a.b", parsed value). The value is read as a YAML scalar or flow list.
    ``option`` names the flag in messages (``--where`` filters are read the same way)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"{option} {item!r}: expected KEY=VALUE, e.g. {option} {example}")
    value = parse_scalar(raw, f"{option} {key}")
    refuse_secret(value, f"{option} {key}")
    return key, value


def refuse_secret(value: Any, option: str) -> None:
    """Refuse an override value (or anything nested in it) that looks like a credential."""
    found = find_secret(value)
    if found is not None:
        raise ConfigError(secret_refusal(option + (f" (at {found})" if found else "")))


def set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(
                f"override {dotted}: {part!r} holds a value ({child!r}), not a section, so "
                f"{dotted} cannot be set"
            )
        node = child
    node[parts[-1]] = value


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` wins; nested mappings merge key by key; lists are replaced whole."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_overrides(params: Mapping[str, Any], sets: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(dict(params))
    for key, value in sets:
        set_path(out, key, value)
    return out


def shortcut_sets(values: Mapping[str, Any], paths: Mapping[str, str]) -> list[tuple[str, Any]]:
    """Shortcut flags that were given (value not None) -> (dotted path, value) pairs.

    ``paths`` are the run's pipeline's shortcuts over every pipeline's declarations
    (:func:`adlab.pipelines.shortcut_paths`): a flag another pipeline declares sets its path
    here too, so validation names the field this pipeline lacks."""
    given = {name: value for name, value in values.items() if value is not None}
    unknown = sorted(set(given) - set(paths))
    if unknown:
        flag = "--" + unknown[0].replace("_", "-")
        raise ConfigError(f"{flag} is no pipeline's shortcut; set the field with --set KEY=VALUE")
    for name, value in given.items():
        refuse_secret(value, "--" + name.replace("_", "-"))
    return [(paths[name], value) for name, value in given.items()]
