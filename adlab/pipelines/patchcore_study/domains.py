"""Train/test domains: ``category`` of the run's dataset, or ``dataset:category`` of another."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from adlab.errors import ConfigError


@dataclass(frozen=True)
class Domain:
    label: str  # as written in the config; used in metric scopes
    dataset: str
    root: Path
    category: str


class DomainSource(NamedTuple):
    """Where a domain's data is configured: its dataset, category, root (as written, None:
    $ADLAB_DATA_ROOT), the field that sets the root, and the layout options."""

    dataset: str
    category: str
    root: str | None
    root_field: str
    options: dict[str, Any]


def domain_source(text: str, params: object) -> DomainSource:
    """Resolve ``text`` against ``params`` (a PatchCoreStudyParams), reading nothing: the one
    rule the run and the queue-time check share."""
    from adlab.pipelines.patchcore_study.params import domain_problem

    data = params.data  # type: ignore[attr-defined]
    problem = domain_problem(text)
    if problem:
        raise ConfigError(problem)
    if ":" not in text:
        return DomainSource(data.dataset, text, data.root, "data.root", dict(data.options))
    dataset, _, category = text.partition(":")
    configured = params.cross_domain.roots.get(dataset)  # type: ignore[attr-defined]
    if configured is not None:
        root_field = f"cross_domain.roots.{dataset}"
    elif dataset == data.dataset:
        configured, root_field = data.root, "data.root"
    else:
        root_field = f"cross_domain.roots.{dataset}"
    options = dict(data.options) if dataset == data.dataset else {}
    return DomainSource(dataset, category, configured, root_field, options)


def parse_domain(text: str, params: object) -> Domain:
    """Resolve ``text`` against ``params`` (a PatchCoreStudyParams) to a dataset root on disk."""
    from adlab.data import dataset_root

    source = domain_source(text, params)
    return Domain(label=text, dataset=source.dataset, root=dataset_root(source.root, source.dataset),
                  category=source.category)


def domain_checks(params: object) -> list[Any]:
    """The queue-time checks of a cross-domain row: its train domain and every test domain,
    each naming the field that lists it (``adlab.data.checks.DatasetCheck``)."""
    from adlab.data.checks import DatasetCheck

    cd = params.cross_domain  # type: ignore[attr-defined]
    named = params.data.category_list()  # type: ignore[attr-defined]
    trains = params.train_domains()  # type: ignore[attr-defined]
    # The expansion writes the train domains into every row; data.categories when they are its.
    train_field = "data.categories" if not cd.train_domains or trains == named \
        else "cross_domain.train_domains"
    test_field = "cross_domain.test_domains" if cd.test_domains else train_field
    wanted = ([(cd.train, train_field)] if cd.train is not None else []) + \
        [(t, test_field) for t in params.test_domains()]  # type: ignore[attr-defined]
    checks = []
    for text, where in wanted:
        source = domain_source(text, params)
        checks.append(DatasetCheck.of(
            source.dataset, source.root, [source.category], source.options,
            root_field=source.root_field, categories_field=where,
            where=f"{where} entry {text!r}"))
    return checks


def run_categories(params: object) -> list[str]:
    """data.categories with ``all`` resolved against the dataset on disk."""
    from adlab.data import dataset_root, resolve_categories

    data = params.data  # type: ignore[attr-defined]
    root = dataset_root(data.root, data.dataset)
    return resolve_categories(data.dataset, root, data.category_list() or "all", **data.options)
