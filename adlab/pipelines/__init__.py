"""Pipeline registry: built-in pipelines plus plugins from the ``adlab.pipelines`` entry point.

Like timm's ``@register_model``: a name maps to a spec; an unknown name is an error that lists
what exists. Spec modules must import quickly (pydantic only) so ``adlab pipelines`` and
``adlab queue`` never pay for torch.
"""
from __future__ import annotations

import fnmatch
import importlib
from importlib.metadata import entry_points

from adlab.errors import NotFoundError
from adlab.pipelines.base import (Dependency, PipelineParams, PipelineSpec, RunCancelled,
                                  RunContext, RunInput)
from adlab.pipelines.views import CliShortcut

__all__ = [
    "Dependency", "PipelineParams", "PipelineSpec", "RunCancelled", "RunContext", "RunInput",
    "register_pipeline", "get_pipeline", "list_pipelines", "declared_shortcuts", "shortcut_paths",
]

# Built-in pipeline name -> the module defining it (a module-level ``SPEC``, or a call to
# ``register_pipeline`` on import). Named here so looking up one pipeline imports one module:
# params models are pydantic classes, and building all of them costs ~0.3 s per command.
BUILTIN_PIPELINES: dict[str, str] = {
    "diag": "adlab.pipelines.diag",
    "anomalib": "adlab.pipelines.anomalib.spec",
    "anomalib_import": "adlab.pipelines.anomalib.checkpoint_spec",
    "mmad": "adlab.pipelines.mmad.spec",
    "mmad_ad": "adlab.pipelines.mmad.spec",
    "read": "adlab.pipelines.read.spec",
    "patchcore_study": "adlab.pipelines.patchcore_study.spec",
}
BUILTIN_SPEC_MODULES: tuple[str, ...] = tuple(dict.fromkeys(BUILTIN_PIPELINES.values()))

_REGISTRY: dict[str, PipelineSpec] = {}
_LOADED = False


def register_pipeline(spec: PipelineSpec) -> PipelineSpec:
    """Add a pipeline; a second registration under the same name replaces the first."""
    _REGISTRY[spec.name] = spec
    return spec


def _import_spec_module(module_name: str) -> None:
    module = importlib.import_module(module_name)
    spec = getattr(module, "SPEC", None)
    if isinstance(spec, PipelineSpec):
        register_pipeline(spec)


def _load() -> None:
    """Everything: every built-in module and the ``adlab.pipelines`` entry-point plugins."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for module_name in BUILTIN_SPEC_MODULES:
        _import_spec_module(module_name)
    for ep in entry_points(group="adlab.pipelines"):
        obj = ep.load()
        if isinstance(obj, PipelineSpec):
            register_pipeline(obj)


def list_pipelines(pattern: str = "*") -> list[PipelineSpec]:
    """Registered pipelines whose name matches a shell-style wildcard, sorted by name."""
    _load()
    return [s for n, s in sorted(_REGISTRY.items()) if fnmatch.fnmatch(n, pattern)]


def get_pipeline(name: str) -> PipelineSpec:
    if name not in _REGISTRY and name in BUILTIN_PIPELINES:
        _import_spec_module(BUILTIN_PIPELINES[name])
    if name not in _REGISTRY:
        _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise NotFoundError(
            f"unknown pipeline {name!r}; known pipelines: {known} (see `adlab pipelines`)"
        ) from None


def declared_shortcuts() -> list[CliShortcut]:
    """Every registered pipeline's CLI shortcuts, once per name (the first declaration wins)."""
    seen: dict[str, CliShortcut] = {}
    for spec in list_pipelines():
        for s in spec.cli_shortcuts:
            seen.setdefault(s.name, s)
    return list(seen.values())


def shortcut_paths(spec: PipelineSpec) -> dict[str, str]:
    """Shortcut name -> dotted path for runs of ``spec``: its own declarations over every
    other pipeline's (a flag it does not declare still sets the declaring pipeline's path,
    and validation names the field it lacks)."""
    return {**{s.name: s.path for s in declared_shortcuts()}, **spec.shortcut_paths}
