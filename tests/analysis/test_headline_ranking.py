"""The index-only ranking by ``runs.headline_value`` gives exactly the answer of the SQL window
over ``metrics``, on a lab built to break it: values rounded to two decimals (many ties),
undefined (NULL) values, numbers and booleans spelled several ways, three datasets, failed runs
with results, and runs whose headline is another metric."""
from __future__ import annotations

import random

import pytest

from adlab.analysis import compare as compare_mod
from adlab.analysis.compare import compare
from adlab.interchange.importers import ImportedRun, write_runs
from adlab.db import compare_queries as cq
from adlab.db import headline_ranking
from adlab.db.compare_queries import RunFilter

LR_SPELLINGS = {2e-4: ("2e-4", "0.0002", "2E-4"), 1e-4: ("1e-4", "0.0001")}
FLAG_SPELLINGS = {True: ("true", "True", "yes"), False: ("false", "no")}


def _runs(n: int, seed: int = 7) -> list[ImportedRun]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lr = rng.choice(list(LR_SPELLINGS))
        flag = rng.choice([True, False])
        params = {"dataset": rng.choice(["mvtec", "visa", "mpdd"]),
                  "lr": rng.choice(LR_SPELLINGS[lr]), "dia": rng.choice([4, 6, "6.0", 8]),
                  "use_router": rng.choice(FLAG_SPELLINGS[flag]), "seed": rng.randrange(3)}
        if rng.random() < 0.1:
            params["topk"] = rng.choice([3, 5])  # missing in most runs: groups as None
        value = None if rng.random() < 0.08 else round(rng.uniform(0.90, 0.95), 2)
        metrics = [("img_auc", "", value), ("pix_ap", "", round(rng.random(), 3))]
        out.append(ImportedRun(name=f"r{i:03d}", pipeline="moleflow", params=params,
                               metrics=metrics, study=f"s{i % 3}",
                               status="failed" if rng.random() < 0.05 else "succeeded",
                               group_keys=["lr", "use_router"], partition_keys=["dataset"],
                               headline_metric="img_auc"))
    return out


@pytest.fixture
def tie_lab(engine):
    write_runs(engine, _runs(240), source="generated")
    return engine


def _normalised(rows, aggregates):
    listed = sorted((r.run_id, r.group_id, r.rank, r.value, r.partition_hash,
                     tuple(sorted(r.key_values.items()))) for r in rows)
    aggs = {gid: (a.n, a.runs, round(a.total, 9), round(a.total_sq, 9))
            for gid, a in aggregates.items()}
    return listed, aggs


def _assert_same_ranking(got, window) -> None:
    """Rows, group sizes and value counts identical; sums equal up to summation order."""
    assert got[0] == window[0]
    assert {g: a[:2] for g, a in got[1].items()} == {g: a[:2] for g, a in window[1].items()}
    for gid, (_, _, total, total_sq) in got[1].items():
        assert total == pytest.approx(window[1][gid][2], rel=1e-12)
        assert total_sq == pytest.approx(window[1][gid][3], rel=1e-12)


CASES = [
    dict(),
    dict(top=1),
    dict(top=3),
    dict(top=50),
    dict(higher_is_better=False, top=2),
    dict(group_keys=["lr"]),
    dict(group_keys=["dia", "use_router"], top=2),
    dict(group_keys=["topk"], top=4, higher_is_better=False),
    dict(filters=RunFilter(study="s1"), top=2),
    dict(filters=RunFilter(statuses=()), group_keys=["dia"]),
    dict(filters=RunFilter(pipeline="moleflow", study="s2"), top=3),
]


@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_headline_path_equals_the_window_over_metrics(tie_lab, case):
    kwargs = {"metric": "img_auc", **case}
    assert headline_ranking.applies(tie_lab, metric="img_auc", scope="",
                                    filters=case.get("filters"))
    fast = _normalised(*headline_ranking.ranked_rows(tie_lab, **kwargs))
    window = _normalised(*cq.ranked_rows(tie_lab, **kwargs))
    assert fast == window
    assert any(rank is None for _, _, rank, *_ in fast[0]) or case.get("top")
    assert len({v for _, _, _, v, *_ in fast[0]}) < len(fast[0])  # ties really occur


MERGE_CASES = [
    dict(group_keys=["lr"]),
    dict(group_keys=["lr"], top=1),
    dict(group_keys=["use_router", "lr"], top=3, higher_is_better=False),
    dict(group_keys=["dataset"], top=5),
    dict(group_keys=["use_router"], top=50, filters=RunFilter(statuses=())),
]


@pytest.mark.parametrize("case", MERGE_CASES, ids=[str(c) for c in MERGE_CASES])
def test_regrouping_by_pinned_keys_merges_stored_groups_exactly(tie_lab, case, monkeypatch):
    """Keys the stored groups pin (declared group keys, partition keys) are answered by merging
    stored groups; the result equals the window over the joined parameters."""
    kwargs = {"metric": "img_auc", **case}
    took = []
    real = headline_ranking._merged_stored_groups
    monkeypatch.setattr(headline_ranking, "_merged_stored_groups",
                        lambda *a, **k: took.append(1) or real(*a, **k))
    merged = _normalised(*headline_ranking.ranked_rows(
        tie_lab, pins=compare_mod._stored_group_pins, **kwargs))
    assert took
    _assert_same_ranking(merged, _normalised(*cq.ranked_rows(tie_lab, **kwargs)))


def test_a_key_the_stored_groups_do_not_pin_is_regrouped_from_the_parameters(tie_lab):
    from adlab.db.engine import reader

    with reader(tie_lab).connect() as conn:
        base = [headline_ranking.Run.headline_metric == "img_auc"]
        assert headline_ranking._merged_stored_groups(
            conn, base, ["dia"], compare_mod._stored_group_pins, higher_is_better=True,
            top=2) is None


def test_default_groups_pin_every_key_but_seeds(engine):
    """Without declared group keys a stored group is every parameter but seeds and names, so
    regrouping by any other key merges stored groups; by the seed it cannot."""
    runs = _runs(150, seed=3)
    for r in runs:
        r.group_keys = None
    write_runs(engine, runs, source="generated")
    for keys, pinned in ((["dia", "lr"], True), (["seed"], False)):
        kwargs = {"metric": "img_auc", "group_keys": keys, "top": 2}
        got = _normalised(*headline_ranking.ranked_rows(
            engine, pins=compare_mod._stored_group_pins, **kwargs))
        _assert_same_ranking(got, _normalised(*cq.ranked_rows(engine, **kwargs)))
        from adlab.db.engine import reader

        with reader(engine).connect() as conn:
            merged = headline_ranking._merged_stored_groups(
                conn, [headline_ranking.Run.headline_metric == "img_auc"], keys,
                compare_mod._stored_group_pins, higher_is_better=True, top=2)
        assert (merged is not None) == pinned


@pytest.mark.parametrize("case", [dict(), dict(top=2), dict(group_keys=["dia"], top=1),
                                  dict(group_keys=["lr"], top=2),
                                  dict(baseline_name="r005")])
def test_comparisons_are_identical_on_both_paths(tie_lab, monkeypatch, case):
    case = dict(case)
    kwargs = {"metrics": ["img_auc", "pix_ap"], **case}
    if kwargs.pop("baseline_name", None):
        from adlab.db.compare_queries import run_lookup

        kwargs["baseline"] = run_lookup(tie_lab, refs=["r005"])[0]
    fast = _rounded(compare(tie_lab, **kwargs).to_json())
    monkeypatch.setattr(compare_mod.headline_ranking, "applies", lambda *a, **k: False)
    window = _rounded(compare(tie_lab, **kwargs).to_json())
    assert fast == window


def _rounded(doc):
    """Floats to 9 significant digits: SQL sums in index order and in window order differ in
    the last bits of a group's mean, and std from sums of squares (about 1e-11 relative here);
    everything else must be identical."""
    if isinstance(doc, float):
        return float(f"{doc:.9g}")
    if isinstance(doc, dict):
        return {k: _rounded(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_rounded(v) for v in doc]
    return doc


def test_a_run_recording_the_metric_under_another_headline_takes_the_window_path(tie_lab):
    other = ImportedRun(name="other_headline", pipeline="moleflow",
                        params={"dataset": "mvtec", "lr": "2e-4", "dia": 4, "use_router": "true",
                                "seed": 0},
                        metrics=[("pix_ap", "", 0.5), ("img_auc", "", 0.99)],
                        group_keys=["lr", "use_router"], partition_keys=["dataset"],
                        headline_metric="pix_ap")
    write_runs(tie_lab, [other], source="generated")
    assert not headline_ranking.applies(tie_lab, metric="img_auc", scope="", filters=None)
    assert headline_ranking.applies(tie_lab, metric="img_auc", scope="",
                                    filters=RunFilter(statuses=("failed",)))
    c = compare(tie_lab, metrics=["img_auc"], top=1)
    best = [g.best.name for g in c.groups if g.best]
    assert "other_headline" in best  # 0.99 beats every generated value (at most 0.95)


def test_scoped_metrics_and_selective_filters_take_the_window_path(tie_lab):
    assert not headline_ranking.applies(tie_lab, metric="img_auc", scope="bottle", filters=None)
    for f in (RunFilter(name_like="r00"), RunFilter(run_ids=(1, 2)),
              RunFilter(where=(("use_router", "yes"),))):
        assert not headline_ranking.applies(tie_lab, metric="img_auc", scope="", filters=f)


def test_an_imported_headline_without_its_metric_is_not_kept(engine):
    run = ImportedRun(name="no_value", pipeline="moleflow", params={"dataset": "mvtec"},
                      metrics=[("pix_ap", "", 0.4)], headline_metric="img_auc")
    write_runs(engine, [run], source="generated")
    from adlab.db.queries import list_runs

    [row] = list_runs(engine)
    assert (row.headline_metric, row.headline_value) == ("pix_ap", 0.4)


@pytest.mark.postgres
def test_headline_path_equals_the_window_on_postgresql(pg_url):
    from adlab.db.engine import get_engine

    engine = get_engine(pg_url)
    write_runs(engine, _runs(120), source="generated")
    for case in (dict(top=2), dict(group_keys=["dia", "use_router"], top=1), dict()):
        kwargs = {"metric": "img_auc", **case}
        assert headline_ranking.applies(engine, metric="img_auc", scope="", filters=None)
        fast = _normalised(*headline_ranking.ranked_rows(engine, **kwargs))
        _assert_same_ranking(fast, _normalised(*cq.ranked_rows(engine, **kwargs)))
