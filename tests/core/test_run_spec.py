"""One run identity for queued, re-queued and imported runs (make_run_spec + db/runs.py)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlmodel import Session

from adlab.core.run_spec import make_run_spec
from adlab.db.engine import get_engine
from adlab.db.models import Event, Metric, Param, Run
from adlab.pipelines import PipelineParams, PipelineSpec, register_pipeline


class _Data(PipelineParams):
    dataset: str = "visa"
    root: str = "/data/visa"


class IdentityParams(PipelineParams):
    data: _Data = _Data()
    lr: float = 2e-4
    version: str = "1.10"  # a string spelled like a number: must stay a string
    mode: str = "off"
    flag: bool = True
    seed: int = 0


SPEC = register_pipeline(PipelineSpec(
    name="identity_test", params_model=IdentityParams, runner="adlab.pipelines.diag:run",
    description="run identity test", partition_keys=("data.dataset",),
    non_group_keys=("data.root",), headline_metric="auc",
    derived=lambda p: {"data.categories": ["candle", "pcb1"]}))

IDENTITY = ("config_hash", "partition_hash", "group_hash", "group_keys_json", "seed", "pipeline",
            "name", "study")


def _rows(engine) -> dict[int, Run]:
    with Session(engine) as s:
        return {r.id: r for r in s.exec(select(Run)).scalars().all()}


def _params(engine, run_id: int) -> dict[str, tuple[str, float | None]]:
    with Session(engine) as s:
        return {k: (t, n) for k, t, n in s.exec(select(Param.key, Param.value_text, Param.value_num)
                                                .where(Param.run_id == run_id)).all()}


@pytest.fixture
def queued(engine):
    """Two seeds of one config, queued from a study and finished with a metric."""
    from adlab.config.loader import build_run_specs
    from adlab.queue import enqueue

    specs = build_run_specs({"pipeline": "identity_test", "study": "s1", "grid": {"seed": [0, 1]}})
    created = enqueue(engine, specs).created
    with Session(engine) as s:
        for rid in created:
            run = s.get(Run, rid)
            run.status = "succeeded"
            s.add(run)
            s.add(Metric(run_id=rid, key="auc", value=0.9 + rid / 100))
        s.commit()
    return specs, created


def test_loader_spec_is_make_run_spec(queued):
    specs, _ = queued
    direct = make_run_spec(pipeline="identity_test", config=IdentityParams(seed=1).model_dump(mode="json"),
                           derived={"data.categories": ["candle", "pcb1"]},
                           partition_keys=SPEC.partition_keys, non_group_keys=SPEC.non_group_keys)
    one = specs[1]
    assert (one.config_hash, one.partition_hash, one.group_hash, one.seed, one.flat) == \
        (direct.config_hash, direct.partition_hash, direct.group_hash, direct.seed, direct.flat)
    assert specs[0].group_hash == specs[1].group_hash  # seeds share a group
    assert specs[0].config_hash != specs[1].config_hash
    assert one.flat["version"] == "1.10" and one.seed == 1


def test_requeue_gives_the_same_identity(engine, queued):
    from adlab.queue import enqueue
    from adlab.tui.actions import requeue_run

    specs, (first, _) = queued
    [again] = requeue_run(engine, first)
    rows = _rows(engine)
    assert {k: getattr(rows[again], k) for k in IDENTITY} == {k: getattr(rows[first], k) for k in IDENTITY}
    assert json.loads(rows[again].config_json) == json.loads(rows[first].config_json)
    assert _params(engine, again) == _params(engine, first)
    assert enqueue(engine, specs[:1]).skipped  # and duplicate detection sees the same config
    # Re-queue keeps the stored hashes; built afresh from the stored config they are the same.
    fresh = make_run_spec(pipeline="identity_test", config=json.loads(rows[first].config_json),
                          derived=SPEC.derived(None), partition_keys=SPEC.partition_keys,
                          non_group_keys=SPEC.non_group_keys, name=rows[first].name, study="s1")
    assert (fresh.config_hash, fresh.partition_hash, fresh.group_hash, fresh.seed) == \
        (rows[first].config_hash, rows[first].partition_hash, rows[first].group_hash, rows[first].seed)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_then_import_keeps_group_partition_seed_and_params(engine, queued, tmp_path, fmt):
    from adlab.interchange.exporters import export_runs
    from adlab.interchange.importers import import_file

    _, created = queued
    out = tmp_path / f"runs.{fmt}"
    export_runs(engine, out=out, fmt=fmt)
    other = get_engine(f"sqlite:///{tmp_path / 'other.db'}")
    import_file(other, out)
    mine, theirs = _rows(engine), {r.name: r for r in _rows(other).values()}
    for rid in created:
        a, b = mine[rid], theirs[mine[rid].name]
        assert (a.partition_hash, a.group_hash, a.seed, a.group_keys_json) == \
            (b.partition_hash, b.group_hash, b.seed, b.group_keys_json)
        assert _params(other, b.id) == _params(engine, rid)
    assert _params(other, b.id)["version"] == ('"1.10"', None)  # still the string "1.10"
    with Session(other) as s:
        assert s.exec(select(Event.source).where(Event.run_id == b.id)).scalars().all() == ["import"]


def test_mlflow_text_is_read_as_the_values_it_spells(engine, tmp_path):
    """MLflow writes str(value): the import reads numbers and booleans back, keeps the spelling."""
    from adlab.interchange.importers import import_file

    path = tmp_path / "mlflow.csv"
    path.write_text("tags.mlflow.runName,params.lr,params.flag,params.mode,params.seed,metrics.auc\n"
                    "a,2e-4,True,off,3,0.5\nb,0.0002,true,off,3,0.6\nc,0.0002,true,no,3,0.7\n")
    import_file(engine, path)
    rows = {r.name: r for r in _rows(engine).values()}
    assert rows["a"].group_hash == rows["b"].group_hash != rows["c"].group_hash  # "off" != "no"
    assert rows["a"].seed == 3
    assert _params(engine, rows["a"].id)["lr"] == ("2e-4", 0.0002)
    assert _params(engine, rows["a"].id)["flag"] == ("true", None)
    assert json.loads(rows["a"].config_json)["flag"] is True
