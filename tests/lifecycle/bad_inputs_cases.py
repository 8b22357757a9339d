"""Every bad input adlab was tried with, as data: what it is, the command, how to set it up, and
a fragment of the one sentence it must answer with (and the exit code).

``test_bad_inputs.py`` runs each case through the real command line; this module's
``--markdown`` writes ``docs/bad-inputs.md`` from the real outputs, so the table cannot drift:

    .venv/bin/python tests/lifecycle/bad_inputs_cases.py --markdown > docs/bad-inputs.md

Most cases run in-process (``adlab.cli.app.main``, the console script's entry point, with
stdout/stderr captured): about 10 ms each instead of a new interpreter. Cases that need another
user's view of the files (a read-only lab, as root without the permission-override
capabilities) run as a real process.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

Setup = Callable[[Path], None]

# Drops root's permission overrides, so root sees file modes as any other user does.
NO_OVERRIDE = ("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner")


@dataclass(frozen=True)
class Case:
    name: str  # short id (test id)
    what: str  # the bad input, in words
    argv: tuple[str, ...]  # adlab's arguments; {pghost} {dead} {http} are filled in (Context)
    expect: str  # a fragment of the error line
    code: int = 1
    setup: Setup | None = None  # builds files in the case's folder (the working directory)
    stdout: str = ""  # a fragment stdout must hold (partial success); else stdout is empty
    env: dict[str, str] = field(default_factory=dict)
    needs: frozenset[str] = frozenset()  # "postgres", "http", "read_only_user"

    @property
    def process(self) -> bool:
        return "read_only_user" in self.needs


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        """The lines that state the error: adlab's ``error: ...``, click's ``Error: ...``."""
        return [ln for ln in self.stderr.splitlines() if ln.startswith(("error:", "Error:"))]


@dataclass
class Context:
    """Servers some cases point at: ``{pghost}`` a live PostgreSQL server (host:port),
    ``{dead}`` a loopback port nothing listens on, ``{http}`` a port where an HTTP server
    answers instead of PostgreSQL."""

    pg_port: int = 0
    dead: int = 0
    http: int = 0

    def fill(self, text: str) -> str:
        return text.format(pghost=f"127.0.0.1:{self.pg_port}", dead=self.dead, http=self.http)

    def placeholders(self) -> dict[str, str]:
        """Real ports -> the words the doc shows instead (ports change every run)."""
        out: dict[str, str] = {}
        for port, word in ((self.pg_port, "PGPORT"), (self.dead, "PORT"), (self.http, "PORT")):
            if port:
                out[f":{port}"] = f":{word}"
                out[f"port {port}"] = f"port {word}"
        return out


# ---- setups ---------------------------------------------------------------------------------

def _write(name: str, text: str | bytes) -> Setup:
    def setup(root: Path) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return setup


def _both(*setups: Setup) -> Setup:
    def setup(root: Path) -> None:
        for s in setups:
            s(root)
    return setup


def _engine(path: Path):  # noqa: ANN202
    from adlab.db.engine import get_engine

    return get_engine(f"sqlite:///{path}")


def _close_all(path: Path) -> None:
    """Close adlab's connections and fold the WAL into the file (a copy of the file alone is
    then the whole lab; it stays in WAL mode, as every lab does)."""
    from adlab.db.engine import dispose_all

    dispose_all()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()  # the last connection to a WAL database removes -wal and -shm


_TEMPLATES: dict[int, bytes] = {}


def _lab(name: str = "lab.db", *, runs: int = 4) -> Setup:
    """A lab with ``runs`` succeeded imported runs (metrics img_auc, pix_ap; two groups by
    lr), then three diag runs: the first running, the second failed, the third queued (ids
    runs+1, runs+2, runs+3). Built once per process, then copied."""
    def setup(root: Path) -> None:
        if runs not in _TEMPLATES:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                _build_lab(Path(tmp) / "lab.db", runs)
                _TEMPLATES[runs] = (Path(tmp) / "lab.db").read_bytes()
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_TEMPLATES[runs])
    return setup


def _build_lab(path: Path, runs: int) -> None:
    from adlab.config.loader import build_run_specs
    from adlab.interchange.importers import ImportedRun, write_runs
    from adlab.queue import claim, enqueue, finish

    engine = _engine(path)
    write_runs(engine, [ImportedRun(
        name=f"m{i}", pipeline="moleflow", params={"lr": 1e-4 * (1 + i % 2), "seed": i},
        metrics=[("img_auc", "", 0.9 + i / 100), ("pix_ap", "", 0.5)],
        group_keys=["lr"], headline_metric="img_auc") for i in range(runs)], source="cases")
    enqueue(engine, build_run_specs({"pipeline": "diag", "grid": {"value": [1, 2, 3]}}))
    for status in ("running", "failed"):
        run = claim(engine, worker="w", device="cpu")
        assert run is not None
        if status == "failed":
            finish(engine, run_id=run.id, worker="w", attempt=run.attempt, status="failed",
                   error="boom")
    _close_all(path)


def _newer_schema(root: Path) -> None:
    _lab()(root)
    conn = sqlite3.connect(root / "lab.db")
    conn.execute("UPDATE alembic_version SET version_num = 'f00dfeed9999'")
    conn.commit()
    conn.close()


def _truncated(root: Path) -> None:
    _lab()(root)
    data = (root / "lab.db").read_bytes()
    (root / "lab.db").write_bytes(data[:3000])


def _damaged_metrics(root: Path) -> None:
    """A lab whose ``metrics`` table's root page is overwritten: the database opens (schema and
    revision read fine) and fails only when a command reads metrics."""
    _lab(runs=40)(root)
    path = root / "lab.db"
    conn = sqlite3.connect(path)
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'metrics'").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as fh:
        fh.seek((page - 1) * size)
        fh.write(b"\xa5" * size)


def _other_application(root: Path) -> None:
    conn = sqlite3.connect(root / "notes.db")
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.commit()
    conn.close()


def _read_only(folder: str, setup: Setup | None = None) -> Setup:
    """``folder`` (with what ``setup`` puts in it) made read-only for everyone."""
    def make(root: Path) -> None:
        (root / folder).mkdir(parents=True, exist_ok=True)
        if setup is not None:
            setup(root)
        for p in (root / folder).iterdir():
            p.chmod(0o444)
        (root / folder).chmod(0o555)
    return make


def _old_schema_lab(root: Path) -> None:
    from adlab.db.engine import make_engine
    from adlab.db.migrate import upgrade

    (root / "ro").mkdir(exist_ok=True)
    engine = make_engine(f"sqlite:///{root / 'ro' / 'lab.db'}")
    upgrade(engine, "0001")
    engine.dispose()
    _close_all(root / "ro" / "lab.db")


def _alias_bomb() -> str:
    lines = ["a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
        prev = name
    return "pipeline: diag\n" + "\n".join(lines) + "\n"


def _huge_grid() -> str:
    vals = list(range(1, 11))
    return ("pipeline: diag\ngrid:\n" + "".join(
        f"  {k}: {vals}\n" for k in ("steps", "value", "seed", "step_seconds", "fail_at"))
        + f"  label: {[str(v) for v in vals]}\n")


def _csv(name: str, header: str, *rows: str) -> Setup:
    return _write(name, "\n".join([header, *rows]) + "\n")


def _npz_maps_dir(root: Path) -> None:
    (root / "maps").mkdir()


OK_YAML = _write("study.yaml", "pipeline: diag\ngrid:\n  value: [0.1, 0.2]\n")


def _dataset(change: Callable[[Path], None] | None = None, *, root: str = "data/synthetic",
             categories: str = "all") -> Setup:
    """A tiny synthetic dataset in data/synthetic (categories woven, washer), ``change``d,
    and study.yaml: an anomalib run reading ``root`` (checked when queued)."""
    def setup(case_root: Path) -> None:
        from adlab.data.synth import generate_synthetic

        data = case_root / "data" / "synthetic"
        generate_synthetic(data, categories=["woven", "washer"], image_size=32, n_train=2,
                           n_test_good=1, n_test_defect=2)
        if change is not None:
            change(data)
        (case_root / "study.yaml").write_text(
            "pipeline: anomalib\nmodel: padim\n"
            f"data: {{dataset: synthetic, root: {root}, categories: {categories}}}\n")
    return setup


def _first_mask(data: Path) -> Path:
    return sorted((data / "woven" / "ground_truth").rglob("*_mask.png"))[0]


def _mask_of_another_size(data: Path) -> None:
    from PIL import Image

    Image.new("L", (20, 16)).save(_first_mask(data))


def _no_train_good(data: Path) -> None:
    shutil.rmtree(data / "woven" / "train" / "good")


def _domains(study: str) -> Setup:
    """The tiny synthetic dataset in data/synthetic and s.yaml: a patchcore_study run whose
    lines ``study`` adds (cross-domain mode; data.root data/synthetic, categories woven,
    washer)."""
    def setup(case_root: Path) -> None:
        _dataset()(case_root)
        (case_root / "s.yaml").write_text(
            "pipeline: patchcore_study\nmode: cross_domain\n"
            "backbone: {name: resnet18, pretrained: false}\n" + study)
    return setup


PCS_DATA = "data: {dataset: synthetic, root: data/synthetic, categories: [woven, washer]}\n"


def _mmad_tree(root: Path) -> None:
    """A tiny MMAD folder: mmad.json (two images of DS-A/bottle, two templates each) and its
    images."""
    import json

    from PIL import Image

    records = {}
    templates = [f"DS-A/bottle/train/good/{i:03d}.png" for i in range(2)]
    for image in ("DS-A/bottle/test/good/000.png", "DS-A/bottle/test/crack/000.png"):
        records[image] = {"image_path": image, "mask_path": None,
                          "similar_templates": templates[::-1], "random_templates": templates,
                          "conversation": [{"Question": "Is there a defect?", "Answer": "A",
                                            "Options": {"A": "Yes.", "B": "No."},
                                            "type": "Anomaly Detection", "annotation": True}]}
    for rel in [*records, *templates]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(root / rel)
    (root / "mmad.json").write_text(json.dumps(records, indent=1))


def _mmad(study: str, change: Callable[[Path], None] | None = None) -> Setup:
    """The tiny MMAD folder in MMAD/ (``change``d) and s.yaml: an mmad run (llm qwen, no AD
    model unless ``study`` sets one) whose lines ``study`` adds."""
    def setup(case_root: Path) -> None:
        _mmad_tree(case_root / "MMAD")
        if change is not None:
            change(case_root)
        (case_root / "s.yaml").write_text("pipeline: mmad\nllm: qwen\n" + study)
    return setup


PASSWORD_ROLE = "adlab_pw"  # a PostgreSQL role that logs in by password (require_password_role)
MLFLOW_HEADER = "run_id,tags.mlflow.runName,status,params.lr,metrics.auroc"
KEY = "sk-abcdefghijklmnopqrstuvwxyz123456"  # a made-up key in the OpenAI shape


# ---- the cases ------------------------------------------------------------------------------

CASES: list[Case] = [
    # the database ---------------------------------------------------------------------------
    Case("db-not-sqlite", "a --db file that is not an SQLite database", ("--db", "notes.txt", "runs"),
         "is not an SQLite database", setup=_write("notes.txt", "shopping list\n")),
    Case("db-directory", "a --db path that is a directory", ("--db", "labdir", "runs"),
         "is a directory; give a file path", setup=lambda root: (root / "labdir").mkdir()),
    Case("db-missing-folder", "a --db path in a folder that does not exist",
         ("--db", "nofolder/lab.db", "runs"), "database folder ./nofolder does not exist"),
    Case("db-truncated", "a truncated lab.db (first 3,000 bytes of a lab)", ("runs",),
         "is damaged (database disk image is malformed)", setup=_truncated),
    Case("db-damaged-page", "a lab.db whose metrics table is overwritten (fails after opening)",
         ("compare",), "is damaged (database disk image is malformed)", setup=_damaged_metrics),
    Case("db-newer-schema", "a lab.db written by a newer adlab (schema revision unknown here)",
         ("runs",), "has schema revision 'f00dfeed9999', which this adlab", setup=_newer_schema),
    Case("db-newer-schema-upgrade", "`db upgrade` of a lab.db of a newer schema",
         ("db", "upgrade"), "a newer adlab wrote it; upgrade adlab", setup=_newer_schema),
    Case("db-other-application", "an SQLite database of another application",
         ("--db", "notes.db", "runs"), "holds tables of another application (notes)",
         setup=_other_application),
    Case("db-unsupported-url", "a database URL of an unsupported kind",
         ("--db", "mysql://user@localhost/lab", "runs"), "unsupported database URL"),
    Case("db-worker-not-sqlite", "a worker pointed at a file that is not a database",
         ("--db", "notes.txt", "worker", "--until-empty"), "is not an SQLite database",
         setup=_write("notes.txt", "shopping list\n")),
    Case("worker-missing-device", "a worker on a CUDA device this machine does not have",
         ("worker", "--device", "cuda:7", "--until-empty"), "--device cuda:7: "),
    Case("db-read-only-write", "queueing into a lab in a read-only folder",
         ("--db", "ro/lab.db", "queue", "study.yaml"), "is read-only for this user",
         setup=_both(OK_YAML, _read_only("ro", _lab("ro/lab.db"))),
         needs=frozenset({"read_only_user"})),
    Case("db-read-only-cancel", "cancelling a run of a read-only lab.db",
         ("--db", "ro/lab.db", "cancel", "5"), "listing and comparing work, but to change the lab",
         setup=_read_only("ro", _lab("ro/lab.db")), needs=frozenset({"read_only_user"})),
    Case("db-read-only-new", "a new lab in a read-only folder", ("--db", "ro/new.db", "runs"),
         "cannot create database ./ro/new.db: its folder is not writable",
         setup=_read_only("ro"), needs=frozenset({"read_only_user"})),
    Case("db-read-only-old-schema", "a read-only lab.db of an older schema (needs an upgrade)",
         ("--db", "ro/lab.db", "runs"), "is read-only for this user and has schema revision 0001",
         setup=_read_only("ro", _old_schema_lab), needs=frozenset({"read_only_user"})),
    Case("pg-down", "PostgreSQL URL whose port has nothing listening",
         ("--db", "postgresql+psycopg://lab@127.0.0.1:{dead}/lab", "runs"),
         "nothing listens there", needs=frozenset({"dead"})),
    Case("pg-unknown-host", "PostgreSQL URL with a host name that does not resolve",
         ("--db", "postgresql+psycopg://lab@no-such-host.invalid/lab", "runs"),
         "host 'no-such-host.invalid' is unknown"),
    Case("pg-wrong-port", "PostgreSQL URL whose port is an HTTP server",
         ("--db", "postgresql+psycopg://lab@127.0.0.1:{http}/lab", "runs"),
         "does not speak PostgreSQL", needs=frozenset({"http"})),
    Case("pg-port-out-of-range", "PostgreSQL URL with port 99999",
         ("--db", "postgresql+psycopg://lab@127.0.0.1:99999/lab", "runs"),
         "99999 is not a port number"),
    Case("db-url-port-not-number", "a database URL whose port is not a number",
         ("--db", "postgresql+psycopg://lab@127.0.0.1:fivefour/lab", "runs"),
         "is not a valid URL (invalid literal for int()"),
    Case("pg-bad-user", "PostgreSQL login with a user the server does not know",
         ("--db", "postgresql+psycopg://nobody:secret@{pghost}/postgres", "runs"),
         "refused the login", needs=frozenset({"postgres"})),
    Case("pg-wrong-password", "PostgreSQL login with a wrong password",
         ("--db", f"postgresql+psycopg://{PASSWORD_ROLE}:wrong@{{pghost}}/postgres", "runs"),
         f'password authentication failed for user "{PASSWORD_ROLE}"',
         needs=frozenset({"postgres"})),
    Case("pg-missing-database", "PostgreSQL database that does not exist on the server",
         ("--db", "postgresql+psycopg://postgres@{pghost}/no_such_lab", "runs"), "'no_such_lab' at 127.0.0.1:PGPORT",
         needs=frozenset({"postgres"})),
    Case("db-env-directory", "ADLAB_DB naming a directory", ("runs",),
         "database path ./labdir is a directory", env={"ADLAB_DB": "labdir"},
         setup=lambda root: (root / "labdir").mkdir()),
    Case("db-copy-to-not-sqlite", "`db copy --to` a file that is not a database",
         ("db", "copy", "--to", "notes.txt"), "./notes.txt is not an SQLite database",
         setup=_both(_lab(), _write("notes.txt", "shopping list\n"))),
    Case("db-copy-into-nonempty", "`db copy --to` a lab that already has runs",
         ("db", "copy", "--to", "lab.db"), "copy into an empty database", setup=_lab()),
    # study files and overrides ----------------------------------------------------------------
    Case("cfg-missing", "a study file that does not exist", ("queue", "nosuch.yaml"),
         "config file nosuch.yaml does not exist"),
    Case("cfg-none", "`queue` without a study file", ("queue",), "no config file given"),
    Case("cfg-two", "two study files at once", ("queue", "study.yaml", "study.yaml"),
         "takes one config file, got 2", setup=OK_YAML),
    Case("cfg-folder", "a folder given as the study file", ("queue", "studies"),
         "is a folder; give a YAML file", setup=lambda root: (root / "studies").mkdir()),
    Case("cfg-empty", "an empty study file", ("queue", "s.yaml"), "is empty; it needs at least",
         setup=_write("s.yaml", "")),
    Case("cfg-unknown-pipeline", "an unknown pipeline name", ("queue", "s.yaml"),
         "unknown pipeline 'nosuch'; known pipelines:", setup=_write("s.yaml", "pipeline: nosuch\n")),
    Case("cfg-unknown-field", "a misspelt field", ("queue", "s.yaml"),
         "field `stpes`: unknown field", setup=_write("s.yaml", "pipeline: diag\nstpes: 3\n")),
    Case("cfg-bad-type", "a field of the wrong type", ("queue", "s.yaml"),
         "field `value`: Input should be a valid number",
         setup=_write("s.yaml", "pipeline: diag\nvalue: many\n")),
    Case("cfg-grid-not-mapping", "a grid that is a list, not a mapping", ("queue", "s.yaml"),
         "field `grid`: Input should be a valid dictionary",
         setup=_write("s.yaml", "pipeline: diag\ngrid: [1, 2]\n")),
    Case("cfg-grid-empty", "a grid entry with no values", ("queue", "s.yaml"),
         "grid entry 'value' has no values",
         setup=_write("s.yaml", "pipeline: diag\ngrid:\n  value: []\n")),
    Case("cfg-grid-huge", "a grid of 10^6 combinations", ("queue", "s.yaml", "--dry-run"),
         "the grid makes 1,000,000 runs", setup=_write("s.yaml", _huge_grid())),
    Case("cfg-yaml-syntax", "a YAML syntax error", ("queue", "s.yaml"),
         "invalid YAML at line", setup=_write("s.yaml", "pipeline: diag\ngrid:\n  value: [0.1\n")),
    Case("cfg-top-level-list", "a study file whose top level is a list", ("queue", "s.yaml"),
         "the top level must be a mapping", setup=_write("s.yaml", "- 1\n- 2\n")),
    Case("cfg-duplicate-key", "a key written twice in one mapping", ("queue", "s.yaml"),
         "key 'value' appears twice in one mapping",
         setup=_write("s.yaml", "pipeline: diag\nvalue: 0.1\nvalue: 0.2\n")),
    Case("cfg-alias-bomb", "a YAML alias bomb (9^9 values from 10 lines)", ("queue", "s.yaml"),
         "an alias bomb", setup=_write("s.yaml", _alias_bomb())),
    Case("cfg-recursive", "a recursive YAML alias", ("queue", "s.yaml"),
         "recursive YAML", setup=_write("s.yaml", "pipeline: diag\nx: &x\n  y: *x\n")),
    Case("cfg-not-utf8", "a study file in Latin-1, not UTF-8", ("queue", "s.yaml"),
         "is not UTF-8 text", setup=_write("s.yaml", b"pipeline: diag\nlabel: caf\xe9\n")),
    Case("mmad-ad-config-duplicate-key", "an mmad `ad.config` YAML with a key written twice",
         ("queue", "s.yaml", "--dry-run"),
         "ad.config: ad.yaml, line 2: key 'checkpoints' appears twice in one mapping",
         setup=_both(_write("s.yaml", "pipeline: mmad\nllm: qwen\nad_model: patchcore\nad:\n"
                            "  config: ad.yaml\n"),
                     _write("ad.yaml", "checkpoints: /a\ncheckpoints: /b\n"))),
    Case("import-model-config-alias-bomb", "`import-model --config` a seed config.yaml that is "
         "an alias bomb", ("import-model", "ckpt", "--config", "config.yaml"),
         "config config.yaml: its YAML aliases expand to more than 100,000 values",
         setup=_both(_write("ckpt/MVTec/bottle/model.pt", b"unread"),
                     _write("config.yaml", _alias_bomb()))),
    Case("max-runs-env", "ADLAB_MAX_RUNS that is not a number", ("queue", "study.yaml", "--dry-run"),
         "ADLAB_MAX_RUNS='lots' is not a whole number", env={"ADLAB_MAX_RUNS": "lots"},
         setup=OK_YAML),
    Case("max-runs-zero", "`queue --max-runs 0`", ("queue", "study.yaml", "--max-runs", "0"),
         "greater than or equal to 1", code=2, setup=OK_YAML),
    Case("max-runs-env-exceeded", "a grid larger than ADLAB_MAX_RUNS", ("queue", "study.yaml"),
         "the grid makes 2 runs (value 2), more than the limit of 1", env={"ADLAB_MAX_RUNS": "1"},
         setup=OK_YAML),
    Case("max-runs-expansion", "a grid within the limit whose per-category runs exceed it",
         ("queue", "s.yaml", "--dry-run", "--max-runs", "5"),
         "once the pipeline expands each grid point (e.g. one run per category) the study makes "
         "more runs than the limit of 5",
         setup=_write("s.yaml", "pipeline: anomalib\nmodel: padim\ndata:\n  dataset: mvtec_ad\n"
                      "  categories: [bottle, cable, grid]\n  split_runs: per_category\n"
                      "grid:\n  seed: [1, 2]\n")),
    Case("group-key-unknown", "`queue --group-keys` with a key that is no parameter",
         ("queue", "study.yaml", "--group-keys", "nosuch"),
         "group key 'nosuch' (--group-keys) is not a parameter of pipeline 'diag'; its parameters:",
         setup=OK_YAML),
    Case("group-key-typo", "`queue --group-keys` with a misspelt parameter",
         ("queue", "study.yaml", "--group-keys", "vlaue", "--dry-run"),
         "group key 'vlaue' (--group-keys) is not a parameter of pipeline 'diag'; its parameters "
         "(closest first): value,", setup=OK_YAML),
    Case("group-key-yaml", "`group_keys:` in a study file naming a missing sub-key",
         ("queue", "s.yaml"),
         "group key 'data.categry' (`group_keys:`) is not a parameter of pipeline 'anomalib'; its "
         "parameters (closest first): data.category_set, data.categories,",
         setup=_write("s.yaml", "pipeline: anomalib\nmodel: padim\ngroup_keys: [model, data.categry]\n"
                      "data:\n  categories: [bottle]\n")),
    Case("group-key-condition", "`group_keys:` of one condition naming no parameter",
         ("queue", "s.yaml"),
         "condition 'b': group key 'lr' (`group_keys:` of the condition) is not a parameter of "
         "pipeline 'diag'",
         setup=_write("s.yaml", "pipeline: diag\nconditions:\n  - name: a\n  - name: b\n"
                      "    group_keys: [lr]\n")),
    Case("cfg-nested-too-deep", "YAML nested 1,000 lists deep", ("queue", "s.yaml"),
         "the YAML nests too deeply to read",
         setup=_write("s.yaml", "pipeline: diag\nlabel: " + "[" * 1000 + "]" * 1000 + "\n")),
    Case("cfg-secret", "an API key as a value in a study file", ("queue", "s.yaml"),
         "field `label` holds what looks like an API key",
         setup=_write("s.yaml", f"pipeline: diag\nlabel: {KEY}\n")),
    Case("cfg-secret-env", "a ${VAR} reference that expands to an API key", ("queue", "s.yaml"),
         "field `label` holds what looks like an API key", env={"MY_SERVICE_KEY": KEY},
         setup=_write("s.yaml", "pipeline: diag\nlabel: ${MY_SERVICE_KEY}\n")),
    Case("cfg-secret-url-password", "a password in an endpoint URL (mmad api.base_url)",
         ("queue", "s.yaml"), "field `api.base_url` holds what looks like an API key or password",
         setup=_write("s.yaml", "pipeline: mmad\nllm: qwen\napi:\n"
                      "  base_url: https://user:hunter2secret@proxy.example.com/v1\n")),
    Case("shortcut-secret", "a pipeline shortcut flag given an API key (--llm)",
         ("queue", "s.yaml", "--llm", KEY), "--llm holds what looks like an API key",
         setup=_write("s.yaml", "pipeline: mmad\nllm: qwen\n")),
    Case("set-no-equals", "--set without KEY=VALUE", ("queue", "study.yaml", "--set", "value"),
         "expected KEY=VALUE", setup=OK_YAML),
    Case("set-unknown-key", "--set of a field the pipeline does not have",
         ("queue", "study.yaml", "--set", "train.epochs=3"), "field `train`: unknown field",
         setup=OK_YAML),
    Case("set-bad-value", "--set with a value of the wrong type",
         ("queue", "study.yaml", "--set", "steps=three"), "field `steps`",
         setup=OK_YAML),
    Case("set-secret", "--set with an API key as a value",
         ("queue", "study.yaml", "--set", "label=sk-abcdefghijklmnopqrstuvwxyz123456"),
         "looks like an API key", setup=OK_YAML),
    Case("set-alias-bomb", "an alias bomb inside a --set value",
         ("queue", "study.yaml", "--set", "categories=[&a [1,1,1,1,1,1,1,1,1,1], "
          "[&b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], [&c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], "
          "[&d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]]]]]"),
         "--set categories: its YAML aliases expand to more than 100,000 values", setup=OK_YAML),
    Case("set-duplicate-key", "a key repeated inside a --set flow mapping",
         ("queue", "study.yaml", "--set", "label={{a: 1, a: 2}}"),
         "--set label, line 1: key 'a' appears twice in one mapping", setup=OK_YAML),
    Case("queue-unknown-pipeline-flag", "--pipeline naming no pipeline",
         ("queue", "study.yaml", "--pipeline", "nosuch"), "unknown pipeline 'nosuch'",
         setup=OK_YAML),
    # runs by id -------------------------------------------------------------------------------
    Case("show-missing", "`show` of a run id that does not exist", ("show", "999999"),
         "run 999999 does not exist", setup=_lab()),
    Case("logs-missing", "`logs` of a run id that does not exist", ("logs", "999999"),
         "run 999999 does not exist", setup=_lab()),
    Case("cancel-partial", "`cancel` of an existing and a missing id", ("cancel", "7", "999999"),
         "run 999999 does not exist", setup=_lab(), stdout="run 7: cancelled"),
    Case("retry-partial", "`retry` of an existing and a missing id", ("retry", "6", "999999"),
         "run 999999 does not exist", setup=_lab(), stdout="run 6: queued"),
    Case("delete-partial", "`delete` of an existing and a missing id",
         ("delete", "--yes", "1", "999999"), "run 999999 does not exist", setup=_lab(),
         stdout="run 1: deleted"),
    Case("cancel-finished", "`cancel` of a run that already succeeded", ("cancel", "1"),
         "run 1 is already succeeded", setup=_lab()),
    Case("retry-queued", "`retry` of a run that is still queued", ("retry", "7"),
         "only failed or cancelled runs can be retried", setup=_lab()),
    Case("delete-running", "`delete` of a running run", ("delete", "--yes", "5"),
         "run 5 is running; cancel it first", setup=_lab()),
    Case("runs-bad-status", "`runs --status` with a misspelt status", ("runs", "--status", "sucess"),
         "--status 'sucess' is not a run status"),
    # compare and report -----------------------------------------------------------------------
    Case("compare-metric-typo", "`compare --metric` misspelt", ("compare", "--metric", "img_aux"),
         "no run in this lab records metric 'img_aux'; known metrics (closest first): img_auc",
         setup=_lab()),
    Case("compare-sort-typo", "`compare --sort` naming no metric", ("compare", "--sort", "pixap"),
         "records metric 'pixap'; known metrics (closest first): pix_ap", setup=_lab()),
    Case("compare-empty-lab", "`compare` of a lab with no results yet", ("compare",),
         "no --metric given and the selected runs record no headline metric"),
    Case("compare-missing-run", "`compare` of a run id that does not exist",
         ("compare", "1", "999999"), "run 999999 does not exist", setup=_lab()),
    Case("compare-missing-baseline", "`compare --baseline` naming no run",
         ("compare", "--baseline", "nosuch"), "no run is named 'nosuch'", setup=_lab()),
    Case("compare-unknown-group-key", "`compare --group` with a key no run has",
         ("compare", "--group", "lrr"), "'lrr'", setup=_lab()),
    Case("compare-across-groups", "`compare` of named runs from two groups",
         ("compare", "1", "2"), "pass --across-groups", setup=_lab()),
    Case("compare-where-syntax", "`compare --where` without KEY=VALUE", ("compare", "--where", "lr"),
         "--where 'lr': expected KEY=VALUE, e.g. --where data.dataset=visa", setup=_lab()),
    Case("compare-pivot-unknown", "`compare --pivot` of an unknown kind", ("compare", "--pivot", "dataset"),
         "--pivot 'dataset' is not a pivot", code=2, setup=_lab()),
    Case("report-format", "`report --format` unknown", ("report", "-o", "r.md", "--format", "pdf"),
         "unknown report format 'pdf'", setup=_lab()),
    Case("report-metric-typo", "`report --metric` misspelt", ("report", "-o", "r.md", "-m", "auroc"),
         "no run in this lab records metric 'auroc'", setup=_lab()),
    # import and export ------------------------------------------------------------------------
    Case("import-missing", "`import` of a file that does not exist", ("import", "runs.csv"),
         "runs.csv does not exist"),
    Case("import-not-mlflow", "a CSV that is not an MLflow export", ("import", "x.csv"),
         "no params.<key> or metrics.<key> columns", setup=_csv("x.csv", "a,b", "1,2")),
    Case("import-no-name", "an MLflow CSV without a run-name column", ("import", "x.csv"),
         "needs a run-name column", setup=_csv("x.csv", "run_id,params.lr", "r1,0.1")),
    Case("import-unknown-status", "an MLflow CSV with a status no run can have", ("import", "x.csv"),
         "status 'BOGUS' is not a run status",
         setup=_csv("x.csv", MLFLOW_HEADER, "r1,a,BOGUS,0.1,0.9")),
    Case("import-unfinished-status", "an MLflow CSV row still RUNNING", ("import", "x.csv"),
         "means the run has not finished", setup=_csv("x.csv", MLFLOW_HEADER, "r1,a,RUNNING,0.1,0.9")),
    Case("import-json-queued", "an adlab JSON export with a queued run", ("import", "x.json"),
         "runs[1] ('b'): status 'queued' means the run has not finished",
         setup=_write("x.json", '{"adlab_export": 1, "runs": [{"name": "a", "status": "succeeded"},'
                      ' {"name": "b", "status": "queued"}]}\n')),
    Case("import-json-bogus-status", "an adlab JSON export with a status no run can have",
         ("import", "x.json"), "status 'bogus' is not a run status; use succeeded, failed or cancelled",
         setup=_write("x.json", '{"adlab_export": 1, "runs": [{"name": "a", "status": "bogus"}]}\n')),
    Case("import-second-file-unfinished", "two import files, the second with a SCHEDULED run",
         ("import", "a.csv", "x.csv"), "x.csv, line 2 (run 'a'): status 'SCHEDULED'",
         setup=_both(_csv("a.csv", MLFLOW_HEADER, "r0,z,FINISHED,0.1,0.9"),
                     _csv("x.csv", MLFLOW_HEADER, "r1,a,SCHEDULED,0.1,0.9"))),
    Case("import-group-key-unknown", "`import --group-keys` naming a column the file lacks",
         ("import", "x.csv", "--group-keys", "seed"),
         "x.csv: --group-keys 'seed' is not a parameter of its runs; their parameters: lr",
         setup=_csv("x.csv", MLFLOW_HEADER, "r1,a,FINISHED,0.1,0.9")),
    Case("import-csv-secret", "an MLflow CSV params column holding an API key", ("import", "x.csv"),
         "line 2 (run 'a'): column params.token holds what looks like an API key",
         setup=_csv("x.csv", "run_id,tags.mlflow.runName,status,params.token,metrics.auroc",
                    f"r1,a,FINISHED,{KEY},0.9")),
    Case("import-csv-secret-tag", "an MLflow CSV tags column holding a bearer token",
         ("import", "x.csv"), "column tags.auth holds what looks like an API key",
         setup=_csv("x.csv", "name,params.lr,tags.auth,metrics.auroc", f"a,0.1,Bearer {KEY},0.9")),
    Case("import-json-secret", "an adlab JSON export with a key in a nested param",
         ("import", "x.json"), "runs[0]: field `params.api.base_url` holds what looks like",
         setup=_write("x.json", '{"adlab_export": 1, "runs": [{"name": "a", "params": {"api": '
                      '{"base_url": "https://x.example.com/v1?api_key=abcdef0123456789"}}}]}\n')),
    Case("import-meta-secret", "a seed meta file with an API key field",
         ("import", "answers_x.meta.json"), "field `api_key` holds what looks like an API key",
         setup=_write("answers_x.meta.json",
                      f'{{"llm": "gpt-4o", "api_key": "{KEY}", "accuracy": 50.0}}\n')),
    Case("import-not-utf8", "an import CSV in Latin-1, not UTF-8", ("import", "x.csv"),
         "is not UTF-8 text (byte 0xe9 at byte offset 32, line 2); save it as UTF-8",
         setup=_write("x.csv", b"name,params.lr,metrics.auroc\ncaf\xe9,0.1,0.9\n")),
    Case("import-json-shape", "a JSON file that is not an adlab export", ("import", "x.json"),
         "expected an adlab export", setup=_write("x.json", '{"runs": 5}\n')),
    Case("import-broken-json", "a .json file that is not JSON", ("import", "x.json"),
         "is not valid JSON", setup=_write("x.json", "not json\n")),
    Case("import-unknown-kind", "`import` of a file of no known kind", ("import", "study.yaml"),
         "cannot tell the format from the name", setup=OK_YAML),
    Case("import-unknown-format", "`import --format` unknown", ("import", "x.csv", "--format", "excel"),
         "unknown import format 'excel'", setup=_csv("x.csv", "a,b", "1,2")),
    Case("export-format", "`export --format` unknown", ("export", "--format", "xml"),
         "unknown export format 'xml'"),
    # metrics, data, tui ------------------------------------------------------------------------
    Case("metrics-missing-npz", "`metrics` of an .npz that does not exist", ("metrics", "maps.npz"),
         "maps.npz does not exist"),
    Case("metrics-not-npz", "`metrics` of a file that is not an .npz", ("metrics", "study.yaml"),
         "is not an .npz file", setup=OK_YAML),
    Case("metrics-no-input", "`metrics` with neither an .npz nor --maps-dir", ("metrics",),
         "give either FILE.npz or --maps-dir DIR --dataset-root ROOT", code=2),
    Case("metrics-maps-dir-missing", "`metrics --maps-dir` of a folder that does not exist",
         ("metrics", "--maps-dir", "maps", "--dataset-root", "data"),
         "--maps-dir maps does not exist"),
    Case("metrics-dataset-root-file", "`metrics --dataset-root` naming a file",
         ("metrics", "--maps-dir", "maps", "--dataset-root", "study.yaml"),
         "--dataset-root study.yaml is not a folder", setup=_both(OK_YAML, _npz_maps_dir)),
    Case("data-list-missing-root", "`data list` of a folder that does not exist", ("data", "list", "nodata"),
         "at nodata: the folder does not exist"),
    # the data a queued run will read (checked at queue time) -------------------------------------
    Case("data-root-typo", "a data root that does not exist beside an existing folder (a typo)",
         ("queue", "study.yaml"), "does not exist, though its parent folder data does",
         setup=_dataset(root="data/synthetc", categories="woven")),
    Case("data-root-file", "a data root that is a file", ("queue", "study.yaml"),
         "is a file, not a folder", setup=_dataset(root="study.yaml", categories="woven")),
    Case("data-no-train-good", "a category without train/good", ("queue", "study.yaml"),
         "category 'woven' has no train/good folder", setup=_dataset(_no_train_good)),
    Case("data-empty-category", "a named category whose folder is empty", ("queue", "study.yaml"),
         "of category 'empty' holds no synthetic data",
         setup=_dataset(lambda d: (d / "empty").mkdir(), categories="empty")),
    Case("data-unknown-category", "a named category the dataset does not have",
         ("queue", "study.yaml"), "has no category 'screw'; categories found: washer, woven",
         setup=_dataset(categories="screw")),
    Case("data-mask-size", "a ground-truth mask of another size than its image",
         ("queue", "study.yaml"), "is 20x16 pixels but its image",
         setup=_dataset(_mask_of_another_size)),
    Case("data-corrupt-mask", "a ground-truth mask that is not a readable image",
         ("queue", "study.yaml"), "cannot read mask",
         setup=_dataset(lambda d: _first_mask(d).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40))),
    # patchcore_study cross-domain domains (`category` or `dataset:category`), at queue time
    Case("domain-category-typo", "a cross-domain test domain naming a misspelt category",
         ("queue", "s.yaml"),
         "run resnet18_concat_coreset_woven: cross_domain.test_domains entry 'wahser': dataset "
         "'synthetic' at data/synthetic has no category 'wahser'; categories found (closest "
         "first): washer, woven; fix cross_domain.test_domains",
         setup=_domains(PCS_DATA + "cross_domain: {test_domains: [woven, wahser]}\n")),
    Case("domain-dataset-category-typo", "a `dataset:category` test domain with a misspelt category",
         ("queue", "s.yaml", "--dry-run"),
         "cross_domain.test_domains entry 'synthetic:wovn': dataset 'synthetic' at data/synthetic "
         "has no category 'wovn'; categories found (closest first): woven",
         setup=_domains(PCS_DATA + "cross_domain: {test_domains: ['synthetic:wovn']}\n")),
    Case("domain-dataset-typo", "a `dataset:category` test domain naming no dataset",
         ("queue", "s.yaml", "--dry-run"),
         "field `cross_domain.test_domains`: Value error, domain 'vsia:candle' names no dataset "
         "'vsia'; datasets (closest first): visa,",
         setup=_domains(PCS_DATA + "cross_domain: {test_domains: [woven, 'vsia:candle']}\n")),
    Case("domain-dataset-not-under-root", "a `dataset:category` test domain whose dataset has "
         "no folder under ADLAB_DATA_ROOT", ("queue", "s.yaml", "--dry-run"),
         "cross_domain.test_domains entry 'visa:candle': ADLAB_DATA_ROOT=data has no folder for "
         "dataset 'visa'; expected one of VisA, visa, VISA under it (folders there: synthetic); "
         "put the dataset there or set cross_domain.roots.visa", env={"ADLAB_DATA_ROOT": "data"},
         setup=_domains(PCS_DATA + "cross_domain: {test_domains: [woven, 'visa:candle']}\n")),
    Case("domain-root-typo", "a cross_domain.roots entry that does not exist (a typo)",
         ("queue", "s.yaml", "--dry-run"),
         "cross_domain.test_domains entry 'visa:candle': data root data/VisAA for dataset 'visa' "
         "does not exist, though its parent folder data does; fix cross_domain.roots.visa in the "
         "config (folders there: synthetic)",
         setup=_domains(PCS_DATA + "cross_domain: {test_domains: ['visa:candle'], "
                        "roots: {visa: data/VisAA}}\n")),
    Case("domain-roots-unknown-dataset", "cross_domain.roots keyed by no dataset",
         ("queue", "s.yaml", "--dry-run"),
         "cross_domain.roots names no dataset 'mvtec'; datasets (closest first): mvtec_ad",
         setup=_domains(PCS_DATA + "cross_domain: {roots: {mvtec: /data/MVTecAD}}\n")),
    Case("domain-train-typo", "a cross-domain train domain naming a misspelt category",
         ("queue", "s.yaml", "--dry-run"),
         "cross_domain.train_domains entry 'washr': dataset 'synthetic' at data/synthetic has no "
         "category 'washr'; categories found (closest first): washer",
         setup=_domains("data: {dataset: synthetic, root: data/synthetic}\n"
                        "cross_domain: {train_domains: [woven, washr]}\n")),
    Case("domain-from-categories-typo", "cross-domain rows from data.categories, one misspelt",
         ("queue", "s.yaml", "--dry-run"),
         "data.categories entry 'wovn': dataset 'synthetic' at data/synthetic has no category "
         "'wovn'; categories found (closest first): woven",
         setup=_domains("data: {dataset: synthetic, root: data/synthetic, categories: [washer, wovn]}\n")),
    Case("anomalib-test-domain-typo", "an anomalib cross_domain.test_domains category misspelt",
         ("queue", "study.yaml", "--dry-run", "--set", "cross_domain.test_domains=[wahser]",
          "--set", "data.split_runs=per_category"),
         "dataset 'synthetic' at data/synthetic has no category 'wahser'; categories found "
         "(closest first): washer, woven; fix cross_domain.test_domains",
         setup=_dataset(categories="woven")),
    # mmad data (data_root, mmad.json, domain knowledge, AD files), at queue time
    Case("mmad-data-root-typo", "an mmad data_root that does not exist (a typo)",
         ("queue", "s.yaml", "--dry-run"),
         "data_root MMADD does not exist, though its folder . does (it holds (closest first): "
         "MMAD); fix data_root in the config", setup=_mmad("data_root: MMADD\n")),
    Case("mmad-data-root-file", "an mmad data_root naming mmad.json instead of its folder",
         ("queue", "s.yaml", "--dry-run"),
         "data_root MMAD/mmad.json is a file, not the MMAD folder; fix data_root in the config",
         setup=_mmad("data_root: MMAD/mmad.json\n")),
    Case("mmad-no-json", "an mmad data_root folder without mmad.json",
         ("queue", "s.yaml", "--dry-run"),
         "data_root MMAD: the MMAD folder MMAD holds no mmad.json (it holds (closest first): "
         "mmad_v1.json, DS-A); set data_root to the MMAD folder",
         setup=_mmad("data_root: MMAD\n", lambda r: (r / "MMAD" / "mmad.json").rename(
             r / "MMAD" / "mmad_v1.json"))),
    Case("mmad-env-root-no-json", "ADLAB_DATA_ROOT (no data_root) holding no MMAD data",
         ("queue", "s.yaml", "--dry-run"),
         "ADLAB_DATA_ROOT=data: the MMAD folder data holds no mmad.json (it holds: synthetic); "
         "set data_root to the MMAD folder", env={"ADLAB_DATA_ROOT": "data"},
         setup=_both(_dataset(), _mmad(""))),
    Case("mmad-json-typo", "an mmad_json path that does not exist (a typo)",
         ("queue", "s.yaml", "--dry-run"),
         "mmad_json MMAD/mmad.jsn does not exist, though its folder MMAD does (it holds "
         "(closest first): mmad.json,",
         setup=_mmad("data_root: MMAD\nmmad_json: MMAD/mmad.jsn\n")),
    Case("mmad-json-list", "an mmad.json whose top level is a list", ("queue", "s.yaml", "--dry-run"),
         "config s.yaml: mmad_json: list.json must be a JSON object mapping image paths to MMAD "
         "records; give MMAD's mmad.json",
         setup=_mmad("data_root: MMAD\nmmad_json: list.json\n",
                     lambda r: (r / "list.json").write_text("[1, 2]\n"))),
    Case("mmad-json-truncated", "an mmad.json cut off part-way", ("queue", "s.yaml", "--dry-run"),
         "config s.yaml: data_root: MMAD/mmad.json is not valid JSON (",
         setup=_mmad("data_root: MMAD\n", lambda r: (r / "MMAD" / "mmad.json").write_text(
             (r / "MMAD" / "mmad.json").read_text()[:300]))),
    Case("mmad-json-not-mmad", "a JSON object that is not MMAD's mmad.json (no conversations)",
         ("queue", "s.yaml", "--dry-run"),
         "mmad_json: other.json: entry 'a' has no `conversation` list, so this is not MMAD's "
         "mmad.json; give MMAD's mmad.json",
         setup=_mmad("mmad_json: other.json\n",
                     lambda r: (r / "other.json").write_text('{"a": {"b": 1}}\n'))),
    Case("mmad-images-elsewhere", "an mmad.json whose images are not under the image root",
         ("queue", "s.yaml", "--dry-run"),
         "mmad_json copy/mmad.json: mmad.json's image DS-A/bottle/test/good/000.png is not under "
         "the image root copy (4 of the 4 files its first 2 entries name are missing; the root "
         "(mmad_json's folder) holds: mmad.json); set data_root to the MMAD folder",
         setup=_mmad("mmad_json: copy/mmad.json\n", lambda r: (
             (r / "copy").mkdir(), shutil.copy(r / "MMAD" / "mmad.json", r / "copy")))),
    Case("mmad-template-missing", "an mmad.json template image missing from the MMAD folder",
         ("queue", "s.yaml", "--dry-run"),
         "data_root MMAD: mmad.json's template DS-A/bottle/train/good/000.png of image "
         "DS-A/bottle/test/good/000.png is not under the image root MMAD (2 of the 4 files",
         setup=_mmad("data_root: MMAD\n", lambda r: (
             r / "MMAD" / "DS-A" / "bottle" / "train" / "good" / "000.png").unlink())),
    Case("mmad-knowledge-missing", "eval.domain_knowledge with no domain_knowledge.json",
         ("queue", "s.yaml", "--dry-run"),
         "data_root MMAD: eval.domain_knowledge is true but the MMAD folder MMAD holds no "
         "domain_knowledge.json (it holds (closest first): mmad.json, DS-A); set "
         "eval.domain_knowledge_path to MMAD's domain_knowledge.json or eval.domain_knowledge: false",
         setup=_mmad("data_root: MMAD\neval: {domain_knowledge: true}\n")),
    Case("mmad-knowledge-path-typo", "an eval.domain_knowledge_path that does not exist",
         ("queue", "s.yaml", "--dry-run"),
         "eval.domain_knowledge_path MMAD/domain_knowlege.json does not exist, though its folder "
         "MMAD does (it holds: DS-A, mmad.json); fix eval.domain_knowledge_path in the config",
         setup=_mmad("data_root: MMAD\neval: {domain_knowledge: true, "
                     "domain_knowledge_path: MMAD/domain_knowlege.json}\n")),
    Case("mmad-knowledge-shape", "a domain knowledge file that is not MMAD's",
         ("queue", "s.yaml", "--dry-run"),
         "eval.domain_knowledge (default MMAD/domain_knowledge.json): MMAD/domain_knowledge.json "
         "is not MMAD's domain_knowledge.json (an object of datasets, each an object of "
         "categories)",
         setup=_mmad("data_root: MMAD\neval: {domain_knowledge: true}\n", lambda r: (
             r / "MMAD" / "domain_knowledge.json").write_text('{"DS-A": ["bottle"]}\n'))),
    Case("mmad-thresholds-typo", "an mmad ad.thresholds file that does not exist",
         ("queue", "s.yaml", "--dry-run"),
         "run patchcore_qwen_1shot: ad.thresholds threshold.yaml does not exist, though its folder "
         ". does (it holds (closest first): thresholds.yaml,",
         setup=_mmad("data_root: MMAD\nad_model: patchcore\nad: {thresholds: threshold.yaml}\n",
                     lambda r: (r / "thresholds.yaml").write_text("global: 0.5\n"))),
    Case("mmad-thresholds-not-number", "an mmad ad.thresholds YAML with a threshold that is text",
         ("queue", "s.yaml", "--dry-run"),
         "ad.thresholds t.yaml: t.yaml holds a threshold that is not a number (could not convert "
         "string to float: 'high'); write `global: <number>`",
         setup=_mmad("data_root: MMAD\nad_model: patchcore\nad: {thresholds: t.yaml}\n",
                     lambda r: (r / "t.yaml").write_text("global: high\n"))),
    Case("mmad-checkpoints-typo", "an mmad ad.checkpoints folder that does not exist",
         ("queue", "s.yaml", "--dry-run"),
         "ad.checkpoints ckpts does not exist, though its folder . does (it holds (closest "
         "first): ckpt, MMAD); fix ad.checkpoints in the config",
         setup=_mmad("data_root: MMAD\nad_model: patchcore\nad: {checkpoints: [ckpts]}\n",
                     lambda r: (r / "ckpt").mkdir())),
    Case("mmad-ad-config-thresholds", "an mmad `ad.config` YAML naming a missing thresholds file",
         ("queue", "s.yaml", "--dry-run"),
         "`thresholds` of ad.config ad.yaml th.yaml does not exist, though its folder . does (it "
         "holds (closest first): s.yaml, ad.yaml, MMAD); fix `thresholds` in ad.yaml",
         setup=_mmad("data_root: MMAD\nad_model: patchcore\nad: {config: ad.yaml}\n",
                     lambda r: (r / "ad.yaml").write_text("thresholds: th.yaml\n"))),
    Case("mmad-ad-checkpoints-file", "an `mmad_ad` run whose checkpoints folder is a file",
         ("queue", "s.yaml", "--dry-run"),
         "checkpoints MMAD/mmad.json is a file, not the checkpoints folder; fix checkpoints in "
         "the config",
         setup=_both(_mmad(""), _write("s.yaml", "pipeline: mmad_ad\ndata_root: MMAD\n"
                                       "checkpoints: MMAD/mmad.json\n"))),
    Case("tui-no-terminal", "`tui` without an interactive terminal", ("tui",),
         "needs an interactive terminal"),
    Case("tui-bad-size", "`tui --capture --size` not COLSxROWS",
         ("tui", "--capture", "c.txt", "--size", "big"), "--size 'big': expected COLUMNSxROWS"),
]


def require_password_role(server) -> None:  # noqa: ANN001 - testservers.postgres.TempPostgres
    """On the throwaway server (trust login for everyone else): the role ``adlab_pw`` logs in
    only with its password, so a wrong one is refused as on a real server. Idempotent."""
    import psycopg

    hba = server.root / "data" / "pg_hba.conf"
    line = f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
    text = hba.read_text()
    if line not in text:
        hba.write_text(line + text)  # first match wins: before the trust lines
    with psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres",
                         autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_ROLE,)).fetchone() \
                is None:
            conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD 'right'")
        conn.execute("SELECT pg_reload_conf()")


# ---- running a case -------------------------------------------------------------------------

def _run_in_process(argv: list[str]) -> Outcome:
    from adlab.cli.app import main
    from adlab.db.engine import dispose_all

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            dispose_all()
    return Outcome(code, out.getvalue(), err.getvalue())


def _run_process(argv: list[str], root: Path, env: dict[str, str], prefix: tuple[str, ...]
                 ) -> Outcome:
    proc = subprocess.run([*prefix, sys.executable, "-m", "adlab", *argv], cwd=root,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env, "PYTHONPATH": os.pathsep.join(sys.path)},
                          stdin=subprocess.DEVNULL)
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def read_only_user_prefix() -> tuple[str, ...] | None:
    """How to run a command that sees file modes as an ordinary user: nothing to add for a
    non-root user; as root, without the permission-override capabilities (None when setpriv
    is missing)."""
    if os.geteuid() != 0:
        return ()
    return NO_OVERRIDE if shutil.which(NO_OVERRIDE[0]) else None


@contextlib.contextmanager
def _lab_env(root: Path, extra: dict[str, str]) -> Iterator[dict[str, str]]:
    """The case's folder as working directory and lab (database, artifacts)."""
    env = {"ADLAB_DB": str(root / "lab.db"), "ADLAB_ARTIFACTS": str(root / "exports"), **extra}
    old_env = {k: os.environ.get(k) for k in env}
    old_cwd = os.getcwd()
    os.environ.update(env)
    os.environ.pop("ADLAB_DEBUG", None)
    os.chdir(root)
    try:
        yield env
    finally:
        os.chdir(old_cwd)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_case(case: Case, root: Path, ctx: Context) -> Outcome:
    """Set the case up in ``root`` (an empty folder) and run it; permissions are restored
    afterwards so the folder can be removed."""
    root = root.resolve()
    argv = [ctx.fill(a) for a in case.argv]
    try:
        with _lab_env(root, case.env) as env:
            if case.setup is not None:
                case.setup(root)
            from adlab.db.engine import dispose_all

            dispose_all()
            if case.process:
                prefix = read_only_user_prefix()
                assert prefix is not None, "setpriv is needed to run as root without overrides"
                return _run_process(argv, root, env, prefix)
            return _run_in_process(argv)
    finally:
        for dirpath, dirnames, _files in os.walk(root):
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o755)


@contextlib.contextmanager
def http_server() -> Iterator[int]:
    """A loopback TCP server that answers every connection like a web server would."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shown(text: str, root: Path, ctx: Context) -> str:
    """``text`` as the doc shows it: the case's folder as ``.``, ports as words."""
    text = text.replace(str(root.resolve()), ".")
    for real, word in sorted(ctx.placeholders().items(), key=lambda kv: -len(kv[0])):
        text = text.replace(real, word)
    return text


# ---- the doc --------------------------------------------------------------------------------

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(results: list[tuple[Case, Outcome, Path]], ctx: Context) -> str:
    lines = [
        "# Bad inputs: what adlab says",
        "",
        "Every bad input adlab was tried with, the one sentence it answers with and its exit code "
        "(0 ok, 1 failure, 2 usage error). Written from the real outputs by "
        "`.venv/bin/python tests/lifecycle/bad_inputs_cases.py --markdown > docs/bad-inputs.md`; "
        "`tests/lifecycle/test_bad_inputs.py` runs the same cases and checks that each answers "
        "with one error line (no traceback) holding the expected words. Paths are shown "
        "relative to the case's folder (`.`); PORT/PGPORT are loopback ports chosen per run.",
        "",
        f"{len(results)} bad inputs.",
        "",
        "| # | bad input | command | exit | message |",
        "|---|---|---|---|---|",
    ]
    for i, (case, outcome, root) in enumerate(results, 1):
        env = [f"{k}={v}" for k, v in case.env.items()]
        command = shown(" ".join([*env, "adlab", *(ctx.fill(a) for a in case.argv)]), root, ctx)
        message = " / ".join(shown(ln, root, ctx) for ln in outcome.error_lines()) or "(none)"
        if case.stdout:
            message = f"stdout: `{shown(outcome.stdout.strip(), root, ctx)}`; stderr: {message}"
        lines.append(f"| {i} | {_cell(case.what)} | `{_cell(command)}` | {outcome.code} | "
                     f"{_cell(message)} |")
    return "\n".join(lines) + "\n"


def _main(args: list[str]) -> int:
    import tempfile

    if args != ["--markdown"]:
        print("usage: bad_inputs_cases.py --markdown > docs/bad-inputs.md", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: testservers
    from testservers.postgres import start_temp_postgres

    server = start_temp_postgres()
    require_password_role(server)
    results = []
    try:
        with http_server() as http, tempfile.TemporaryDirectory() as tmp:
            ctx = Context(pg_port=server.port, dead=free_port(), http=http)
            for i, case in enumerate(CASES):
                root = Path(tmp) / f"case{i:03d}"
                root.mkdir()
                outcome = run_case(case, root, ctx)
                results.append((case, outcome, root))
                bad = check(case, outcome, root, ctx)
                if bad:
                    print(f"{case.name}: {bad}", file=sys.stderr)
            sys.stdout.write(markdown(results, ctx))
    finally:
        server.stop()
    return 0


def check(case: Case, outcome: Outcome, root: Path, ctx: Context) -> str | None:
    """What is wrong with ``outcome`` for ``case`` (None when it answers as it must)."""
    errors = outcome.error_lines()
    text = outcome.stdout + outcome.stderr
    if outcome.code != case.code:
        return f"exit {outcome.code}, expected {case.code}: {text[-800:]}"
    if "Traceback" in text or "unexpected " in text or "sqlalche.me" in text:
        return f"a traceback or raw driver text: {text[-800:]}"
    if len(errors) != 1:
        return f"{len(errors)} error lines, expected one: {text[-800:]}"
    if case.code == 1 and outcome.stderr.strip() != errors[0]:
        return f"stderr holds more than the error line: {outcome.stderr[-800:]}"
    if case.expect not in shown(errors[0], root, ctx):
        return f"{case.expect!r} not in {shown(errors[0], root, ctx)!r}"
    if case.stdout and case.stdout not in outcome.stdout:
        return f"{case.stdout!r} not on stdout {outcome.stdout!r}"
    if not case.stdout and outcome.stdout.strip():
        return f"stdout should be empty: {outcome.stdout[-400:]}"
    return None


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
