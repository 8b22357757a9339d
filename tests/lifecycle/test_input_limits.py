"""Inputs that must be refused before anything is written (issue 15, items 8-10 and the YAML
parts of 11): unfinished or unknown imported statuses, credentials in any params source,
grids past the run limit, alias bombs, recursive YAML, duplicate keys, non-UTF-8 files.

Each case drives the real CLI entry point (``adlab.cli.main``: parsing, error wording, exit
code) on a real SQLite lab that already holds one run, and checks exit code 1, the one
sentence on stderr, and that the lab still holds exactly that run and no trace of the input.
A few cases run ``python -m adlab`` as a real process too.
"""
from __future__ import annotations

import json
import sqlite3
import time
import tracemalloc
from pathlib import Path

import pytest

from adlab.cli import main

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"  # a made-up key in the OpenAI shape
URL_KEY = "https://api.example.com/v1?api_key=abcdef0123456789"


def adlab(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def lab_rows(lab: Path) -> list[str]:
    """Every text the lab stores about runs: run rows, params and events."""
    con = sqlite3.connect(lab / "lab.db")
    try:
        rows = [" ".join(str(v) for v in r) for r in con.execute(
            "SELECT name, status, config_json, info_json FROM runs")]
        rows += [str(v) for (v,) in con.execute("SELECT value_text FROM params")]
        rows += [str(v) for (v,) in con.execute("SELECT message FROM events")]
        return rows
    finally:
        con.close()


def run_count(lab: Path) -> int:
    con = sqlite3.connect(lab / "lab.db")
    try:
        return int(con.execute("SELECT count(*) FROM runs").fetchone()[0])
    finally:
        con.close()


@pytest.fixture
def lab(isolated_lab: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A lab with one queued diag run (so "nothing written" is checked against real rows)."""
    seed = isolated_lab / "seed.yaml"
    seed.write_text("pipeline: diag\nsteps: 1\nlabel: seed\n", encoding="utf-8")
    code, _, err = adlab(capsys, "queue", str(seed))
    assert code == 0, err
    assert run_count(isolated_lab) == 1
    return isolated_lab


def refused(capsys: pytest.CaptureFixture[str], lab: Path, *args: str,
            forbidden: str | None = None) -> str:
    """Run a command that must be refused; return its one-line message."""
    before = lab_rows(lab)
    code, _, err = adlab(capsys, *args)
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "unexpected" not in err and "Traceback" not in err
    assert lab_rows(lab) == before  # nothing written, not even an event
    if forbidden is not None:
        assert forbidden not in err  # a refusal never repeats the secret
        assert not any(forbidden in row for row in lab_rows(lab))
    return lines[0]


def write(lab: Path, name: str, text: str | bytes) -> Path:
    path = lab / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- YAML ------------------------------------------------------------------------------------

def test_duplicate_key_names_file_line_and_key(lab, capsys):
    path = write(lab, "dup.yaml", "pipeline: diag\nsteps: 3\nlabel: x\nsteps: 4\n")
    msg = refused(capsys, lab, "queue", str(path), "--dry-run")
    assert f"{path}, line 4: key 'steps' appears twice" in msg and "first at line 2" in msg


def test_duplicate_key_in_a_nested_mapping_and_merge_keys_still_work(lab, capsys):
    path = write(lab, "nested.yaml", "pipeline: anomalib\ndata:\n  dataset: visa\n  dataset: mpdd\n")
    assert f"{path}, line 4: key 'dataset' appears twice" in refused(capsys, lab, "queue", str(path))
    merged = write(lab, "merge.yaml", "pipeline: diag\nconditions:\n"
                   "  - {name: a, config: &base {steps: 2, label: m}}\n"
                   "  - {name: b, config: {<<: *base, steps: 3}}\n")
    code, out, err = adlab(capsys, "queue", str(merged), "--dry-run")
    assert code == 0, err
    assert "would queue a (diag)" in out and "would queue b (diag)" in out


def test_recursive_anchor_is_an_error_not_a_recursion_crash(lab, capsys):
    path = write(lab, "rec.yaml", "pipeline: diag\ncategories: &loop [a, *loop]\n")
    msg = refused(capsys, lab, "queue", str(path))
    assert f"{path}, line 2: anchor &loop is used inside itself (recursive YAML)" in msg


def billion_laughs(levels: int = 9) -> str:
    lines = ["pipeline: diag", 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_once(lab, capsys):
    path = write(lab, "bomb.yaml", billion_laughs())  # 9^9 = 387 million strings once expanded
    start = time.perf_counter()
    msg = refused(capsys, lab, "queue", str(path), "--dry-run")
    assert time.perf_counter() - start < 1.0
    assert f"config file {path}: its YAML aliases expand to more than 100,000 values" in msg


def test_alias_bomb_in_a_set_override_is_refused(lab, capsys):
    seed = write(lab, "ok.yaml", "pipeline: diag\n")
    bomb = "[" + ", ".join(["&a [1,1,1,1,1,1,1,1,1,1]"] + ["*a"] * 9) + "]"
    levels = [bomb]
    for i in range(6):
        levels.append("[" + ", ".join([f"&b{i} {levels[-1]}"] + [f"*b{i}"] * 9) + "]")
    msg = refused(capsys, lab, "queue", str(seed), "--set", f"categories={levels[-1]}")
    assert "--set categories: its YAML aliases expand to more than 100,000 values" in msg


def test_non_utf8_config_names_the_byte_offset(lab, capsys):
    path = write(lab, "latin1.yaml", "pipeline: diag\nlabel: café\n".encode("latin-1"))
    msg = refused(capsys, lab, "queue", str(path))
    assert f"config file {path} is not UTF-8 text (byte 0xe9 at byte offset 25, line 2)" in msg
    assert msg.endswith("save it as UTF-8")


def test_utf8_with_bom_is_read(lab, capsys):
    path = write(lab, "bom.yaml", "\ufeffpipeline: diag\nlabel: café\n".encode("utf-8"))
    code, out, err = adlab(capsys, "queue", str(path), "--dry-run")
    assert code == 0, err


# --- credentials in every params source ------------------------------------------------------

@pytest.mark.parametrize("text,field", [
    (f"pipeline: diag\nlabel: {KEY}\n", "label"),
    (f"pipeline: diag\ngrid:\n  label: [plain, {KEY}]\n", "grid.label[1]"),
    (f"pipeline: diag\nconditions:\n  - name: c\n    config: {{label: '{URL_KEY}'}}\n",
     "conditions[0].config.label"),
    (f"pipeline: mmad\nllm: qwen\napi:\n  base_url: {URL_KEY}\n", "api.base_url"),
])
def test_secret_in_a_study_file_is_refused(lab, capsys, text, field):
    path = write(lab, "study.yaml", text)
    msg = refused(capsys, lab, "queue", str(path), forbidden=KEY)
    assert f"config {path}: field `{field}` holds what looks like an API key" in msg
    assert "api.api_key_env" in msg and URL_KEY not in msg


def test_env_reference_expanding_to_a_key_is_refused(lab, capsys, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_KEY", KEY)
    path = write(lab, "env.yaml", "pipeline: diag\nlabel: ${MY_SERVICE_KEY}\n")
    msg = refused(capsys, lab, "queue", str(path), forbidden=KEY)
    assert "field `label` holds what looks like an API key" in msg and "${VAR}" in msg


def test_secret_in_set_and_shortcut_overrides_is_refused(lab, capsys):
    diag = write(lab, "diag.yaml", "pipeline: diag\n")
    msg = refused(capsys, lab, "queue", str(diag), "--set", f"label={KEY}", forbidden=KEY)
    assert msg.startswith("error: --set label holds what looks like an API key")
    msg = refused(capsys, lab, "queue", str(diag), "--set", f"categories=[a, {KEY}]", forbidden=KEY)
    assert "--set categories (at [1]) holds what looks like an API key" in msg
    mmad = write(lab, "mmad.yaml", "pipeline: mmad\nllm: qwen\n")
    msg = refused(capsys, lab, "queue", str(mmad), "--llm", KEY, forbidden=KEY)
    assert msg.startswith("error: --llm holds what looks like an API key")


def test_secret_in_imported_csv_json_and_meta_is_refused(lab, capsys):
    csv_params = write(lab, "params.csv", "run_id,tags.mlflow.runName,status,params.lr,"
                       f"params.token,metrics.acc\nr1,ok,FINISHED,0.1,plain,0.5\nr2,leak,FINISHED,0.1,{KEY},0.6\n")
    msg = refused(capsys, lab, "import", str(csv_params), forbidden=KEY)
    assert f"{csv_params}, line 3 (run 'leak'): column params.token holds what looks like" in msg
    csv_tags = write(lab, "tags.csv", f"name,params.lr,tags.auth,metrics.acc\na,1,Bearer {KEY},0.5\n")
    msg = refused(capsys, lab, "import", str(csv_tags), forbidden=KEY)
    assert "line 2 (run 'a'): column tags.auth holds what looks like an API key" in msg
    doc = {"adlab_export": 1, "runs": [
        {"name": "fine", "status": "succeeded", "params": {"lr": 1}},
        {"name": "leaky", "status": "succeeded", "params": {"api": {"base_url": URL_KEY}}}]}
    json_file = write(lab, "runs.json", json.dumps(doc))
    msg = refused(capsys, lab, "import", str(json_file))
    assert f"{json_file}: runs[1]: field `params.api.base_url` holds what looks like" in msg
    doc["runs"][1] = {"name": "tagged", "info": {"tags": {"note": KEY}}}
    write(lab, "runs.json", json.dumps(doc))
    assert "runs[1]: field `info.tags.note`" in refused(capsys, lab, "import", str(json_file),
                                                        forbidden=KEY)
    meta = write(lab, "answers_x.meta.json", json.dumps({"llm": "gpt-4o", "api_key": KEY,
                                                         "accuracy": 50.0}))
    msg = refused(capsys, lab, "import", str(meta), forbidden=KEY)
    assert f"{meta}: field `api_key` holds what looks like an API key" in msg


def test_values_that_merely_contain_a_key_prefix_are_accepted(lab, capsys):
    """The rule applies to every pipeline now, so it must not refuse ordinary paths and names."""
    path = write(lab, "plain.yaml", "pipeline: diag\nlabel: /mnt/disk-anomaly_detection_datasets\n"
                 "categories: [risk-assessment_model_v2_large, my_hf_cache_dir_for_models_x]\n")
    code, _, err = adlab(capsys, "queue", str(path), "--set", "seed=7")
    assert code == 0, err
    assert run_count(lab) == 2


def test_requeue_of_a_stored_secret_is_refused(lab, engine):
    """A run stored before the rule (written here straight into SQLite) is not copied on."""
    from adlab.errors import ConfigError
    from adlab.tui.actions import requeue_run

    con = sqlite3.connect(lab / "lab.db")
    con.execute("UPDATE runs SET config_json = ?", (json.dumps({"steps": 1, "label": KEY}),))
    con.commit()
    con.close()
    with pytest.raises(ConfigError) as err:
        requeue_run(engine, 1)
    assert str(err.value).startswith("run 'diag_1x0s' (diag): param `label` holds what looks")
    assert KEY not in str(err.value) and run_count(lab) == 1


def test_mmad_params_use_the_core_rule():
    from pydantic import ValidationError

    from adlab.core.secrets import SECRET_FIX
    from adlab.pipelines.mmad.params import MmadParams

    with pytest.raises(ValidationError) as err:
        MmadParams.model_validate({"llm": "qwen", "api": {"model_id": "AIza" + "x" * 35}})
    assert "`api.model_id` holds what looks like an API key" in str(err.value)
    assert SECRET_FIX in str(err.value)


# --- imported statuses -----------------------------------------------------------------------

@pytest.mark.parametrize("status,why", [
    ("RUNNING", "means the run has not finished"),
    ("SCHEDULED", "means the run has not finished"),
    ("bogus", "is not a run status"),
])
def test_mlflow_csv_unfinished_or_unknown_status_is_refused_whole(lab, capsys, status, why):
    path = write(lab, "mlflow.csv", "run_id,tags.mlflow.runName,status,params.lr,metrics.acc\n"
                 f"r1,done,FINISHED,0.1,0.5\nr2,other,{status},0.2,0.6\n")
    msg = refused(capsys, lab, "import", str(path))  # the finished row 2 is not written either
    assert f"{path}, line 3 (run 'other'): status '{status}' {why}" in msg
    assert "FINISHED, FAILED, KILLED, succeeded, failed or cancelled" in msg


@pytest.mark.parametrize("status,why", [
    ("queued", "means the run has not finished"),
    ("running", "means the run has not finished"),
    ("bogus", "is not a run status"),
])
def test_adlab_json_unfinished_or_unknown_status_is_refused_whole(lab, capsys, status, why):
    doc = {"adlab_export": 1, "runs": [{"name": "done", "status": "succeeded", "params": {"lr": 1}},
                                       {"name": "other", "status": status, "params": {"lr": 2}}]}
    path = write(lab, "export.json", json.dumps(doc))
    msg = refused(capsys, lab, "import", str(path))
    assert f"{path}: runs[1] ('other'): status '{status}' {why}" in msg
    assert "succeeded, failed or cancelled" in msg


def test_several_files_are_all_checked_before_the_first_is_written(lab, capsys):
    good = write(lab, "good.csv", "name,status,params.lr,metrics.acc\nfine,FINISHED,1,0.5\n")
    bad = write(lab, "bad.csv", "name,status,params.lr,metrics.acc\nlive,SCHEDULED,1,0.5\n")
    msg = refused(capsys, lab, "import", str(good), str(bad))
    assert f"{bad}, line 2 (run 'live'): status 'SCHEDULED'" in msg
    code, _, err = adlab(capsys, "import", str(good))
    assert code == 0 and f"{good}: imported 1 run(s)" in err, err


def test_write_runs_refuses_an_unfinished_run_from_a_direct_caller(lab, engine):
    from adlab.errors import AdlabError
    from adlab.interchange.importers import ImportedRun, write_runs

    runs = [ImportedRun(name="ok", pipeline="x", params={"lr": 1}, metrics=[]),
            ImportedRun(name="live", pipeline="x", params={"lr": 2}, metrics=[], status="running")]
    with pytest.raises(AdlabError, match="run 'live': status 'running' means the run has not"):
        write_runs(engine, runs, source="api")
    assert run_count(lab) == 1


def test_finished_statuses_import_with_their_meaning(lab, capsys):
    path = write(lab, "mlflow.csv", "run_id,tags.mlflow.runName,status,params.lr,metrics.acc\n"
                 "r1,a,FINISHED,0.1,0.5\nr2,b,FAILED,0.2,0.6\nr3,c,KILLED,0.3,0.7\nr4,d,cancelled,0.4,0.8\n")
    code, _, err = adlab(capsys, "import", str(path))
    assert code == 0, err
    con = sqlite3.connect(lab / "lab.db")
    got = dict(con.execute("SELECT name, status FROM runs WHERE name IN ('a','b','c','d')"))
    con.close()
    assert got == {"a": "succeeded", "b": "failed", "c": "cancelled", "d": "cancelled"}


def test_non_utf8_import_file_names_the_byte_offset(lab, capsys):
    path = write(lab, "latin1.csv", "name,params.lr,metrics.acc\ncafé,1,0.5\n".encode("latin-1"))
    msg = refused(capsys, lab, "import", str(path))
    assert f"import file {path} is not UTF-8 text (byte 0xe9 at byte offset 30, line 2)" in msg


# --- the run limit ---------------------------------------------------------------------------

MILLION = ("pipeline: diag\ngrid:\n" + "".join(
    f"  {k}: [{', '.join(str(i) for i in range(10))}]\n"
    for k in ("steps", "value", "seed", "fail_at", "crash_at", "step_seconds")))


def test_a_million_point_grid_is_refused_from_its_lengths(lab, capsys):
    path = write(lab, "million.yaml", MILLION)
    start = time.perf_counter()
    msg = refused(capsys, lab, "queue", str(path), "--dry-run")
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, elapsed
    assert f"config {path}: the grid makes 1,000,000 runs (steps 10 x value 10" in msg
    assert "more than the limit of 10,000" in msg and "--max-runs 1000000" in msg
    assert "ADLAB_MAX_RUNS=1000000" in msg
    from adlab.config.loader import load_run_specs
    from adlab.errors import ConfigError

    tracemalloc.start()
    with pytest.raises(ConfigError):
        load_run_specs(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5_000_000, peak  # bytes: the product is never built


def test_limit_from_env_flag_and_pipeline_expansion(lab, capsys, monkeypatch):
    path = write(lab, "six.yaml", "pipeline: diag\ngrid:\n  steps: [1, 2, 3]\n  value: [0.1, 0.2]\n")
    monkeypatch.setenv("ADLAB_MAX_RUNS", "5")
    msg = refused(capsys, lab, "queue", str(path))
    assert "the grid makes 6 runs (steps 3 x value 2), more than the limit of 5" in msg
    code, out, err = adlab(capsys, "queue", str(path), "--max-runs", "6")
    assert code == 0, err
    assert run_count(lab) == 7
    monkeypatch.setenv("ADLAB_MAX_RUNS", "lots")
    msg = refused(capsys, lab, "queue", str(path), "--dry-run")
    assert "ADLAB_MAX_RUNS='lots' is not a whole number" in msg
    monkeypatch.delenv("ADLAB_MAX_RUNS")
    per_category = write(lab, "ano.yaml", "pipeline: anomalib\nmodel: padim\ndata:\n"
                         "  dataset: mvtec_ad\n  categories: [bottle, cable, grid]\n"
                         "  split_runs: per_category\ngrid:\n  seed: [1, 2]\n")
    msg = refused(capsys, lab, "queue", str(per_category), "--dry-run", "--max-runs", "5")
    assert "once the pipeline expands each grid point (e.g. one run per category) the study " \
           "makes more runs than the limit of 5" in msg


# --- the same refusals from a real process ---------------------------------------------------

def test_real_process_refuses_bomb_grid_and_running_import(lab, cli):
    bomb = write(lab, "bomb.yaml", billion_laughs())
    grid = write(lab, "million.yaml", MILLION)
    csv = write(lab, "live.csv", "name,status,params.lr,metrics.acc\nlive,RUNNING,1,0.5\n")
    for args, fragment in ((("queue", str(bomb), "--dry-run"), "alias bomb"),
                           (("queue", str(grid), "--dry-run"), "1,000,000 runs"),
                           (("import", str(csv)), "status 'RUNNING' means the run has not finished")):
        proc = cli(*args, timeout=60)
        assert proc.returncode == 1, proc.stderr
        assert fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert run_count(lab) == 1
