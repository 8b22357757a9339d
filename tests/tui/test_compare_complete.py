"""The compare screen against ``adlab compare`` on the same lab: a group larger than the listing,
runs without a value, and runs with another headline metric (issue 18, item 4)."""
from __future__ import annotations

import random
import re

import pytest
from sqlmodel import Session

from adlab.db.models import Metric
from adlab.tui.capture import screen_text
from adlab.tui.compare_view import TOP_PER_GROUP, ranked_runs
from tui_lab import add_run, ago, open_compare, runs_loaded

pytestmark = pytest.mark.asyncio
HEAD = re.compile(r"(\d+) run\(s\); image_auroc (?:mean )?([\d.]+) ± ([\d.]+)(?: over seeds)? \(n=(\d+)\)")


def build(engine) -> None:
    """120 runs of one group (seeds differ; 20 without a value), 30 MMAD runs ranked by
    accuracy, 5 runs without any headline."""
    rng = random.Random(3)
    with Session(engine) as s:
        for i in range(120):
            value = None if i % 6 == 0 else round(rng.uniform(0.8, 1.0), 4)
            run = add_run(s, name=f"patchcore_lr0.0001_seed{i:03d}", status="succeeded",
                          pipeline="anomalib", group="a1" * 32, started=900, finished=800,
                          params={"model": "patchcore", "lr": 0.0001, "seed": i},
                          headline=("image_auroc", value) if value is not None else None)
            if value is None:
                run.headline_metric = "image_auroc"
            s.add(Metric(run_id=run.id, key="image_auroc", value=value, scope="", created_at=ago(800)))
        for i in range(30):
            run = add_run(s, name=f"mmad_{i:02d}", status="succeeded", pipeline="mmad",
                          group="c3" * 32, started=900, finished=800,
                          params={"llm": "qwen", "seed": i}, headline=("accuracy", 50.0 + i))
            s.add(Metric(run_id=run.id, key="accuracy", value=50.0 + i, scope="", created_at=ago(800)))
        for i in range(5):
            add_run(s, name=f"diag_{i}", status="succeeded", group="d4" * 32, started=900,
                    finished=800, params={"steps": i})
        s.commit()


async def test_group_statistics_match_the_cli_and_nothing_is_dropped(engine, make_app, cli):
    build(engine)
    proc = cli("compare", "--metric", "image_auroc")
    assert proc.returncode == 0, proc.stderr
    want = HEAD.search(proc.stdout)
    assert want, proc.stdout[:500]
    n_runs, mean, std, n = want.groups()
    assert (n_runs, n) == ("120", "100")

    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await runs_loaded(pilot)
        screen = await open_compare(pilot)
        result = screen.result
        by_metric = {s.metric: s for s in result.sections}
        assert set(by_metric) == {"image_auroc", "accuracy"}  # its own section, not dropped
        [group] = by_metric["image_auroc"].comparison.groups
        st = group.stats["image_auroc"]
        assert group.n_runs == 120 and st.n == 100
        assert f"{st.mean:.4f}" == mean and f"{st.std:.4f}" == std
        assert len(group.runs) == TOP_PER_GROUP
        assert ranked_runs(by_metric["image_auroc"].comparison) == 120
        [mmad] = by_metric["accuracy"].comparison.groups
        assert mmad.n_runs == 30
        assert any("5 run(s) record no headline metric" in note for note in result.notes)
        assert not any("image_auroc" in note for note in result.notes)  # all 120 in the group
        text = screen_text(app)
        assert f"120 run(s) · image_auroc mean {mean} ± {std} (n=100)" in text
        # the listing is cut: the screen says so, under the group's table (page down to it)
        seen = ""
        for _ in range(40):
            seen += screen_text(app)
            if "… 70 more run(s) not listed" in seen:
                break
            await pilot.press("pagedown")
            await pilot.pause(0.05)
        assert "… 70 more run(s) not listed" in seen
