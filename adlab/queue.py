"""The run queue: enqueue, claim, heartbeat, finish, reap, cancel, retry.

Every state change is one short transaction guarded by the expected current state
(``WHERE id=? AND status=? AND attempt=?``), so a worker that lost its run (reaped after a
missed heartbeat) can never overwrite what the run's new owner writes. Claims take SQLite's
write lock up front (BEGIN IMMEDIATE) and use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two
workers never claim the same run and never wait on each other's rows.

Every transaction that writes both kinds of row locks the runs first, then the workers (claim,
heartbeat, beat_worker, reap; reap takes runs in id order): on PostgreSQL two transactions that
lock the same rows in opposite orders deadlock, and one of them fails.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Sequence

from sqlalchemy import and_, case, delete, exists, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session

from adlab.core.run_spec import RunSpec
from adlab.db.clock import db_now
from adlab.db.engine import reader
from adlab.db.models import Artifact, Event, Metric, Run, RunStatus, Worker
from adlab.db.runs import insert_run
from adlab.errors import AdlabError, NotFoundError
from adlab.settings import lease_seconds

Q, R, S, F, C = (RunStatus.queued.value, RunStatus.running.value, RunStatus.succeeded.value,
                 RunStatus.failed.value, RunStatus.cancelled.value)


@dataclass
class EnqueueResult:
    created: list[int] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # created run id -> name
    skipped: list[dict] = field(default_factory=list)  # {"name", "existing_run", "status"}


def _event(session: Session, run_id: int | None, message: str, *, level: str = "info",
           source: str = "queue") -> None:
    session.add(Event(run_id=run_id, message=message, level=level, source=source))


def enqueue(engine: Engine, specs: Sequence[RunSpec], *, repeat: bool = False,
            dry_run: bool = False) -> EnqueueResult:
    """Insert runs; a config identical to one already queued, running or succeeded is skipped
    unless ``repeat``. With ``dry_run`` nothing is written (skips are still reported)."""
    result = EnqueueResult()
    with Session(engine) as session:
        for spec in specs:
            if not repeat:
                existing = session.exec(
                    select(Run.id, Run.status).where(
                        Run.config_hash == spec.config_hash, Run.status.in_((Q, R, S))
                    ).order_by(Run.id.desc()).limit(1)
                ).first()
                if existing:
                    result.skipped.append({"name": spec.name, "existing_run": existing[0],
                                           "status": existing[1]})
                    continue
            for need in spec.needs:  # prerequisites: reuse an identical run, else queue one
                need_id = _existing_run(session, need.config_hash)
                if need_id is None and not dry_run:
                    need_id = insert_run(session, need)
                    result.created.append(need_id)
                    result.names[need_id] = need.name
                spec.depends_on = need_id
            if dry_run:
                continue
            run_id = insert_run(session, spec, info=spec.info or None)
            result.created.append(run_id)
            result.names[run_id] = spec.name
        if not dry_run:
            session.commit()
    return result


def _existing_run(session: Session, config_hash: str) -> int | None:
    """A run with this config that succeeded, or is queued/running (newest first)."""
    return session.exec(select(Run.id).where(Run.config_hash == config_hash,
                                             Run.status.in_((Q, R, S)))
                        .order_by(Run.id.desc()).limit(1)).scalar_one_or_none()


def _dependency_ready():
    dep = aliased(Run)
    return or_(Run.depends_on.is_(None),
               exists().where(and_(dep.id == Run.depends_on, dep.status == S)))


def claim(engine: Engine, *, worker: str, device: str) -> Run | None:
    """Atomically take the next runnable queued run (highest priority, then oldest)."""
    with Session(engine, expire_on_commit=False) as session:
        candidate = select(Run.id).where(Run.status == Q, Run.cancel_requested.is_(False),
                                         _dependency_ready())
        candidate = candidate.order_by(Run.priority.desc(), Run.id).limit(1)
        candidate = candidate.with_for_update(skip_locked=True)
        run_id = session.exec(candidate).scalar_one_or_none()
        if run_id is None:
            session.rollback()
            return None
        now = db_now(session)
        changed = session.exec(
            update(Run).where(Run.id == run_id, Run.status == Q).values(
                status=R, worker=worker, device=device, attempt=Run.attempt + 1,
                started_at=now, heartbeat_at=now, finished_at=None, error=None,
                progress_done=0, progress_total=None, progress_message=None,
            )
        ).rowcount
        if changed != 1:
            session.rollback()
            return None
        run = session.get(Run, run_id)
        if run.attempt > 1:  # results of an interrupted attempt are redone, not kept twice
            session.exec(delete(Metric).where(Metric.run_id == run_id))
            session.exec(delete(Artifact).where(Artifact.run_id == run_id))
            session.exec(update(Run).where(Run.id == run_id)
                         .values(headline_metric=None, headline_value=None))
        _event(session, run_id, f"claimed by {worker} on {device} (attempt {run.attempt})",
               source=worker)
        session.exec(update(Worker).where(Worker.name == worker).values(
            status="busy", current_run_id=run_id, heartbeat_at=now))
        session.commit()
        return run


def beat_worker(engine: Engine, *, name: str, run: tuple[int, int] | None = None) -> None:
    """Refresh a live worker's row, idle or busy, and the lease of the run (id, attempt) it
    supervises (its heartbeat thread calls this, so the lease means "the worker process is
    alive" even while its main thread waits on something); a row the reaper marked dead while
    the worker was only slow comes back as idle."""
    with Session(engine) as session:
        now = db_now(session)
        if run is not None:  # the run row first, as heartbeat() (the main thread) locks them
            session.exec(update(Run).where(Run.id == run[0], Run.worker == name,
                                           Run.attempt == run[1], Run.status == R)
                         .values(heartbeat_at=now))
        session.exec(update(Worker).where(Worker.name == name).values(
            heartbeat_at=now, status=case((Worker.status == "dead", "idle"), else_=Worker.status)))
        session.commit()


def heartbeat(engine: Engine, *, run_id: int, worker: str, attempt: int,
              progress: tuple[int, int | None] | None = None) -> tuple[bool, bool]:
    """Refresh the run's and the worker's lease. Returns (still ours, cancel requested)."""
    with Session(engine) as session:
        now = db_now(session)
        owned = session.exec(
            update(Run).where(Run.id == run_id, Run.worker == worker, Run.attempt == attempt,
                              Run.status == R).values(heartbeat_at=now)
        ).rowcount == 1
        session.exec(update(Worker).where(Worker.name == worker).values(heartbeat_at=now))
        cancel = bool(session.exec(select(Run.cancel_requested).where(Run.id == run_id)).scalar())
        session.commit()
    return owned, cancel


def finish(engine: Engine, *, run_id: int, worker: str, attempt: int, status: str,
           error: str | None = None) -> bool:
    """Move a running run owned by (worker, attempt) to a final status; False if it was lost."""
    if status not in (S, F, C):
        raise ValueError(f"not a final status: {status}")
    with Session(engine) as session:
        now = db_now(session)
        done = session.exec(
            update(Run).where(Run.id == run_id, Run.worker == worker, Run.attempt == attempt,
                              Run.status == R)
            .values(status=status, finished_at=now, heartbeat_at=now, error=error)
        ).rowcount == 1
        if done:
            text = status if not error else f"{status}: {error}"
            _event(session, run_id, text, level="error" if status == F else "info", source=worker)
        session.commit()
    return done


def release(engine: Engine, *, run_id: int, worker: str, attempt: int, reason: str) -> bool:
    """Give a run back to the queue (worker shutting down). The attempt number stays: the next
    claim is a new attempt that replaces this one's results; ``reclaims`` is not counted, so a
    graceful stop never uses up ``max_attempts``."""
    with Session(engine) as session:
        done = session.exec(
            update(Run).where(Run.id == run_id, Run.worker == worker, Run.attempt == attempt,
                              Run.status == R)
            .values(status=Q, worker=None, heartbeat_at=None)
        ).rowcount == 1
        if done:
            _event(session, run_id, f"released by {worker} (attempt {attempt}): {reason}",
                   source=worker)
        session.commit()
    return done


@dataclass
class ReapResult:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    blocked: list[int] = field(default_factory=list)  # dependency failed
    cancelled: list[int] = field(default_factory=list)  # cancel asked, nobody left to act on it
    dead_workers: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed or self.blocked or self.cancelled
                    or self.dead_workers)


def _reap_needed(engine: Engine, cutoff_s: float) -> bool:
    """A read-only look (never blocks writers) so reaping every heartbeat costs no write lock
    while nothing is stale."""
    dep = aliased(Run)
    with Session(reader(engine)) as session:
        cutoff = db_now(session) - dt.timedelta(seconds=cutoff_s)
        probes = (
            select(Run.id).where(Run.status == R, Run.heartbeat_at < cutoff),
            select(Run.id).where(Run.status == Q, Run.cancel_requested.is_(True)),
            select(Run.id).join(dep, dep.id == Run.depends_on)
            .where(Run.status == Q, dep.status.in_((F, C))),
            select(Worker.name).where(Worker.status.in_(("idle", "busy")),
                                      Worker.heartbeat_at < cutoff),
        )
        return any(session.exec(p.limit(1)).first() is not None for p in probes)


def reap(engine: Engine, *, lease_s: float) -> ReapResult:
    """Settle what nobody is acting on: a running run whose lease expired is re-queued
    (``reclaims + 1 < max_attempts``), failed (budget spent) or, when cancel was asked,
    cancelled; a queued run with a cancel request is cancelled; a queued run whose dependency
    can no longer succeed fails; a worker silent for the lease is marked dead with no run."""
    result = ReapResult()
    if not _reap_needed(engine, lease_s):
        return result
    with Session(engine) as session:
        now = db_now(session)
        cutoff = now - dt.timedelta(seconds=lease_s)
        stale = session.exec(
            select(Run.id, Run.attempt, Run.reclaims, Run.max_attempts, Run.worker,
                   Run.cancel_requested)
            .where(Run.status == R, Run.heartbeat_at < cutoff).order_by(Run.id)
        ).all()
        for run_id, attempt, reclaims, max_attempts, worker, cancel_asked in stale:
            mine = update(Run).where(Run.id == run_id, Run.status == R, Run.attempt == attempt)
            silent = f"worker {worker} sent no heartbeat for {lease_s:g} s"
            if cancel_asked:
                if not session.exec(mine.values(status=C, finished_at=now, cancel_requested=False,
                                                error=f"cancelled by user ({silent})")).rowcount:
                    continue  # another reaper settled it first
                _event(session, run_id, f"cancelled: {silent} before stopping the run")
                result.cancelled.append(run_id)
                continue
            why = (f"{silent} (attempt {attempt}; lease expiry {reclaims + 1} of "
                   f"max_attempts {max_attempts})")
            if reclaims + 1 < max_attempts:
                if not session.exec(mine.values(status=Q, worker=None, heartbeat_at=None,
                                                reclaims=reclaims + 1)).rowcount:
                    continue
                _event(session, run_id, f"re-queued: {why}", level="warning")
                result.requeued.append(run_id)
            else:
                if not session.exec(mine.values(status=F, finished_at=now, reclaims=reclaims + 1,
                                                error=f"gave up: {why}")).rowcount:
                    continue
                _event(session, run_id, f"failed: {why}", level="error")
                result.failed.append(run_id)
        flagged = session.exec(select(Run.id).where(Run.status == Q,
                                                    Run.cancel_requested.is_(True))).scalars().all()
        for run_id in flagged:
            if not session.exec(update(Run).where(Run.id == run_id, Run.status == Q).values(
                    status=C, finished_at=now, cancel_requested=False,
                    error="cancelled by user")).rowcount:
                continue
            _event(session, run_id, "cancelled by user (it was back in the queue)")
            result.cancelled.append(run_id)
        dep = aliased(Run)
        blocked = session.exec(
            select(Run.id, dep.id, dep.status).join(dep, dep.id == Run.depends_on)
            .where(Run.status == Q, dep.status.in_((F, C)))
        ).all()
        for run_id, dep_id, dep_status in blocked:
            msg = f"dependency run {dep_id} {dep_status}; retry it, then `adlab retry {run_id}`"
            if not session.exec(update(Run).where(Run.id == run_id, Run.status == Q)
                                .values(status=F, finished_at=now, error=msg)).rowcount:
                continue
            _event(session, run_id, f"failed: {msg}", level="error")
            result.blocked.append(run_id)
        dead = session.exec(select(Worker.name).where(Worker.status.in_(("idle", "busy")),
                                                      Worker.heartbeat_at < cutoff)).scalars().all()
        if dead:
            session.exec(update(Worker).where(Worker.name.in_(dead))
                         .values(status="dead", current_run_id=None))
            result.dead_workers.extend(dead)
        session.commit()
    return result


def _get_run(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"run {run_id} does not exist; `adlab runs` lists the runs")
    return run


def cancel(engine: Engine, run_id: int, *, lease_s: float | None = None) -> str:
    """Cancel a queued run at once; ask a running run's live worker to stop it; cancel at once
    a running run whose worker is silent for the lease (dead: nobody would act on a request).
    Returns the status."""
    lease_s = lease_seconds() if lease_s is None else lease_s
    with Session(engine) as session:
        run = _get_run(session, run_id)
        now = db_now(session)
        beat = run.heartbeat_at
        if beat is not None and beat.tzinfo is None:
            beat = beat.replace(tzinfo=dt.timezone.utc)
        if run.status == R and (beat is None or beat < now - dt.timedelta(seconds=lease_s)):
            silent = f"worker {run.worker} sent no heartbeat for {lease_s:g} s"
            done = session.exec(update(Run).where(Run.id == run_id, Run.status == R,
                                                  Run.attempt == run.attempt).values(
                status=C, finished_at=now, cancel_requested=False,
                error=f"cancelled by user ({silent})")).rowcount == 1
            if done:
                _event(session, run_id, f"cancelled by user ({silent}: stopped here)")
                session.commit()
                return C
            session.rollback()
            run = _get_run(session, run_id)
        if run.status == Q:
            session.exec(update(Run).where(Run.id == run_id, Run.status == Q)
                         .values(status=C, finished_at=db_now(session), error="cancelled by user"))
            _event(session, run_id, "cancelled by user")
            session.commit()
            return C
        if run.status == R:
            session.exec(update(Run).where(Run.id == run_id).values(cancel_requested=True))
            _event(session, run_id, "cancel requested; the worker stops the run at its next heartbeat")
            session.commit()
            return "cancelling"
        raise AdlabError(f"run {run_id} is already {run.status}; only queued or running runs can be cancelled")


def retry(engine: Engine, run_id: int) -> str:
    """Put a failed or cancelled run back in the queue with a fresh ``max_attempts`` budget;
    its next claim is a new attempt number, which replaces the old attempt's results."""
    with Session(engine) as session:
        run = _get_run(session, run_id)
        if run.status not in (F, C):
            raise AdlabError(
                f"run {run_id} is {run.status}; only failed or cancelled runs can be retried "
                "(use `adlab queue --repeat` to run a succeeded config again)"
            )
        session.exec(update(Run).where(Run.id == run_id).values(  # attempt stays: monotonic
            status=Q, reclaims=0, error=None, worker=None, cancel_requested=False,
            finished_at=None, started_at=None, heartbeat_at=None))
        _event(session, run_id, "re-queued by user (retry)")
        session.commit()
    return Q


def delete_run(engine: Engine, run_id: int) -> None:
    """Remove a run that is not running, with everything recorded for it."""
    with Session(engine) as session:
        run = _get_run(session, run_id)
        if run.status == R:
            raise AdlabError(f"run {run_id} is running; cancel it first")
        session.exec(update(Run).where(Run.depends_on == run_id).values(depends_on=None))
        session.delete(run)
        session.commit()


def register_worker(engine: Engine, *, name: str, host: str, pid: int, device: str) -> None:
    with Session(engine) as session:
        now = db_now(session)
        existing = session.get(Worker, name)
        if existing is None:
            session.add(Worker(name=name, host=host, pid=pid, device=device, started_at=now,
                               heartbeat_at=now))
        else:
            existing.host, existing.pid, existing.device = host, pid, device
            existing.status, existing.current_run_id = "idle", None
            existing.started_at = existing.heartbeat_at = now
        session.commit()


def update_worker(engine: Engine, *, name: str, status: str, run_done: bool = False) -> None:
    with Session(engine) as session:
        values: dict = {"status": status, "heartbeat_at": db_now(session)}
        if status != "busy":
            values["current_run_id"] = None
        if run_done:
            values["runs_done"] = Worker.runs_done + 1
        session.exec(update(Worker).where(Worker.name == name).values(**values))
        session.commit()
