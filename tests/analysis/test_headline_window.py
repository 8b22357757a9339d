"""The one-statement headline ranking (``RANK() OVER (PARTITION BY group ...)``) gives exactly
the answer of the per-group seeks it replaced (:mod:`headline_per_group`, the code of commit
ce64ef7), on a lab built to tell them apart: 60 stored groups over three datasets, values
rounded to two decimals (ties everywhere, also at every cut), undefined (NULL) values, groups
with fewer valued runs than the cut, failed runs with results, and runs whose headline is
another metric. Rows, ranks, run details and every group aggregate must be identical, and so
must the whole comparison ``adlab compare`` prints and the TUI's compare screen shows."""
from __future__ import annotations

import random

import headline_per_group
import pytest

from adlab.analysis import compare as compare_mod
from adlab.analysis.compare import compare
from adlab.db import headline_ranking
from adlab.db.compare_queries import RunFilter
from adlab.interchange.importers import ImportedRun, write_runs

LRS = ("1e-4", "2e-4", "5e-4", "1e-3", "2e-3", "5e-3", "1e-2", "2e-2", "5e-2", "0.1")


def _runs(n: int, seed: int = 11) -> list[ImportedRun]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        params = {"dataset": rng.choice(["mvtec", "visa", "mpdd"]), "lr": rng.choice(LRS),
                  "use_router": rng.choice(["true", "false"]), "dia": rng.choice([4, 6, 8]),
                  "seed": rng.randrange(5)}
        if rng.random() < 0.15:
            params["topk"] = rng.choice([3, 5])  # missing in most runs: a group of None
        # some groups hold almost only undefined values: fewer valued runs than the cut
        sparse = params["lr"] == "0.1" and params["dataset"] == "mpdd"
        undefined = rng.random() < (0.8 if sparse else 0.1)
        value = None if undefined else round(rng.uniform(0.90, 0.95), 2)
        if rng.random() < 0.08:  # another headline, without img_auc: not in this ranking
            metrics = [("pix_ap", "", round(rng.random(), 3))]
            headline = "pix_ap"
        else:
            metrics = [("img_auc", "", value), ("pix_ap", "", round(rng.random(), 3))]
            headline = "img_auc"
        out.append(ImportedRun(name=f"w{i:04d}", pipeline="moleflow", params=params,
                               metrics=metrics, study=f"s{i % 4}",
                               status="failed" if rng.random() < 0.05 else "succeeded",
                               group_keys=["lr", "use_router"], partition_keys=["dataset"],
                               headline_metric=headline))
    return out


def _exact(rows, aggregates):
    listed = sorted((r.group_id, r.rank is None, r.rank or 0, r.run_id, r.value, r.name,
                     r.pipeline, r.partition_hash, tuple(sorted(r.key_values.items())), r.seed,
                     r.info_json, r.group_keys_json) for r in rows)
    aggs = {gid: (a.n, a.runs, a.total, a.total_sq) for gid, a in aggregates.items()}
    return listed, aggs


CASES = [
    dict(),
    dict(top=1),
    dict(top=3),
    dict(top=5, higher_is_better=False),
    dict(top=50),
    dict(filters=RunFilter(statuses=("succeeded",)), top=3),
    dict(filters=RunFilter(statuses=()), top=2),
    dict(filters=RunFilter(study="s1", statuses=("succeeded", "failed")), top=2),
    dict(group_keys=["dia"], top=2),
    dict(group_keys=["topk", "dia"], top=3, higher_is_better=False),
    dict(group_keys=["lr"], top=2, pins=compare_mod._stored_group_pins),
    dict(group_keys=["use_router"], top=4, pins=compare_mod._stored_group_pins,
         higher_is_better=False),
    dict(group_keys=["dataset"], pins=compare_mod._stored_group_pins),
]


def _check_lab(engine, cases) -> None:
    for case in cases:
        kwargs = {"metric": "img_auc", **case}
        assert headline_ranking.applies(engine, metric="img_auc", scope="",
                                        filters=case.get("filters")), case
        new = _exact(*headline_ranking.ranked_rows(engine, **kwargs))
        old = _exact(*headline_per_group.ranked_rows(engine, **kwargs))
        assert new == old, case


@pytest.fixture
def window_lab(engine):
    write_runs(engine, _runs(900), source="generated")
    return engine


def test_the_lab_has_what_could_tell_the_paths_apart(window_lab):
    rows, aggregates = headline_ranking.ranked_rows(window_lab, metric="img_auc", top=3)
    assert len(aggregates) == 60
    listed = {}
    for r in rows:
        listed.setdefault(r.group_id, []).append(r)
    assert any(len(rs) > 3 for rs in listed.values())  # ties at the cut came along
    assert any(a.n < 3 for a in aggregates.values())  # fewer valued runs than the cut ...
    assert any(r.rank is None for r in rows)  # ... so their undefined runs are listed too
    assert sum(a.n < a.runs for a in aggregates.values()) > 30  # NULLs in most groups


@pytest.mark.parametrize("case", CASES, ids=[str({k: v for k, v in c.items() if k != "pins"})
                                             + (" pins" if "pins" in c else "") for c in CASES])
def test_one_window_equals_the_per_group_seeks(window_lab, case):
    _check_lab(window_lab, [case])


@pytest.mark.parametrize("case", [dict(top=3), dict(top=50), dict(group_keys=["dia"], top=2),
                                  dict(group_keys=["lr"], top=1), dict()])
def test_comparisons_equal_the_per_group_seeks(window_lab, monkeypatch, case):
    """What ``adlab compare`` prints and the compare screen shows, on both implementations."""
    kwargs = {"metrics": ["img_auc", "pix_ap"], "filters": RunFilter(statuses=("succeeded",)),
              **case}
    new = compare(window_lab, **kwargs).to_json()
    monkeypatch.setattr(compare_mod, "headline_ranking", headline_per_group)
    assert compare(window_lab, **kwargs).to_json() == new


@pytest.mark.postgres
def test_one_window_equals_the_per_group_seeks_on_postgresql(pg_url, monkeypatch):
    from adlab.db.engine import get_engine

    engine = get_engine(pg_url)
    write_runs(engine, _runs(600, seed=5), source="generated")
    _check_lab(engine, CASES)
    kwargs = {"metrics": ["img_auc", "pix_ap"], "top": 3}
    new = compare(engine, **kwargs).to_json()
    monkeypatch.setattr(compare_mod, "headline_ranking", headline_per_group)
    assert compare(engine, **kwargs).to_json() == new
