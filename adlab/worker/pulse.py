"""The worker's heartbeat thread: beat the worker row, reap expired leases, watch the database.

It runs whatever the worker's main thread is doing (idle polling, supervising a run, waiting
for a child to stop), so a live idle worker never looks dead and a dead worker's run is
re-queued within about one lease plus one beat, even when every worker is busy.

The worker forks run processes; a fork while this thread holds a database or pool lock would
leave the child with that lock held forever. :attr:`Pulse.fork_lock` is held around every
database call here and around every fork in the main thread, so the two never overlap.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from adlab.db.engine import check_identity, database_identity
from adlab.errors import DatabaseError
from adlab.queue import beat_worker, reap


class Pulse:
    def __init__(self, engine: Engine, *, name: str, lease_s: float, interval_s: float,
                 log: Callable[[str], None]):
        self.engine, self.name, self.lease_s, self.interval_s = engine, name, lease_s, interval_s
        self.fork_lock = threading.Lock()
        self.identity: tuple[Any, ...] = database_identity(engine)
        self.lost: str | None = None  # why the database can no longer be trusted
        self.current: tuple[int, int] | None = None  # (run id, attempt) being supervised
        self._log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"pulse-{name}", daemon=True)
        self._complained = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, 2 * self.interval_s))

    def check(self) -> None:
        """Raise :class:`DatabaseError` if the database vanished or changed identity (the main
        thread calls this before every claim, so no run is claimed in between beats)."""
        if self.lost is not None:
            raise DatabaseError(self.lost)
        try:
            check_identity(self.engine, self.identity)
        except DatabaseError as exc:
            self.lost = str(exc)
            raise

    def beat(self) -> None:
        """One beat: identity check, worker row, reap. Database hiccups are logged once and
        retried next beat; a vanished or replaced database ends the pulse for good."""
        with self.fork_lock:
            try:
                self.check()
                beat_worker(self.engine, name=self.name, run=self.current)
                reaped = reap(self.engine, lease_s=self.lease_s)
            except DatabaseError:
                self._stop.set()
                return
            except SQLAlchemyError as exc:
                if not self._complained:
                    self._log(f"{self.name}: heartbeat failed ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200]}); retrying every "
                              f"{self.interval_s:g} s")
                    self._complained = True
                return
            self._complained = False
            # logged under the lock too: a fork while this thread holds stderr's lock would
            # leave the run process unable to print
            for run_id in reaped.requeued:
                self._log(f"re-queued run {run_id} (its worker stopped sending heartbeats)")
            for run_id in reaped.cancelled:
                self._log(f"cancelled run {run_id} (cancel requested; its worker is gone)")
            for name in reaped.dead_workers:
                self._log(f"worker {name} sent no heartbeat for {self.lease_s:g} s: marked dead")

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat()
