"""The phase label of a running run (issue 18, honest progress): written by pipelines at the
start of a phase, shown by the runs table in its own column at 160 and at 80 columns."""
from __future__ import annotations

import pytest

from adlab.core.phase import Phase, phase_label, phase_message, split_phase
from adlab.pipelines.diag import DiagParams
from adlab.pipelines.diag import run as run_diag
from adlab.pipelines.local import LocalRunContext
from adlab.tui.capture import screen_text
from tui_lab import settled


def test_label_round_trips_through_the_progress_message():
    assert phase_label(Phase.SCORE, "cable", 1, 3) == "score 2/3 cable"
    assert phase_label("export", "bottle") == "export bottle"  # one category: no position
    assert phase_label(Phase.TRAIN, "bottle", 0, 1) == "train bottle"
    message = phase_message(Phase.SCORE, "cable", 1, 3, detail="000.png")
    assert message == "[score 2/3 cable] 000.png"
    assert split_phase(message) == ("score 2/3 cable", "000.png")
    assert split_phase(phase_message(Phase.EXPORT, "cable")) == ("export cable", None)
    # free text that is not a label stays the message's own
    assert split_phase("bottle/000.png") == (None, "bottle/000.png")
    assert split_phase("[note] no phase") == (None, "[note] no phase")
    assert split_phase(None) == (None, None)
    with pytest.raises(ValueError):
        phase_label("warmup")


def test_diag_categories_report_their_phase_and_position(tmp_path):
    """The diag pipeline walks its categories as phases: the message names the category and
    where it is among them, once per category (not once per step)."""
    ctx = LocalRunContext(params=DiagParams(steps=3, categories=["a", "b"]), output_dir=tmp_path)
    run_diag(ctx)
    assert split_phase(ctx.progress_message) == ("train 2/2 b", None)
    assert ctx.progress_log[-1] == (6, 6)


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(160, 45), (80, 24)])
async def test_the_runs_table_shows_the_phase(lab, make_app, size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        lines = screen_text(app).splitlines()
        header = next(line for line in lines if "Status" in line and "Name" in line)
        assert "Phase" in header and "ETA" in header
        row = next(line for line in lines if "mmad_qwen_fewshot1" in line)
        assert "[score" not in row  # never the raw message
        if size[0] >= 160:
            assert "score 1/3 bottle" in row  # the label, whole, in its column
            assert "000.png" in row  # the rest of the message, after the name
        else:  # cut at its end: the phase and the position survive
            assert "score 1/3 bot…" in row
