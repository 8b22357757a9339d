"""What a pipeline is and what it receives. Pipelines never import the database layer.

A pipeline is a params model ``P`` (pydantic, ``extra="forbid"``) plus a run function
``run(ctx: RunContext[P]) -> None``, registered as a ``PipelineSpec[P]``: the type checker sees
the same params class in the spec's hooks and in ``ctx.params``. Everything the pipeline
reports goes through the context; the worker turns it into database rows. Heavy imports (torch, anomalib) belong inside the
runner module, which the registry imports only when a run executes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, Mapping, Protocol, Sequence, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from adlab.core.vocabulary import ArtifactKind, MetricInfo
from adlab.errors import NotFoundError, PipelineError
from adlab.pipelines.views import CliShortcut, DetailTab


class PipelineParams(BaseModel):
    """Base for every pipeline's params: unknown fields are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


P = TypeVar("P", bound=PipelineParams)
P_co = TypeVar("P_co", bound=PipelineParams, covariant=True)


class RunCancelled(Exception):
    """Raised by :meth:`RunContext.check_cancelled` when the user cancelled the run."""


@runtime_checkable
class PartialStore(Protocol):
    """Partial results that survive a crash: a resumed run reads them back and skips done work."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def put(self, key: str, value: Any) -> None: ...

    def items(self, prefix: str = "") -> dict[str, Any]: ...


@runtime_checkable
class RunContext(Protocol[P_co]):
    """Everything a pipeline may use while it runs.

    Two implementations keep this contract: the worker's (``adlab.worker.context``, database
    rows) and the in-memory one (``adlab.pipelines.local``); ``tests/pipelines/
    test_context_contract.py`` runs the same assertions against both.
    """

    run_id: int
    name: str
    output_dir: Path
    device: str  # "cpu" or "cuda:N"
    seed: int | None
    state: PartialStore

    @property
    def params(self) -> P_co:
        """The run's validated params (the spec's ``params_model``)."""

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Report work done (e.g. images scored) out of total; cheap to call often."""

    def log(self, message: str, level: str = "info") -> None:
        """A line for the run's log (shown by ``adlab logs`` and the TUI)."""

    def metric(self, key: str, value: float | None, *, scope: str = "", step: int | None = None,
               note: str | None = None) -> None:
        """Record one metric value; ``scope`` is e.g. a category name, "" for the run as a whole.
        None or NaN is an undefined value (stored as None, ``note`` says why). A run holds one
        value per (key, scope, step): recording one again replaces it."""

    def artifact(self, path: Path, kind: ArtifactKind) -> None:
        """Record a file the run produced (its sha256 and size are computed by the recorder);
        an unknown kind name is a :class:`PipelineError` (see :func:`artifact_kind`)."""

    def check_cancelled(self) -> None:
        """Raise :class:`RunCancelled` if the user cancelled; call between units of work."""

    def set_info(self, key: str, value: Any) -> None:
        """Record provenance facts (e.g. weights source, parity figures) on the run."""

    @property
    def inputs(self) -> list["RunInput"]:
        """The runs this run depends on (e.g. the AD run feeding an MMAD run), finished."""


def artifact_kind(kind: ArtifactKind | str) -> str:
    """The stored name of an artifact kind; a name outside :class:`ArtifactKind` is an error."""
    try:
        return ArtifactKind.parse(kind).value
    except ValueError as exc:
        raise PipelineError(f"{exc} (add the kind to adlab.core.vocabulary.ArtifactKind)") from None


def metric_value(value: float | None) -> float | None:
    """A metric as recorded: a float, or None for undefined (None or NaN)."""
    v = None if value is None else float(value)
    return None if v is not None and v != v else v


@dataclass(frozen=True)
class RunInput:
    """A finished prerequisite run as the dependent pipeline sees it."""

    run_id: int
    pipeline: str
    status: str
    output_dir: Path | None
    artifacts: tuple[tuple[str, Path], ...]  # (kind, absolute path)
    config: Mapping[str, Any]

    def artifact(self, kind: ArtifactKind | str) -> Path | None:
        """The newest artifact of ``kind`` or None."""
        name = artifact_kind(kind)
        found = [p for k, p in self.artifacts if k == name]
        return found[-1] if found else None


@dataclass(frozen=True)
class Dependency:
    """A prerequisite a pipeline asks for at queue time.

    Either ``run_id`` (an existing run to wait for) or ``pipeline`` + ``params`` (a new run to
    queue; an identical config that already succeeded or is queued is reused instead).
    """

    pipeline: str | None = None
    params: Mapping[str, Any] | None = None
    run_id: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class PipelineSpec(Generic[P]):
    """A registered pipeline. ``runner`` is ``"module:function"`` so listing stays import-light."""

    name: str
    params_model: type[P]
    runner: str
    description: str
    # Dotted param paths that define the evaluation partition (dataset, categories, protocol):
    # runs that differ in any of them are never ranked together.
    partition_keys: tuple[str, ...] = ()
    # Dotted param paths excluded from the default group (seeds, output paths, device hints).
    non_group_keys: tuple[str, ...] = ()
    # The metric shown in listings and used by default for ranking (scope "" value).
    headline_metric: str | None = None
    # Automatic run name, formatted with the flattened params (dots become underscores).
    name_template: str | None = None
    # Optional hook: one validated params object -> several runs (e.g. one per category).
    expand: Callable[[P], list[P]] | None = field(default=None)
    # Flags of ``adlab queue`` that set one param each (``--few-shot 2`` -> eval.few_shot).
    cli_shortcuts: tuple[CliShortcut, ...] = ()
    # Optional hook: prerequisite runs to queue (or reuse) before this one; the run waits for
    # them and receives them as ``ctx.inputs``.
    dependencies: Callable[[P], list["Dependency"]] | None = field(default=None)
    # Optional hook: extra facts derived from params (e.g. resolved category list) that join
    # the flattened params for naming and for the comparison partition.
    derived: Callable[[P], Mapping[str, Any]] | None = field(default=None)
    # Optional hook: the data one run reads, as checks ``adlab queue`` runs before queueing
    # (``adlab.data.checks.DataCheck``: hashable, ``run() -> warnings``, raising a refusal);
    # without it, the run's ``data`` section when it is a DatasetSelection.
    data_checks: Callable[[P], Sequence[Any]] | None = field(default=None)
    # What this pipeline offers other pipelines, by name -> "module:function" (imported on first
    # use): another pipeline calls ``get_pipeline("anomalib").service("fit_normals")`` instead
    # of importing this package's modules, so no pipeline package imports another.
    services: Mapping[str, str] = field(default_factory=dict)
    # What each metric key the pipeline records means (direction, fraction/percent, unit), for
    # every scope: comparisons, pivots and reports rank and format by it, never by its name.
    metrics: Mapping[str, MetricInfo] = field(default_factory=dict)
    # Pipeline-specific views (adlab.pipelines.views), each "module:function" imported only
    # when shown: ``flat_table(records, sort) -> FlatTableView`` (``adlab compare --flat``),
    # ``report_sections(records) -> list[SectionView]`` (``adlab report``; it receives every
    # run of the report and picks the ones it can show), and tabs of the TUI run detail.
    flat_table: str | None = None
    report_sections: str | None = None
    detail_tabs: tuple[DetailTab, ...] = ()
    # The adlab[...] extras the runner's code imports (pyproject.toml says what each installs);
    # a run on an install without them fails with one sentence naming them (pipelines.extras).
    extras: tuple[str, ...] = ()

    @property
    def shortcut_paths(self) -> dict[str, str]:
        """CLI shortcut name (``few_shot``) -> the dotted param path it sets."""
        return {s.name: s.path for s in self.cli_shortcuts}

    def load_runner(self) -> Callable[[RunContext[P]], None]:
        return load_ref(self.runner)

    def service(self, name: str) -> Callable[..., Any]:
        """The function this pipeline offers under ``name``; unknown -> NotFoundError."""
        if name not in self.services:
            offered = ", ".join(sorted(self.services)) or "none"
            raise NotFoundError(f"pipeline {self.name!r} offers no service {name!r}; it offers: "
                                f"{offered}")
        return load_ref(self.services[name])


def load_ref(ref: str) -> Any:
    """The object a ``"module:attribute"`` reference names (hooks stay import-light this way)."""
    import importlib

    module_name, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module_name), attr)
