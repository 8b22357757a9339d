"""YAML reading with YAML 1.2 numbers and ``${VAR}`` / ``${VAR:-default}`` expansion.

PyYAML follows YAML 1.1, where ``2e-4`` is a *string*; researchers write learning rates that
way, so the loader resolves 1.2-style floats as numbers. Environment references are expanded
in string values after parsing (a whole-value reference is re-read as a YAML scalar, so
``${EPOCHS:-3}`` becomes the integer 3).

Every document is checked as a node graph before any value is built, because PyYAML shares an
aliased value and the loader's later walks (env expansion, merging, hashing) copy it out:
an alias bomb ("billion laughs") would take minutes and gigabytes there, and a recursive
anchor would recurse forever. So: aliases may expand the document to at most
:data:`MAX_EXPANDED_NODES` values, an anchor may not be used inside itself, a mapping may not
repeat a key (PyYAML would keep the last silently) and files must be UTF-8. Each is one
sentence naming the file (and the line), as a :class:`~adlab.errors.ConfigError`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from adlab.errors import ConfigError


MAX_EXPANDED_NODES = 100_000
"""Values a document may hold once its aliases are expanded (a study file has hundreds)."""


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats that remembers which anchor named which node."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.anchor_names: dict[int, str] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        anchor = None if isinstance(event, yaml.AliasEvent) else event.anchor
        node = super().compose_node(parent, index)
        if anchor is not None:
            self.anchor_names[id(node)] = anchor
        return node


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


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _check_graph(root: yaml.Node, where: str, anchors: dict[int, str]) -> None:
    """Refuse recursive anchors, duplicate keys and alias expansions past the bound, walking
    each node once (sizes are memoized, so a billion-laughs graph costs its file size)."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            if size[key] > MAX_EXPANDED_NODES:
                raise ConfigError(
                    f"{where}: its YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values "
                    "(an alias bomb?); write the values out or use fewer aliases")
            continue
        if key in size:
            continue
        on_path.add(key)
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicate_keys(node, where)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in on_path:
                name = anchors.get(id(kid))
                anchor = f"anchor &{name}" if name else "an anchor"
                raise ConfigError(
                    f"{where}, line {_line(kid)}: {anchor} is used inside itself (recursive "
                    "YAML); a config must be a tree, so copy the values instead of the alias")
            if id(kid) not in size:
                stack.append((kid, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _refuse_duplicate_keys(node: yaml.MappingNode, where: str) -> None:
    first: dict[tuple[str, str], int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        ident = (key_node.tag, key_node.value)
        if ident in first:
            raise ConfigError(
                f"{where}, line {_line(key_node)}: key {key_node.value!r} appears twice in one "
                f"mapping (first at line {first[ident]}); keep one of them")
        first[ident] = _line(key_node)


def load_yaml(text: str, where: str) -> Any:
    """Parse one YAML document after :func:`_check_graph` (``yaml.YAMLError`` passes through
    for the caller to word; the graph problems are :class:`ConfigError` naming ``where``)."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ConfigError(f"{where}: the YAML nests too deeply to read; flatten it") from None
        if node is None:
            return None
        _check_graph(node, where, loader.anchor_names)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_user_text(path: Path, what: str = "file") -> str:
    """The UTF-8 text of a file the user wrote (a BOM is dropped); a file in another encoding
    is one sentence naming the file, the byte offset and line of the first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at byte offset "
            f"{exc.start}, line {line}); save it as UTF-8") from None


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
