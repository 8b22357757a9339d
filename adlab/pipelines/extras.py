"""Optional extras: the one sentence a run earns when its pipeline's extra is not installed.

A pipeline declares the ``adlab[...]`` extras its code imports (``PipelineSpec.extras``). What
each extra installs is written once, in pyproject.toml; this module reads it back from adlab's
installed metadata (``Requires-Dist: torch; extra == "anomalib"``), so the check names exactly
what ``pip install 'adlab[anomalib]'`` adds. It judges only after an import failed: a CUDA
install that has onnxruntime-gpu instead of onnxruntime is never refused for the name.
"""
from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from importlib import metadata

from adlab.errors import PipelineError

DISTRIBUTION = "adlab"
# "name[extras] (>=1.0); extra == 'x'": the distribution name and the extra that adds it.
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[([^\]]*)\])?[^;]*;(.*)$")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


class MissingExtraError(PipelineError):
    """A pipeline's code needs packages of an adlab extra that is not installed here."""


@functools.lru_cache(maxsize=None)
def extra_distributions(extra: str) -> tuple[str, ...]:
    """Distribution names that ``adlab[extra]`` installs (``adlab[a,b]`` entries followed);
    empty when adlab's metadata is unavailable (running from an uninstalled source tree)."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return ()
    names: list[str] = []
    for line in requirements:
        match = _REQUIREMENT.match(line)
        marker = _EXTRA_MARKER.search(match.group(4)) if match else None
        if match is None or marker is None or marker.group(1) != extra:
            continue
        name, inner = match.group(1), match.group(3)
        if name.lower() == DISTRIBUTION and inner:
            for sub in inner.split(","):
                names.extend(extra_distributions(sub.strip()))
        else:
            names.append(name)
    return tuple(dict.fromkeys(names))


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def missing_distributions(extras: tuple[str, ...]) -> list[str]:
    """The distributions of ``extras`` not installed in this environment."""
    wanted = dict.fromkeys(d for extra in extras for d in extra_distributions(extra))
    return [name for name in wanted if not _installed(name)]


def install_hint(pipeline: str, extras: tuple[str, ...], missing: list[str]) -> str:
    """``pipeline 'anomalib' needs the 'anomalib' extra: pip install 'adlab[anomalib]' (...)``."""
    names = " and ".join(f"'{e}'" for e in extras)
    noun = "extra" if len(extras) == 1 else "extras"
    return (f"pipeline '{pipeline}' needs the {names} {noun}: "
            f"pip install 'adlab[{','.join(extras)}]' (not installed here: {', '.join(missing)})")


@contextlib.contextmanager
def extras_needed(pipeline: str, extras: tuple[str, ...]) -> Iterator[None]:
    """Turn a ModuleNotFoundError inside the block into :class:`MissingExtraError` when the
    pipeline's extras are not all installed; any other import failure passes unchanged."""
    try:
        yield
    except ModuleNotFoundError as exc:
        own_module = (exc.name or "").split(".")[0] == DISTRIBUTION
        missing = missing_distributions(extras) if extras and not own_module else []
        if not missing:
            raise
        raise MissingExtraError(install_hint(pipeline, extras, missing)) from exc
