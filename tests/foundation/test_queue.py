"""Queue semantics on a real SQLite file: duplicates, cancel, retry, priorities, dependencies."""
from __future__ import annotations

import json

from adlab.config.loader import build_run_specs
from adlab.db.queries import get_run, list_runs, run_params
from adlab.queue import cancel, claim, enqueue, finish, reap, retry


def specs(**params):
    return build_run_specs({"pipeline": "diag", **params})


def test_duplicate_config_skipped_unless_repeat(engine):
    first = enqueue(engine, specs(steps=2))
    assert len(first.created) == 1
    again = enqueue(engine, specs(steps=2))
    assert again.created == [] and again.skipped[0]["existing_run"] == first.created[0]
    forced = enqueue(engine, specs(steps=2), repeat=True)
    assert len(forced.created) == 1
    other = enqueue(engine, specs(steps=3))
    assert len(other.created) == 1


def test_dry_run_writes_nothing(engine):
    res = enqueue(engine, specs(steps=2), dry_run=True)
    assert res.created == [] and list_runs(engine) == []


def test_params_flattened_with_numeric_column(engine):
    [rid] = enqueue(engine, specs(steps=2, value=2e-4)).created
    params = run_params(engine, run_id=rid)
    assert params["steps"] == "2" and float(params["value"]) == 2e-4
    from sqlmodel import Session, select

    from adlab.db.models import Param

    with Session(engine) as s:
        nums = dict(s.exec(select(Param.key, Param.value_num).where(Param.run_id == rid)).all())
    assert nums["steps"] == 2.0 and nums["label"] is None


def test_cancel_queued_and_retry(cli, engine):
    [rid] = enqueue(engine, specs(steps=1)).created
    assert cancel(engine, rid) == "cancelled"
    assert get_run(engine, run_id=rid).status == "cancelled"
    assert claim(engine, worker="w", device="cpu") is None
    assert retry(engine, rid) == "queued"
    run = claim(engine, worker="w", device="cpu")
    assert run.id == rid and run.attempt == 1
    proc = cli("cancel", "999")
    assert proc.returncode == 1 and "run 999 does not exist" in proc.stderr


def test_priority_then_fifo(engine):
    low = enqueue(engine, specs(steps=1)).created[0]
    raw = {"pipeline": "diag", "steps": 2, "priority": 5}
    high = enqueue(engine, build_run_specs(raw)).created[0]
    assert claim(engine, worker="w", device="cpu").id == high
    assert claim(engine, worker="w", device="cpu").id == low


def test_dependency_gates_claim_and_failure_blocks(engine):
    [dep] = enqueue(engine, specs(steps=1)).created
    child_spec = specs(steps=5)[0]
    child_spec.depends_on = dep
    [child] = enqueue(engine, [child_spec]).created
    run = claim(engine, worker="w", device="cpu")
    assert run.id == dep
    assert claim(engine, worker="w", device="cpu") is None  # child waits
    finish(engine, run_id=dep, worker="w", attempt=1, status="failed", error="boom")
    res = reap(engine, lease_s=60)
    assert res.blocked == [child]
    assert "dependency run" in get_run(engine, run_id=child).error


def test_stale_run_requeued_then_failed_after_max_attempts(engine):
    raw = {"pipeline": "diag", "max_attempts": 2}
    [rid] = enqueue(engine, build_run_specs(raw)).created
    claim(engine, worker="w1", device="cpu")
    assert reap(engine, lease_s=0).requeued == [rid]
    run = claim(engine, worker="w2", device="cpu")
    assert run.attempt == 2
    # the first worker's late write is refused
    assert not finish(engine, run_id=rid, worker="w1", attempt=1, status="succeeded")
    assert reap(engine, lease_s=0).failed == [rid]
    run = get_run(engine, run_id=rid)
    assert run.status == "failed" and "no heartbeat" in run.error


def test_a_new_attempt_forgets_the_previous_attempts_results(engine, tmp_path):
    """Metrics, and the headline copied onto the run, belong to one attempt: a re-claimed run
    must not be ranked by what its interrupted attempt had recorded."""
    from sqlmodel import Session, select

    from adlab.db.models import Metric
    from adlab.worker.context import DbRunContext

    raw = {"pipeline": "diag", "max_attempts": 2}
    [rid] = enqueue(engine, build_run_specs(raw)).created
    run = claim(engine, worker="w1", device="cpu")
    ctx = DbRunContext(engine, run, params=None, output_dir=tmp_path, device="cpu",
                       headline_metric="score")
    ctx.metric("score", 0.75)
    ctx.close()
    assert get_run(engine, run_id=rid).headline_value == 0.75
    assert reap(engine, lease_s=0).requeued == [rid]
    assert claim(engine, worker="w2", device="cpu").attempt == 2
    row = get_run(engine, run_id=rid)
    assert (row.headline_metric, row.headline_value) == (None, None)
    with Session(engine) as s:
        assert s.exec(select(Metric).where(Metric.run_id == rid)).all() == []


def test_queue_cli_json_and_runs_listing(tmp_path, cli):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("pipeline: diag\ngrid:\n  steps: [1, 2, 3]\n")
    proc = cli("queue", str(cfg), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["created"]) == 3
    proc = cli("runs", "--status", "queued", "--json")
    runs = json.loads(proc.stdout)
    assert [r["id"] for r in runs] == doc["created"]
    proc = cli("queue", str(cfg), "--dry-run", "--json", "--repeat")
    assert json.loads(proc.stdout)["created"] == []


def test_pipeline_dependencies_queue_prerequisite_once_and_expose_inputs(engine, monkeypatch):
    """A pipeline that asks for a prerequisite run gets it queued first (or reused) and waits."""
    from adlab.pipelines import Dependency, get_pipeline, register_pipeline
    from dataclasses import replace

    base = get_pipeline("diag")
    needy = replace(base, name="needy", name_template=None,
                    dependencies=lambda p: [Dependency(pipeline="diag", params={"steps": 1, "label": "prep"})])
    register_pipeline(needy)
    try:
        first = enqueue(engine, build_run_specs({"pipeline": "needy", "steps": 2}))
        assert len(first.created) == 2
        prep, main = first.created
        assert get_run(engine, run_id=main).depends_on == prep
        second = enqueue(engine, build_run_specs({"pipeline": "needy", "steps": 3}))
        [other] = second.created  # the identical prerequisite is reused, not queued again
        assert get_run(engine, run_id=other).depends_on == prep
        run = claim(engine, worker="w", device="cpu")
        assert run.id == prep and claim(engine, worker="w", device="cpu") is None
        finish(engine, run_id=prep, worker="w", attempt=1, status="succeeded")
        from adlab.worker.context import load_inputs

        [inp] = load_inputs(engine, get_run(engine, run_id=main).depends_on)
        assert inp.run_id == prep and inp.pipeline == "diag" and inp.status == "succeeded"
        assert claim(engine, worker="w", device="cpu").id == main
    finally:
        from adlab.pipelines import _REGISTRY

        _REGISTRY.pop("needy", None)


def test_runs_lists_with_the_shared_run_filter(engine, cli):
    """``adlab runs --where`` filters like compare does: by parameter meaning."""
    created = enqueue(engine, specs(grid={"value": [0.25, 0.5], "label": ["a", "01"]})).created
    assert len(created) == 4

    def names(*args):
        proc = cli("runs", "--json", *args)
        assert proc.returncode == 0, proc.stderr
        return sorted(r["id"] for r in json.loads(proc.stdout))

    assert len(names("--where", "value=2.5e-1")) == 2  # every status by default
    assert len(names("--where", "value=0.25", "--where", 'label="01"')) == 1  # a string label
    assert names("--where", "label=1") == []  # the number 1 is not the string "01"
    assert names("--where", "value=0.5", "--status", "succeeded") == []
