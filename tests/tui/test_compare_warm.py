"""Once the runs table is complete, the monitor reads the specs of the lab's pipelines in a
thread (what the first comparison needs: metric directions, partition keys), so the first `c`
does not pay for importing them; the comparison it opens is the same."""
from __future__ import annotations

import pytest

from adlab.pipelines.declared import declared_metrics, spec_keys
from adlab.tui.compare_view import warm_up
from tui_lab import SIZE, open_compare, runs_loaded, wait_for

def _pipelines(engine) -> set[str]:
    from sqlalchemy import select

    from adlab.db.models import Run

    with engine.connect() as conn:
        return set(conn.execute(select(Run.pipeline).distinct()).scalars())


@pytest.mark.asyncio
async def test_the_lab_s_pipeline_specs_are_read_after_the_launch(lab, make_app, engine):
    declared_metrics.cache_clear()
    spec_keys.cache_clear()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await runs_loaded(pilot)
        await wait_for(pilot, lambda: app.warmed_up, what="warm-up")
        assert declared_metrics.cache_info().currsize == len(_pipelines(engine)) >= 1
        assert spec_keys.cache_info().currsize == len(_pipelines(engine))
        screen = await open_compare(pilot)
        assert screen.result.mode == "ranking"
        assert declared_metrics.cache_info().misses == len(_pipelines(engine))  # none again


def test_warm_up_of_an_empty_lab_and_of_unknown_pipelines(engine):
    warm_up(engine)  # no runs: nothing to read
    from adlab.interchange.importers import ImportedRun, write_runs

    write_runs(engine, [ImportedRun(name="x", pipeline="not_adlab", params={"a": 1},
                                    metrics=[("m", "", 0.5)])], source="generated")
    warm_up(engine)
    assert declared_metrics("not_adlab") == {}
