"""The RunContext a pipeline gets inside the worker: every report becomes database rows."""
from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from adlab.db.engine import reader
from adlab.db.metric_rows import record_metric
from adlab.db.models import Artifact, Event, Run, RunItem, utcnow
from adlab.core.vocabulary import ArtifactKind
from adlab.pipelines.base import PipelineParams, RunCancelled, RunInput, artifact_kind, metric_value
from adlab.settings import artifacts_root
from adlab.worker.retry import retrying

T = TypeVar("T")


def file_digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def relative_to_root(path: Path) -> str:
    """Artifact paths are stored relative to the artifacts root so other hosts can resolve them."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(artifacts_root()))
    except ValueError:
        return str(path)


def resolve_artifact_path(stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else artifacts_root() / path


def load_inputs(engine: Engine, depends_on: int | None) -> list[RunInput]:
    """The prerequisite run (if any) with its artifacts, as pipelines see it."""
    if depends_on is None:
        return []
    with Session(reader(engine)) as s:
        dep = s.get(Run, depends_on)
        rows = s.exec(select(Artifact.kind, Artifact.path).where(Artifact.run_id == depends_on)
                      .order_by(Artifact.id)).all()
    if dep is None:
        return []
    return [RunInput(run_id=int(dep.id), pipeline=dep.pipeline, status=dep.status,
                     output_dir=Path(dep.output_dir) if dep.output_dir else None,
                     artifacts=tuple((k, resolve_artifact_path(p)) for k, p in rows),
                     config=json.loads(dep.config_json))]


def db_call(engine: Engine, what: str, call: Callable[[], T]) -> T:
    """A run's database call through a passing failure (adlab.worker.retry); the lines go to
    the run's process log."""
    return retrying(call, url=engine.url.render_as_string(hide_password=False), what=what,
                    log=lambda line: print(line, file=sys.stderr, flush=True))


class RunLost(Exception):
    """This attempt no longer owns the run (reaped and re-claimed): stop without writing."""


def lock_if_owned(s: Session, run_id: int, attempt: int) -> None:
    """Lock the run row and check ``attempt`` still owns it, inside the writing transaction, so
    a stale attempt can never add results to a re-claimed run, and two attempts alive at once
    (a slow worker reaped) write one after the other instead of racing."""
    row = s.exec(select(Run.attempt, Run.status).where(Run.id == run_id)
                 .with_for_update()).first()
    if row is None or row[0] != attempt or row[1] != "running":
        raise RunLost(f"run {run_id} attempt {attempt} is no longer running here")


class DbStore:
    """Partial results in ``run_items``; they survive crashes and re-claims of the same run.
    Only the attempt owning the run writes them (:func:`lock_if_owned`)."""

    def __init__(self, engine: Engine, run_id: int, attempt: int):
        self._engine, self._run_id, self._attempt = engine, run_id, attempt

    def get(self, key: str, default: Any = None) -> Any:
        with Session(reader(self._engine)) as s:
            raw = s.exec(select(RunItem.value_json).where(
                RunItem.run_id == self._run_id, RunItem.key == key)).scalar_one_or_none()
        return default if raw is None else json.loads(raw)

    def put(self, key: str, value: Any) -> None:
        payload = json.dumps(value)
        db_call(self._engine, f"saving progress of run {self._run_id}",
                lambda: self._put(key, payload))

    def _put(self, key: str, payload: str) -> None:
        with Session(self._engine) as s:
            lock_if_owned(s, self._run_id, self._attempt)
            changed = s.exec(update(RunItem).where(RunItem.run_id == self._run_id, RunItem.key == key)
                             .values(value_json=payload, updated_at=utcnow())).rowcount
            if not changed:
                s.add(RunItem(run_id=self._run_id, key=key, value_json=payload))
            s.commit()

    def items(self, prefix: str = "") -> dict[str, Any]:
        with Session(self._engine) as s:
            q = select(RunItem.key, RunItem.value_json).where(RunItem.run_id == self._run_id)
            if prefix:
                q = q.where(RunItem.key.startswith(prefix, autoescape=True))
            rows = s.exec(q.order_by(RunItem.id)).all()
        return {k: json.loads(v) for k, v in rows}


class DbRunContext:
    PROGRESS_INTERVAL_S = 0.5
    CANCEL_CHECK_INTERVAL_S = 1.0

    def __init__(self, engine: Engine, run: Run, params: PipelineParams, output_dir: Path,
                 device: str, headline_metric: str | None):
        self._engine = engine
        self.run_id = int(run.id)
        self.attempt = int(run.attempt)
        self.name = run.name
        self.params = params
        self.output_dir = output_dir
        self.device = device
        self.seed = run.seed
        self.state = DbStore(engine, self.run_id, self.attempt)
        self._headline = headline_metric
        self._last_progress = 0.0
        self._last_cancel_check = 0.0
        self._log_file = open(output_dir / "run.log", "a", encoding="utf-8")  # noqa: SIM115
        self.inputs = load_inputs(engine, run.depends_on)

    def _assert_owned(self, s: Session) -> None:
        lock_if_owned(s, self.run_id, self.attempt)

    def close(self) -> None:
        self._log_file.close()

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and now - self._last_progress < self.PROGRESS_INTERVAL_S and message is None:
            return
        self._last_progress = now
        values: dict[str, Any] = {"progress_done": int(done)}
        if total is not None:
            values["progress_total"] = int(total)
        if message is not None:
            values["progress_message"] = message[:500]
        def write() -> None:
            with Session(self._engine) as s:
                s.exec(update(Run).where(Run.id == self.run_id, Run.attempt == self.attempt)
                       .values(**values))
                s.commit()

        db_call(self._engine, f"recording progress of run {self.run_id}", write)

    def log(self, message: str, level: str = "info") -> None:
        self._log_file.write(f"{utcnow().isoformat(timespec='seconds')} {level.upper()} {message}\n")
        self._log_file.flush()
        def write() -> None:
            with Session(self._engine) as s:
                s.add(Event(run_id=self.run_id, level=level, source="pipeline", message=message))
                s.commit()

        db_call(self._engine, f"logging for run {self.run_id}", write)

    def metric(self, key: str, value: float | None, *, scope: str = "", step: int | None = None,
               note: str | None = None) -> None:
        v = metric_value(value)  # NaN: undefined, stored as NULL with the reason

        def write() -> None:
            with Session(self._engine) as s:
                self._assert_owned(s)
                # one row per (run, key, scope, step), by upsert: a value recorded again
                # replaces the earlier one, so a write retried after a lost commit reply is
                # not doubled
                record_metric(s, run_id=self.run_id, key=key, value=v, scope=scope, step=step,
                              note=note)
                if key == self._headline and scope == "" and step is None:
                    s.exec(update(Run).where(Run.id == self.run_id)
                           .values(headline_metric=key, headline_value=v))
                s.commit()

        db_call(self._engine, f"recording metric {key} of run {self.run_id}", write)

    def artifact(self, path: Path, kind: ArtifactKind | str) -> None:
        name = artifact_kind(kind)
        digest, size = file_digest(Path(path))
        def write() -> None:
            with Session(self._engine) as s:
                self._assert_owned(s)
                s.add(Artifact(run_id=self.run_id, kind=name, path=relative_to_root(Path(path)),
                               sha256=digest, bytes=size))
                s.commit()

        db_call(self._engine, f"recording an artifact of run {self.run_id}", write)

    def check_cancelled(self) -> None:
        now = time.monotonic()
        if now - self._last_cancel_check < self.CANCEL_CHECK_INTERVAL_S:
            return
        self._last_cancel_check = now
        def read() -> Any:
            with Session(reader(self._engine)) as s:
                return s.exec(select(Run.cancel_requested).where(Run.id == self.run_id)).scalar()

        if db_call(self._engine, f"checking run {self.run_id} for a cancel", read):
            raise RunCancelled(f"run {self.run_id} was cancelled by the user")

    def set_info(self, key: str, value: Any) -> None:
        db_call(self._engine, f"recording info of run {self.run_id}",
                lambda: self._set_info(key, value))

    def _set_info(self, key: str, value: Any) -> None:
        with Session(self._engine) as s:
            raw = s.exec(select(Run.info_json).where(Run.id == self.run_id)).scalar()
            info = json.loads(raw) if raw else {}
            info[key] = value
            s.exec(update(Run).where(Run.id == self.run_id).values(info_json=json.dumps(info)))
            s.commit()
