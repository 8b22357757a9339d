"""YAML reading with YAML 1.2 numbers and ``${VAR}`` / ``${VAR:-default}`` expansion.

PyYAML follows YAML 1.1, where ``2e-4`` is a *string*; researchers write learning rates that
way, so the loader resolves 1.2-style floats as numbers. Environment references are expanded
in string values after parsing (a whole-value reference is re-read as a YAML scalar, so
``${EPOCHS:-3}`` becomes the integer 3).

Every document goes through the guarded reading of :mod:`adlab.core.yaml_safety` (alias bombs,
recursive anchors, duplicate keys, too-deep nesting and non-UTF-8 files refused before any value
is built), the one rule the pipelines' own YAML inputs use too; here each refusal is one
sentence naming the file (and the line), as a :class:`~adlab.errors.ConfigError`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from adlab.core import yaml_safety
from adlab.core.yaml_safety import MAX_EXPANDED_NODES
from adlab.errors import ConfigError

__all__ = ["MAX_EXPANDED_NODES", "expand_env", "load_yaml", "parse_scalar", "read_config_file",
           "read_user_text"]


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_yaml(text: str, where: str) -> Any:
    """Parse one YAML document with the core's checks (``yaml.YAMLError`` passes through for
    the caller to word; the graph problems are :class:`ConfigError` naming ``where``)."""
    return yaml_safety.load_yaml(text, where, ConfigError)


def read_user_text(path: Path, what: str = "file") -> str:
    """The UTF-8 text of a file the user wrote (a BOM is dropped); a file in another encoding
    is one sentence naming the file, the byte offset and line of the first bad byte."""
    return yaml_safety.decode_user_text(path.read_bytes(), path, what, ConfigError)


def parse_scalar(text: str, where: str = "value") -> Any:
    """Read one override/env value as YAML would (numbers, booleans, null, lists); text that is
    not YAML stays text, but an alias bomb or duplicate key is refused naming ``where``."""
    try:
        return load_yaml(text, where)
    except yaml.YAMLError:
        return text


def _expand_str(value: str, where: str) -> Any:
    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{where}: environment variable ${{{name}}} is not set; export it or write "
            f"${{{name}:-default}} in the file"
        )

    full = _ENV_REF.fullmatch(value)
    expanded = _ENV_REF.sub(repl, value)
    return parse_scalar(expanded) if full else expanded


def expand_env(obj: Any, where: str) -> Any:
    if isinstance(obj, str):
        return _expand_str(obj, where) if "${" in obj else obj
    if isinstance(obj, dict):
        return {k: expand_env(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, list):
        return [expand_env(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    return obj


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML (or JSON) config file into a dict, with env references expanded."""
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist; check the path")
    if path.is_dir():
        raise ConfigError(f"config path {path} is a folder; give a YAML file")
    where = f"config file {path}"
    try:
        text = read_user_text(path, "config file")
        if path.suffix.lower() == ".json":  # JSON with // comments, as seed 002 writes it
            from adlab.config.jsonc import strip_json_comments

            text = strip_json_comments(text)
        data = load_yaml(text, where)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: {yaml_safety.syntax_problem(exc)}; fix the syntax") from None
    if data is None:
        raise ConfigError(f"config file {path} is empty; it needs at least `pipeline:`")
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path}: the top level must be a mapping of fields, got {type(data).__name__}"
        )
    return expand_env(data, str(path))
