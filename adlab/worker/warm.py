"""The worker's side of the warm path: start the zygote (adlab.worker.zygote), ask it to fork
runs, and supervise them through handles that behave like :class:`RunProcess`.

A zygote that dies is started again for the next run; one that keeps dying, or that reports
the CUDA driver loaded (its forks could not use the GPU), sends the worker back to cold forks
for good, with the reason in the worker's log.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from adlab.worker.process import RunHandle
from adlab.worker.zygote import NVML_CHECK_ENV

MAX_ZYGOTE_DEATHS = 3


class WarmRun:
    """A run forked by the zygote: poll, wait with timeout, signal, as RunProcess. Refused by
    the zygote, it runs cold instead (``fallback``)."""

    def __init__(self, zygote: "ZygoteClient", token: str, log_path: Path,
                 fallback: Callable[[], RunHandle]):
        self._zygote, self.token, self.log_path, self._fallback = zygote, token, log_path, fallback
        self.pid: int | None = None
        self.returncode: int | None = None
        self.cold: RunHandle | None = None  # set when the zygote refused and the run went cold

    def poll(self) -> int | None:
        if self.cold is None and self.returncode is None:
            self._zygote.pump(0.0)
        if self.cold is not None:
            self.returncode = self.cold.poll()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.cold is not None:
                left = None if end is None else max(0.0, end - time.monotonic())
                self.returncode = self.cold.wait(left)
                return self.returncode
            if self.returncode is not None:
                return self.returncode
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError
            self._zygote.pump(0.5 if left is None else min(left, 0.5))

    def _signal(self, sig: int) -> None:
        if self.poll() is not None:
            return
        if self.cold is not None:
            getattr(self.cold, "kill" if sig == signal.SIGKILL else "terminate")()
        elif self.pid is None:  # the zygote is still importing for it: the run never started
            self._zygote.abort(f"stopped while the zygote prepared run {self.token}", -sig)
        else:
            self._zygote.signal(self.token, sig)

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    # events from the zygote ------------------------------------------------------------
    def started(self, pid: int) -> None:
        self.pid = pid

    def exited(self, rc: int) -> None:
        self.returncode = rc

    def refused(self, reason: str) -> None:
        self.cold = self._fallback()

    def lost(self, why: str, rc: int) -> None:
        """The zygote died with this run in it (the run dies with it: PR_SET_PDEATHSIG)."""
        if self.returncode is None:
            try:
                with open(self.log_path, "a", encoding="utf-8") as fh:
                    fh.write(f"{why}\n")
            except OSError:
                pass
            self.returncode = rc


class ZygoteClient:
    """One zygote process and the runs it forked (the worker runs one at a time)."""

    def __init__(self, *, name: str, env: dict[str, str], log_path: Path | None,
                 log: Callable[[str], None]):
        self.name, self.env, self.log_path, self._log = name, env, log_path, log
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.runs: dict[str, WarmRun] = {}
        self.disabled: str | None = None  # why this worker now runs cold
        self.deaths = 0
        self._buffer = b""
        self._serial = 0
        self._announced: tuple[str, ...] = ()
        self.preloading = False  # a preload request not answered yet

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        ours, theirs = socket.socketpair()
        out: Any = subprocess.DEVNULL
        if self.log_path is not None:
            try:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                out = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
            except OSError:
                out = subprocess.DEVNULL
        own_nvml = not set(NVML_CHECK_ENV) <= set(os.environ)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "adlab.worker.zygote", str(theirs.fileno()),
                 str(os.getpid()), "1" if own_nvml else "0"],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
                env={**NVML_CHECK_ENV, **os.environ, **self.env})
        finally:
            theirs.close()
            if out is not subprocess.DEVNULL:
                out.close()
        self.sock, self._buffer, self._announced = ours, b"", ()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.sock is not None

    def close(self) -> None:
        """Close the socket (the zygote exits at EOF) and wait for it."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def abort(self, why: str, rc: int) -> None:
        """Kill the zygote now; its runs end with ``rc``."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self._died(why, rc)

    def _died(self, why: str, rc: int) -> None:
        for run in self.runs.values():
            run.lost(why, rc)
        self.runs.clear()
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            self.proc.wait()
            self.proc = None

    # requests ----------------------------------------------------------------------------
    def _send(self, **message: Any) -> bool:
        if not self.alive():
            return False
        try:
            self.sock.sendall(json.dumps(message).encode() + b"\n")  # type: ignore[union-attr]
        except OSError:
            self._unexpected_exit()
            return False
        return True

    def preload(self, pipelines: list[str]) -> None:
        if pipelines and self.alive():
            self.preloading = self._send(op="preload", pipelines=sorted(set(pipelines)))

    def wait_preloaded(self, timeout: float, stop: Callable[[], bool]) -> None:
        """Wait until the zygote answered the preload request (or ``timeout``, or ``stop()``),
        so that the worker claims a run only when it can start it at once: a claimed run
        waiting for imports is one that another, ready worker could have run."""
        end = time.monotonic() + timeout
        while self.preloading and self.sock is not None and not stop() and time.monotonic() < end:
            self.pump(0.2)

    def spawn(self, *, pipeline: str, args: dict[str, Any], log_path: Path, env: dict[str, str],
              fallback: Callable[[], RunHandle]) -> RunHandle:
        """Ask the zygote to fork the run; cold (``fallback()``) when warm is off or fails."""
        if self.disabled is None and not self.alive():
            try:
                self.start()
            except OSError as exc:
                self._disable(f"cannot start the zygote ({exc})")
        self._serial += 1
        run = WarmRun(self, f"{os.getpid()}-{self._serial}", log_path, fallback)
        if self.disabled is not None or not self._send(
                op="spawn", token=run.token, pipeline=pipeline, log=str(log_path), env=env,
                args=args):
            return fallback()
        self.runs[run.token] = run
        return run

    def signal(self, token: str, sig: int) -> None:
        self._send(op="signal", token=token, sig=sig)

    # events ------------------------------------------------------------------------------
    def pump(self, timeout: float) -> None:
        """Read what the zygote said (waiting up to ``timeout`` for something) and act on it."""
        if self.sock is None:
            time.sleep(timeout)
            return
        try:
            ready, _, _ = select.select([self.sock], [], [], timeout)
        except InterruptedError:  # a signal to the worker: its handler has run; go on
            return
        if not ready:
            return
        try:
            data = self.sock.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            self._unexpected_exit()
            return
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self._event(json.loads(line))

    def _event(self, msg: dict[str, Any]) -> None:
        kind = msg["event"]
        if kind == "preloaded":
            self._preloaded(msg)
            self.preloading = self.preloading and not msg.get("answer")
            return
        run = self.runs.get(msg.get("token", ""))
        if run is None:
            return
        if kind == "started":
            run.started(int(msg["pid"]))
        elif kind == "exited":
            self.runs.pop(run.token, None)
            run.exited(int(msg["rc"]))
        elif kind == "refused":
            self.runs.pop(run.token, None)
            self._disable(f"the zygote refused to fork run {run.token}: {msg['reason']}")
            run.refused(msg["reason"])

    def _preloaded(self, msg: dict[str, Any]) -> None:
        new = [m for m in msg["modules"] if m not in self._announced]
        failed = {m: e for m, e in msg["failed"].items() if m not in self._announced}
        if new or failed:
            self._announced += (*new, *failed)
            pid = self.proc.pid if self.proc else "?"
            text = "; ".join(f"{m}: {e}" for m, e in failed.items())
            self._log(f"{self.name}: warm: zygote pid {pid} imported {', '.join(new) or 'nothing new'}"
                      f" ({msg['seconds']:.1f} s of imports so far, {msg['threads']} thread(s))"
                      + (f"; not importable: {text}" if text else ""))
        if msg.get("gpu"):
            self._disable(f"the zygote loaded the GPU while importing ({msg['gpu']}); its forks "
                          "could not use CUDA")

    def _disable(self, why: str) -> None:
        if self.disabled is None:
            self.disabled = why
            self._log(f"{self.name}: {why}; runs are forked from the worker (cold) from now on")
            if not self.runs:
                self.close()

    def _unexpected_exit(self) -> None:
        rc = None
        if self.proc is not None:
            try:
                rc = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # it closed the socket but lives on: end it
                self.proc.kill()
                rc = self.proc.wait()
        how = f"signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}"
        self._log(f"{self.name}: warm: the zygote exited unexpectedly ({how})")
        self._died(f"the warm worker's zygote exited unexpectedly ({how}); this run was killed "
                   "with it", -signal.SIGKILL)
        self.deaths += 1
        if self.deaths >= MAX_ZYGOTE_DEATHS:
            self._disable(f"the zygote died {self.deaths} times")
