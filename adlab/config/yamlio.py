"""YAML reading with YAML 1.2 numbers and ``${VAR}`` / ``${VAR:-default}`` expansion.

PyYAML follows YAML 1.1, where ``2e-4`` is a *string*; researchers write learning rates that
way, so the loader resolves 1.2-style floats as numbers. Environment references are expanded
in string values after parsing (a whole-value reference is re-read as a YAML scalar, so
``${EPOCHS:-3}`` becomes the integer 3).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from adlab.errors import ConfigError


class _Loader(yaml.SafeLoader):
    pass


_FLOAT_12 = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:float"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def parse_scalar(text: str) -> Any:
    """Read one override/env value as YAML would (numbers, booleans, null, lists)."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
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
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config file {path}: invalid YAML{at}: {problem}; fix the syntax") from None
    if data is None:
        raise ConfigError(f"config file {path} is empty; it needs at least `pipeline:`")
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path}: the top level must be a mapping of fields, got {type(data).__name__}"
        )
    return expand_env(data, str(path))
