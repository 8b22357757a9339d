"""The worker: claim a run, supervise its process, heartbeat, honour cancel and signals.

One worker per device (``--device cuda:K``); any number of workers share one database. The
worker process never imports pipeline code, so it stays small and survives any pipeline crash.
Warm (the default), each run is forked from the worker's zygote (adlab.worker.zygote), which
imported the pipeline's packages once; cold (``--cold``, ``ADLAB_WORKER_MODE=cold``), from the
worker itself, and each run imports them again (seconds for torch and anomalib).
"""
from __future__ import annotations

import os
from functools import partial
import signal
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from sqlalchemy import func, select
from sqlmodel import Session

from adlab.db.engine import get_engine, reader
from adlab.db.models import Event, Run, RunStatus
from adlab.errors import AdlabError, DatabaseError
from adlab.queue import claim, finish, heartbeat, register_worker, release, update_worker
from adlab.settings import WORKER_MODE_ENV, artifacts_root, lease_seconds, worker_mode
from adlab.worker.devices import check_cuda_index
from adlab.worker.paths import run_output_dir, worker_log_path
from adlab.worker.process import RunHandle, RunProcess
from adlab.worker.pulse import Pulse
from adlab.worker.retry import retrying
from adlab.worker.warm import ZygoteClient

GRACE_S = 10.0
PRELOAD_WAIT_S = 600.0  # the longest the worker waits for its zygote's imports before claiming
# A run killed by SIGTERM/SIGINT it did not get from the worker, while the worker gets one too
# within this long: the whole job is being stopped (Slurm preemption or time limit, systemd
# stop signal every process), and the run goes back to the queue instead of failing.
STOP_TOGETHER_S = 1.0
T = TypeVar("T")


def parse_device(device: str, *, check: bool = False) -> tuple[str, dict[str, str]]:
    """(device the child sees, extra env). ``cuda:K`` pins the child to GPU K as its cuda:0;
    with ``check``, a GPU K this machine does not have is refused."""
    if device in ("cpu", "auto"):
        return device, {}
    if device.startswith("cuda"):
        index = device.partition(":")[2] or "0"
        if not index.isdigit():
            raise AdlabError(f"--device {device!r}: expected cpu, auto or cuda:N (e.g. cuda:0)")
        if check:
            check_cuda_index(device, int(index))
        return "cuda:0", {"CUDA_VISIBLE_DEVICES": index}
    raise AdlabError(f"--device {device!r}: expected cpu, auto or cuda:N (e.g. cuda:0)")


def resolve_auto_device() -> str:
    """``auto``: cuda:0 when an NVIDIA GPU is visible (checked without importing torch)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "") == "-1":
        return "cpu"
    return "cuda:0" if Path("/dev/nvidia0").exists() else "cpu"


@dataclass
class WorkerOptions:
    device: str = "cpu"
    name: str | None = None
    once: bool = False
    max_runs: int | None = None
    until_empty: bool = False
    poll_s: float = 1.0
    lease_s: float | None = None
    warm: bool | None = None  # None: ADLAB_WORKER_MODE (default warm)


def resolve_warm(option: bool | None) -> bool:
    """``--cold`` / ``--warm``, else ``ADLAB_WORKER_MODE``, else warm."""
    if option is not None:
        return option
    try:
        return worker_mode() == "warm"
    except ValueError as exc:
        raise AdlabError(f"{WORKER_MODE_ENV}={exc}: expected warm or cold") from None


class Worker:
    def __init__(self, db_url: str, options: WorkerOptions, log=print):  # noqa: ANN001
        self.url = db_url
        self.opt = options
        device = resolve_auto_device() if options.device == "auto" else options.device
        self.run_device = device
        self.child_device, self.child_env = parse_device(device, check=options.device != "auto")
        self.engine = get_engine(db_url)
        self.name = options.name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        self.lease_s = options.lease_s or lease_seconds()
        self.heartbeat_s = min(max(self.lease_s / 6.0, 0.2), 10.0)
        self._stop_reason: str | None = None
        self._log = log
        self.runs_done = 0
        # (when, heartbeat of each running run) as last seen by _queue_drained
        self._watched: tuple[float, dict[int, Any]] | None = None
        self.warm = resolve_warm(options.warm)
        self.zygote: ZygoteClient | None = None

    # signals -------------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame) -> None:  # noqa: ANN001
        name = signal.Signals(signum).name
        if self._stop_reason is None:
            self._stop_reason = f"worker received {name}"
            self._log(f"{self.name}: {name}: stopping after releasing the current run")

    def _install_signals(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    # main loop -----------------------------------------------------------------------------
    def run(self) -> int:
        """Claim and execute runs until told to stop. Raises :class:`DatabaseError` (the CLI
        exits non-zero) when the database is deleted or replaced under the worker."""
        self._install_signals()
        self._db("registering the worker", lambda: register_worker(
            self.engine, name=self.name, host=socket.gethostname(), pid=os.getpid(),
            device=self.run_device))
        self.pulse = Pulse(self.engine, name=self.name, lease_s=self.lease_s,
                           interval_s=self.heartbeat_s, log=self._log)
        self._log(f"worker {self.name} on {self.run_device}, database {self.url}"
                  f"{'' if self.warm else ' (cold: each run imports its packages)'}")
        self.pulse.beat()  # reap at once: a short-lived worker must not wait a beat for it
        self.pulse.start()
        gone = False  # the database was lost or stayed away: write nothing more
        try:
            if self.warm:
                self._start_zygote()
            while self._stop_reason is None:
                self._db("checking the database", self.pulse.check)
                run = self._db("claiming a run", lambda: claim(
                    self.engine, worker=self.name, device=self.run_device))
                if run is None:
                    if self.opt.once or (self.opt.until_empty
                                         and self._db("polling the queue", self._queue_drained)):
                        break
                    time.sleep(self.opt.poll_s)
                    continue
                self._watched = None
                self._execute(run)
                self.runs_done += 1
                if self.opt.once or (self.opt.max_runs and self.runs_done >= self.opt.max_runs):
                    break
        except DatabaseError as exc:
            self._log(f"{self.name}: {exc}; the worker stops without writing anything more")
            gone = True
            raise
        finally:
            if self.zygote is not None:
                self.zygote.close()
            self.pulse.stop()
            if self.pulse.lost is None and not gone:
                self._db("marking the worker stopped", lambda: update_worker(
                    self.engine, name=self.name, status="stopped"))
        return 0

    def _db(self, what: str, call: Callable[[], T]) -> T:
        """``call()`` through a passing database failure (adlab.worker.retry)."""
        return retrying(call, url=self.url, what=what,
                        log=lambda line: self._log(f"{self.name}: {line}"))

    def _queue_drained(self) -> bool:
        """Nothing was claimable: is there still work this worker might get?

        Queued runs waiting on a dependency are worth waiting for while some run is running.
        With nothing queued, a run running elsewhere may belong to a dead worker and come back
        to the queue when reaped: the worker waits until it has seen the heartbeat of every
        running run advance over two heartbeat intervals (their workers are alive) or those
        runs end. A single look at heartbeat ages cannot tell a worker killed a moment ago from
        a live one."""
        with Session(reader(self.engine)) as s:
            queued = s.exec(select(func.count()).where(
                Run.status == RunStatus.queued.value)).scalar()
            running = dict(s.exec(select(Run.id, Run.heartbeat_at).where(
                Run.status == RunStatus.running.value)).all())
        if not running:
            self._watched = None
            return True  # queued runs left now wait on dependencies that can never succeed
        if queued:
            return False
        now = time.monotonic()
        if self._watched is None:
            self._watched = (now, running)
            return False
        since, seen = self._watched
        if now - since < 2 * self.heartbeat_s:
            return False
        self._watched = (now, running)
        return not any(seen.get(run_id) == beat for run_id, beat in running.items())

    def _start_zygote(self) -> None:
        """Start the zygote and have it import what the queued runs' pipelines need before
        the worker claims the first one (a pipeline first met later is imported at its first
        run, for the runs after it)."""
        self.zygote = ZygoteClient(name=self.name, env=self.child_env,
                                   log_path=worker_log_path(self.name), log=self._log)
        try:
            self.zygote.start()
        except OSError as exc:
            self._log(f"{self.name}: cannot start the warm zygote ({exc}); running cold")
            self.zygote = None
            return
        def queued() -> list[str]:
            with Session(reader(self.engine)) as s:
                return list(s.exec(select(Run.pipeline).where(
                    Run.status == RunStatus.queued.value).distinct()).scalars().all())

        self.zygote.preload(self._db("reading the queue", queued))
        self.zygote.wait_preloaded(PRELOAD_WAIT_S, stop=lambda: self._stop_reason is not None)

    # one run -------------------------------------------------------------------------------
    def _spawn(self, run: Run, log_path: Path) -> RunHandle:
        args = {"url": self.url, "run_id": int(run.id), "worker": self.name,
                "attempt": int(run.attempt), "device": self.child_device,
                "run_device": self.run_device}

        def cold() -> RunProcess:
            from adlab.worker.child import execute

            with self.pulse.fork_lock:  # never fork while the heartbeat thread holds a lock
                return RunProcess(lambda: execute(**args), log_path, self.child_env)

        if self.zygote is None:
            return cold()
        return self.zygote.spawn(pipeline=run.pipeline, args=args, log_path=log_path,
                                 env=self.child_env, fallback=cold)

    def _stop_child(self, child: RunHandle) -> None:
        if child.poll() is not None:
            return
        child.terminate()
        try:
            child.wait(timeout=GRACE_S)
        except TimeoutError:
            child.kill()
            child.wait()

    def _prepare_output(self, run: Run) -> Path | None:
        """The run's folder and process log; an I/O failure fails this run (with the path and
        the reason) and the worker goes on with the next one."""
        out_dir = run_output_dir(run.id, run.name)
        log_path = out_dir / "process.log"
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            where = exc.filename or out_dir
            error = (f"cannot write the run folder {where}: {exc.strerror or exc}; make the "
                     f"artifacts folder {artifacts_root()} (ADLAB_ARTIFACTS) writable for the "
                     f"worker, then `adlab retry {run.id}`")
            self._log(f"run {run.id}: {error}")
            self._db(f"recording the end of run {run.id}", lambda: finish(
                self.engine, run_id=run.id, worker=self.name, attempt=run.attempt,
                status=RunStatus.failed.value, error=error))
            self._idle(run_done=True)
            return None
        return log_path

    def _execute(self, run: Run) -> None:
        log_path = self._prepare_output(run)
        if log_path is None:
            return
        self._log(f"run {run.id} {run.name} ({run.pipeline}) attempt {run.attempt}")
        started = time.monotonic()
        child = self._spawn(run, log_path)
        self.pulse.current = (int(run.id), int(run.attempt))
        try:
            self._supervise(run, child, log_path, started)
        finally:
            self.pulse.current = None

    def _supervise(self, run: Run, child: RunHandle, log_path: Path, started: float) -> None:
        outcome: tuple[str, str] | None = None
        while True:
            try:
                rc = child.wait(timeout=self.heartbeat_s)
                break
            except TimeoutError:
                pass
            if self.pulse.lost is not None:  # the database went away: stop, write nothing
                child.kill()
                child.wait()
                raise DatabaseError(self.pulse.lost)
            owned, cancel = self._db(f"heartbeating run {run.id}", lambda: heartbeat(
                self.engine, run_id=run.id, worker=self.name, attempt=run.attempt))
            if not owned:
                try:  # the run may have just finished itself: then it is not lost
                    rc = child.wait(timeout=min(1.0, self.heartbeat_s))
                    break
                except TimeoutError:
                    pass
                self._log(f"run {run.id}: lost ownership (reaped or deleted); stopping its process")
                self._stop_child(child)
                self._idle(run_done=False)
                return
            if cancel:
                self._stop_child(child)
                outcome = (RunStatus.cancelled.value, "cancelled by user")
                rc = child.returncode
                break
            if self._stop_reason is not None:
                self._stop_child(child)
                self._db(f"releasing run {run.id}", partial(
                    release, self.engine, run_id=run.id, worker=self.name, attempt=run.attempt,
                    reason=self._stop_reason))
                self._log(f"run {run.id}: released back to the queue")
                return
        if outcome is None and self._stopped_with_the_worker(rc):
            reason = f"{self._stop_reason} (its run got the signal too)"
            self._db(f"releasing run {run.id}", lambda: release(
                self.engine, run_id=run.id, worker=self.name, attempt=run.attempt,
                reason=reason))
            self._log(f"run {run.id}: released back to the queue")
            return
        if outcome is None and rc not in (0, 3):
            tail = _tail(log_path)
            how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
            outcome = (RunStatus.failed.value,
                       f"pipeline process died ({how}); last output: {tail}" if tail
                       else f"pipeline process died ({how})")
        if outcome is not None:
            status, error = outcome
            self._db(f"recording the end of run {run.id}", lambda: finish(
                self.engine, run_id=run.id, worker=self.name, attempt=run.attempt,
                status=status, error=error))
        self._idle(run_done=True)
        took = time.monotonic() - started

        def record() -> str | None:
            with Session(self.engine) as s:
                status = s.exec(select(Run.status).where(Run.id == run.id)).scalar()
                s.add(Event(run_id=run.id, source=self.name,
                            message=f"process finished in {took:.1f} s"))
                s.commit()
            return status

        self._log(f"run {run.id}: {self._db(f'recording the end of run {run.id}', record)}")

    def _idle(self, *, run_done: bool) -> None:
        self._db("updating the worker row", lambda: update_worker(
            self.engine, name=self.name, status="idle", run_done=run_done))


    def _stopped_with_the_worker(self, rc: int) -> bool:
        """The run died of SIGTERM/SIGINT and the worker got one too (now or within
        STOP_TOGETHER_S): a stop of the whole job, not a failure of the run."""
        if rc not in (-signal.SIGTERM, -signal.SIGINT):
            return False
        end = time.monotonic() + STOP_TOGETHER_S
        while self._stop_reason is None and time.monotonic() < end:
            time.sleep(0.02)
        return self._stop_reason is not None


def _tail(path: Path, n: int = 400) -> str:
    try:
        data = path.read_bytes()[-n:].decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return " | ".join(line for line in data.splitlines()[-3:] if line.strip())
