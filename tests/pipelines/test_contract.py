"""The pipeline contract beyond the run context: hooks resolve, listing stays import-light,
no pipeline package reaches into another, and the shortcut flags a spec declares work."""
from __future__ import annotations

import ast
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

import adlab
from adlab.pipelines import BUILTIN_PIPELINES, get_pipeline, list_pipelines
from adlab.pipelines.base import load_ref
from adlab.pipelines.views import Cell, RunRecord, TableView

PIPELINES_DIR = Path(adlab.__file__).parent / "pipelines"
# What a pipeline package may import from adlab besides itself: components, the shared modules
# beside the packages (base, views, dataset params, resume, the in-memory context; not a
# pipeline module such as diag) and the lower layers.
SHARED_MODULES = tuple(f"adlab.pipelines.{p.stem}" for p in PIPELINES_DIR.glob("*.py")
                       if p.stem != "__init__"
                       and f"adlab.pipelines.{p.stem}" not in BUILTIN_PIPELINES.values())
ALLOWED = ("adlab.pipelines.components", *SHARED_MODULES,
           "adlab.data", "adlab.metrics", "adlab.core", "adlab.errors")


def _adlab_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
    return [n for n in names if n == "adlab" or n.startswith("adlab.")]


@pytest.mark.parametrize("package", sorted({m.split(".")[2] for m in BUILTIN_PIPELINES.values()
                                            if m.count(".") >= 3} | {"components"}))
def test_pipeline_packages_import_only_shared_layers(package: str) -> None:
    own = f"adlab.pipelines.{package}"
    bad = []
    for path in sorted((PIPELINES_DIR / package).rglob("*.py")):
        for name in _adlab_imports(path):
            if name == "adlab.pipelines":  # the registry: get_pipeline(name).service(...)
                continue
            if name == own or name.startswith(own + ".") or any(
                    name == a or name.startswith(a + ".") for a in ALLOWED):
                continue
            bad.append(f"{path.relative_to(PIPELINES_DIR)}: {name}")
    assert bad == []


def test_every_hook_and_service_reference_resolves() -> None:
    for spec in list_pipelines():
        refs = [spec.runner, *spec.services.values(), *(t.view for t in spec.detail_tabs)]
        refs += [r for r in (spec.flat_table, spec.report_sections) if r]
        for ref in refs:
            assert callable(load_ref(ref)), f"{spec.name}: {ref}"


def test_listing_pipelines_and_their_views_imports_no_heavy_library() -> None:
    code = ("import sys\nfrom adlab.pipelines import list_pipelines\nfrom adlab.pipelines.base "
            "import load_ref\nfor s in list_pipelines():\n    [load_ref(r) for r in "
            "(s.flat_table, s.report_sections) if r]\n    [load_ref(t.view) for t in s.detail_tabs]\n"
            "print(sorted(m for m in ('torch', 'anomalib', 'transformers', 'onnxruntime', 'faiss')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_services_are_the_only_way_across_pipelines() -> None:
    from adlab.errors import NotFoundError

    anomalib = get_pipeline("anomalib")
    assert anomalib.service("canonical_model_name")("Patchcore") == "patchcore"
    with pytest.raises(NotFoundError, match="offers no service 'export'; it offers: "
                                            "canonical_model_name, fit_normals"):
        anomalib.service("export")


def test_mmad_views_are_plain_data() -> None:
    mmad = get_pipeline("mmad")
    finished = dt.datetime(2026, 2, 9, 16, 45, tzinfo=dt.timezone.utc)
    records = [
        RunRecord(id=1, name="a", pipeline="mmad", params={"llm": "qwen", "eval.few_shot": 1},
                  metrics={"accuracy": 50.0, "images": 10.0}, finished_at=finished,
                  started_at=finished - dt.timedelta(seconds=90),
                  scoped={("accuracy", "VisA/Average"): 50.0, ("accuracy", "VisA/Defect Type"): 40.0}),
        RunRecord(id=2, name="b", pipeline="mmad", params={"llm": "gpt-4o"},
                  metrics={"accuracy": 62.5}),
    ]
    flat = load_ref(mmad.flat_table)(records)
    assert [r.experiment for r in flat.data.rows] == ["b", "a"] and flat.data.best.id == 2
    row_a = next(line for line in flat.lines if line.startswith("a "))
    assert "qwen" in row_a and "50.0%" in row_a and "90s" in row_a and "2026-02-09T16:45" in row_a
    sections = load_ref(mmad.report_sections)(records)
    assert [s.title for s in sections] == ["MMAD accuracy (%)", "a"]  # only "a" stores cells
    summary = sections[0].tables[0]
    assert summary.columns == ("Run", "VisA", "Average")
    assert summary.rows == ((Cell("a"), Cell(50.0), Cell(50.0)),) and summary.bold_best == (1, 2)
    [tab] = mmad.detail_tabs
    items = {f"{tab.item_prefix}VisA/pcb1/test/good/0.png:0":
             {"image": "VisA/pcb1/test/good/0.png", "question_type": "Defect Type",
              "correct_answer": "A", "parsed": "A"}}
    view = load_ref(tab.view)(items)
    assert view.error is None and view.data["VisA"]["Defect Type"] == 100.0
    assert isinstance(view.table, TableView) and view.table.rows[0][1] == Cell("100.0% (1/1)")
    broken = load_ref(tab.view)({f"{tab.item_prefix}x:0": {"image": "x", "question_type": "T",
                                                          "correct_answer": "Z", "parsed": None}})
    assert broken.table is None and "cannot be scored" in broken.error


def test_shortcut_flags_are_declared_by_the_specs() -> None:
    from adlab.cli.shortcuts import split_shortcut_args
    from adlab.pipelines import declared_shortcuts, shortcut_paths

    tokens = ["--few-shot", "2", "study.yaml", "--llm=gpt-4o", "--no-batch-mode", "--resume",
              "--ad-model", "null"]
    positionals, values = split_shortcut_args(tokens, declared_shortcuts())
    assert positionals == ["study.yaml"]
    assert values == {"few_shot": 2, "llm": "gpt-4o", "batch_mode": False, "resume": True,
                      "ad_model": "null"}
    assert shortcut_paths(get_pipeline("mmad"))["few_shot"] == "eval.few_shot"
    assert shortcut_paths(get_pipeline("anomalib"))["ad_model"] == "model"


@pytest.mark.parametrize("args, message", [
    (["--fewshot", "2"], "unknown option --fewshot"),
    (["--few-shot", "two"], "--few-shot takes a whole number, got 'two'"),
    (["--batch-mode=yes"], "--batch-mode is a switch and takes no value"),
    (["--llm"], "--llm needs a value"),
])
def test_bad_shortcut_flags_are_usage_errors(cli, tmp_path: Path, args: list[str], message: str
                                             ) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text("pipeline: diag\n")
    proc = cli("queue", str(cfg), *args)
    assert proc.returncode == 2 and message in proc.stderr


def test_a_flag_another_pipeline_declares_names_the_missing_field(cli, tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text("pipeline: diag\n")
    proc = cli("queue", str(cfg), "--few-shot", "2", "--dry-run")
    assert proc.returncode == 1 and "field `eval`" in proc.stderr
