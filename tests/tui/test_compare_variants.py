"""The compare screen never shows a mean across different variants (issue 16, on the TUI side).

The lab of the pivot tests (3 methods x 3 categories x 3 seeds imported from an MLflow CSV,
stfpm never run on screw, one declared group per category holding every method): each group
holds several methods, so its heading names how many variants it holds, the variant table gives
each method's mean ± std over its seeds, and no number that averages methods is on screen."""
from __future__ import annotations

import numpy as np
import pytest

from adlab.tui.capture import screen_text
from analysis.test_pivot import (CATEGORIES, METHODS, MISSING, SEEDS, VALUES,
                                 _cross_variant_numbers, write_lab_csv)
from tui_lab import open_compare, runs_loaded

pytestmark = pytest.mark.asyncio


async def test_compare_screen_shows_each_variant_and_no_cross_variant_mean(engine, make_app,
                                                                           tmp_path):
    from adlab.interchange.importers import import_file

    import_file(engine, write_lab_csv(tmp_path / "lab.csv"))
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await runs_loaded(pilot)
        screen = await open_compare(pilot)
        text = screen.query_one("#compare-scroll").text
        lines = text.splitlines()
        by_category = {g.partition.get("category"): g for g in screen.result.comparison.groups
                       if g.partition.get("dataset") == "mvtec"}
        assert set(by_category) == set(CATEGORIES), text[:2000]
        for c, g in by_category.items():
            methods = [m for m in METHODS if (m, c) != MISSING]
            assert g.n_runs == len(methods) * len(SEEDS) and len(g.variants) == len(methods)
            # the heading says how many variants the group holds, and gives no group mean
            heading = f"{g.n_runs} run(s) · {len(methods)} variants: image_auroc per variant below"
            assert heading in text
            for m in methods:  # one line per variant: its seeds' mean ± std, over its 3 runs
                values = [VALUES[(m, c, s)] for s in SEEDS]
                mean, std = float(np.mean(values)), float(np.std(values, ddof=1))
                [line] = [line for line in lines if line.split()[:1] == [f"method={m}"]
                          and f"{mean:.4f} ± {std:.4f}" in line]
                assert line.split()[1] == "3", line
        summaries = [line for line in lines if " run(s) · " in line]
        assert len(summaries) == len(screen.result.comparison.groups)
        assert not any("mean" in line for line in summaries), summaries
        for number in _cross_variant_numbers():
            assert f"{number:.4f}" not in text, f"cross-variant mean {number:.4f} on screen"
        # and what the terminal shows from the top reads the same way
        shown = screen_text(app)
        assert "variants: image_auroc per variant below" in shown
        assert not any(f"{n:.4f}" in shown for n in _cross_variant_numbers())
