"""``adlab tui`` from the command line: text capture, clear errors, no heavy imports."""
from __future__ import annotations

import subprocess
import sys


def test_capture_writes_the_loaded_runs_screen(lab, cli, isolated_lab):
    out = isolated_lab / "tui.txt"
    proc = cli("tui", "--capture", str(out), "--size", "110x30")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    text = out.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) == 30 and max(len(line) for line in lines) <= 110
    assert "patchcore_wrn50_l" in text and "STALE" in text and "7 of 7 runs" in text


def test_needs_a_terminal_or_capture(lab, cli):
    proc = cli("tui")
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("error: adlab tui needs an interactive terminal; use `adlab runs` "
                                   "in scripts or `adlab tui --capture FILE` for a text capture")
    proc = cli("tui", "--capture", "x.txt", "--size", "wide")
    assert proc.returncode == 1 and "--size 'wide': expected COLUMNSxROWS" in proc.stderr


def test_tui_modules_do_not_import_torch():
    code = ("import sys, adlab.cli.app, adlab.tui.app, adlab.tui.screens.runs, "
            "adlab.tui.screens.detail, adlab.tui.screens.compare, adlab.tui.data; "
            "heavy = [m for m in ('torch', 'anomalib', 'transformers') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
