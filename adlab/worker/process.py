"""A run's process: forked, so it starts in milliseconds, not a second.

Cold (``adlab worker --cold``): the worker forks it. Warm (the default): the worker's zygote
(adlab.worker.zygote) forks it, torch & co. already imported. Either way the run is a process
of its own that :func:`run_as_child` sets up the same way: it drops the parent's pooled
database connections (without closing them) before it opens its own, starts a new session
(Ctrl-C in the terminal reaches only the worker, which decides), and dies with its parent
(PR_SET_PDEATHSIG; the zygote dies with the worker), so a SIGKILLed worker never leaves an
orphan running a run that is about to be reaped and handed to someone else.

Forking from the worker is safe because its parent never imports torch/CUDA and every fork
happens under the heartbeat thread's fork lock (adlab.worker.pulse).
"""
from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, NoReturn, Protocol

_PR_SET_PDEATHSIG = 1
EXIT_SETUP_FAILED = 70


class RunHandle(Protocol):
    """What the worker supervises: a run's process, cold or warm (Popen-like)."""

    returncode: int | None

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (Linux; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def run_as_child(target: Callable[[], int], log_path: Path, env: dict[str, str],
                 parent_pid: int) -> NoReturn:
    """In a freshly forked child: become the run's process (own session, dies with its parent,
    output to ``log_path``, ``env`` applied), run ``target`` and exit with its code."""
    code = EXIT_SETUP_FAILED
    try:
        os.setsid()
        die_with_parent()
        if os.getppid() != parent_pid:  # parent already gone
            os._exit(code)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        os.environ.update(env)
        from adlab.db.engine import forget_inherited_connections

        forget_inherited_connections()
        code = int(target())
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report, then exit with a code
        traceback.print_exc()
        code = EXIT_SETUP_FAILED
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class RunProcess:
    """A run forked from the worker itself (the cold path): poll, wait with timeout, signal."""

    POLL_S = 0.02

    def __init__(self, target: Callable[[], int], log_path: Path, env: dict[str, str]):
        parent_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            run_as_child(target, log_path, env, parent_pid)
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() >= end:
                raise TimeoutError
            time.sleep(self.POLL_S)
        return self.returncode  # type: ignore[return-value]

    def _signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.killpg(self.pid, sig)  # the run and anything it started
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
