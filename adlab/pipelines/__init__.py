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

__all__ = [
    "Dependency", "PipelineParams", "PipelineSpec", "RunCancelled", "RunContext", "RunInput",
    "register_pipeline", "get_pipeline", "list_pipelines",
]

# Modules that define a module-level ``SPEC`` (or call register_pipeline on import).
BUILTIN_SPEC_MODULES: tuple[str, ...] = (
    "adlab.pipelines.diag",
    "adlab.pipelines.pixelstats.spec",
    "adlab.pipelines.anomalib.spec",
    "adlab.pipelines.mmad.spec",
    "adlab.pipelines.read.spec",
    "adlab.pipelines.patchcore_study.spec",
)

_REGISTRY: dict[str, PipelineSpec] = {}
_LOADED = False


def register_pipeline(spec: PipelineSpec) -> PipelineSpec:
    """Add a pipeline; a second registration under the same name replaces the first."""
    _REGISTRY[spec.name] = spec
    return spec


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for module_name in BUILTIN_SPEC_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):  # pipeline not built yet
                continue
            raise
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, PipelineSpec):
            register_pipeline(spec)
    for ep in entry_points(group="adlab.pipelines"):
        obj = ep.load()
        if isinstance(obj, PipelineSpec):
            register_pipeline(obj)


def list_pipelines(pattern: str = "*") -> list[PipelineSpec]:
    """Registered pipelines whose name matches a shell-style wildcard, sorted by name."""
    _load()
    return [s for n, s in sorted(_REGISTRY.items()) if fnmatch.fnmatch(n, pattern)]


def get_pipeline(name: str) -> PipelineSpec:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise NotFoundError(
            f"unknown pipeline {name!r}; known pipelines: {known} (see `adlab pipelines`)"
        ) from None
