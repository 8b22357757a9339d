"""Guarded YAML reading for every file a user hands adlab: one rule, one loader.

PyYAML follows YAML 1.1, where ``2e-4`` is a *string*; researchers write learning rates that
way, so the loader resolves 1.2-style floats as numbers.

Every document is checked as a node graph before any value is built, because PyYAML shares an
aliased value and later walks (env expansion, merging, hashing) copy it out: an alias bomb
("billion laughs") would take minutes and gigabytes there, and a recursive anchor would recurse
forever. So: aliases may expand the document to at most :data:`MAX_EXPANDED_NODES` values, an
anchor may not be used inside itself, a mapping may not repeat a key (PyYAML would keep the last
silently), nesting too deep to read is refused and files must be UTF-8.

The study-file reader (:mod:`adlab.config.yamlio`) and the pipelines' own YAML inputs
(thresholds files, ``ad.config``, a seed's ``config.yaml``) all read through here. This module
sits in the core, which imports nothing else of adlab, so each refusal is a one-sentence
:class:`YamlInputError` (a ``ValueError``) naming the file; functions take ``error`` (e.g.
``adlab.errors.ConfigError``) to raise the caller's own type instead.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import yaml

MAX_EXPANDED_NODES = 100_000
"""Values a document may hold once its aliases are expanded (a study file has hundreds)."""


class YamlInputError(ValueError):
    """A YAML input is unsafe or unreadable; ``str()`` is one sentence naming the file and fix."""


ErrorFactory = Callable[[str], Exception]


class Yaml12Loader(yaml.SafeLoader):
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
Yaml12Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:float"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))

_MERGE_TAG = "tag:yaml.org,2002:merge"


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _refuse_duplicate_keys(node: yaml.MappingNode, where: str, error: ErrorFactory) -> None:
    first: dict[tuple[str, str], int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        ident = (key_node.tag, key_node.value)
        if ident in first:
            raise error(
                f"{where}, line {_line(key_node)}: key {key_node.value!r} appears twice in one "
                f"mapping (first at line {first[ident]}); keep one of them")
        first[ident] = _line(key_node)


def check_graph(root: yaml.Node, where: str, anchors: dict[int, str],
                error: ErrorFactory = YamlInputError) -> None:
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
            size[key] = 1 + sum(size[id(k)] for k in _children(node))
            if size[key] > MAX_EXPANDED_NODES:
                raise error(
                    f"{where}: its YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values "
                    "(an alias bomb?); write the values out or use fewer aliases")
            continue
        if key in size:
            continue
        on_path.add(key)
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicate_keys(node, where, error)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in on_path:
                name = anchors.get(id(kid))
                anchor = f"anchor &{name}" if name else "an anchor"
                raise error(
                    f"{where}, line {_line(kid)}: {anchor} is used inside itself (recursive "
                    "YAML); the file must be a tree, so copy the values instead of the alias")
            if id(kid) not in size:
                stack.append((kid, False))


def load_yaml(text: str, where: str, error: ErrorFactory = YamlInputError) -> Any:
    """Parse one YAML document after :func:`check_graph`. ``yaml.YAMLError`` (bad syntax)
    passes through for the caller to word (:func:`syntax_problem`); the graph problems are
    ``error(sentence)`` naming ``where``."""
    loader = Yaml12Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise error(f"{where}: the YAML nests too deeply to read; flatten it") from None
        if node is None:
            return None
        check_graph(node, where, loader.anchor_names, error)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def syntax_problem(exc: yaml.YAMLError) -> str:
    """``invalid YAML at line L, column C: <problem>``: PyYAML's multi-line report, in a phrase."""
    mark = getattr(exc, "problem_mark", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"invalid YAML{at}: {problem}"


def decode_user_text(data: bytes, path: Path | str, what: str = "file",
                     error: ErrorFactory = YamlInputError) -> str:
    """The UTF-8 text of a file the user wrote (a BOM is dropped); another encoding is one
    sentence naming the file, the byte offset and line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at byte offset "
            f"{exc.start}, line {line}); save it as UTF-8") from None


def read_yaml_file(path: Path, what: str = "YAML file", error: ErrorFactory = YamlInputError) -> Any:
    """The document of a YAML file the user gave (None when empty), every problem (unreadable,
    not UTF-8, bad syntax, alias bomb, recursive anchor, duplicate key, too deep) one sentence
    ``error(...)`` that starts with ``"<what> <path>"``."""
    where = f"{what} {path}"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise error(f"{where} cannot be read ({exc.strerror or exc}); check the path and its "
                    "permissions") from None
    text = decode_user_text(data, path, what, error)
    try:
        return load_yaml(text, where, error)
    except yaml.YAMLError as exc:
        raise error(f"{where}: {syntax_problem(exc)}; fix the syntax") from None
