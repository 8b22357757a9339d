"""The warm worker's zygote: one process that imports a pipeline's heavy packages once and
forks every run from itself, so a run starts with torch, anomalib & co. already imported and
is still a process of its own (a crash is that run's failure; its memory, and on a GPU its CUDA
context, go back at its exit).

The worker starts it as a fresh interpreter (``python -m adlab.worker.zygote``): it inherits
no thread, lock or database connection of the worker. It never creates a CUDA context (a
forked child of a process that did cannot use the GPU): torch's availability check is switched
to NVML, and after every import it checks the CUDA driver is not loaded; if it is, it refuses
to fork and the worker runs cold. It starts no thread and never opens the database.

It talks to the worker over a socket, one JSON object a line:
  worker -> zygote  {"op": "preload", "pipelines": [...]}  (always answered)
                    {"op": "spawn", "token": T, "pipeline": P, "log": PATH, "env": {...},
                     "args": {... adlab.worker.child.execute's arguments ...}}
                    {"op": "signal", "token": T, "sig": N}
  zygote -> worker  {"event": "preloaded", "modules": [...], "failed": {...}, "seconds": S,
                     "threads": N, "gpu": reason-or-null, "answer": true-for-a-preload-op}
                    {"event": "started", "token": T, "pid": PID}
                    {"event": "refused", "token": T, "reason": R}
                    {"event": "exited", "token": T, "rc": RC}
It exits when the worker closes the socket, and dies with the worker (PR_SET_PDEATHSIG);
SIGINT and SIGTERM are the worker's to handle, so it ignores them.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
from typing import Any

from adlab.worker.preload import BASE_MODULES, Preloaded, gpu_touched, modules_for, native_threads
from adlab.worker.process import die_with_parent, run_as_child

NVML_CHECK_ENV = {"PYTORCH_NVML_BASED_CUDA_CHECK": "1"}  # torch.cuda.is_available() without cuInit


class Zygote:
    def __init__(self, sock: socket.socket, *, own_nvml_check: bool = False):
        self.sock = sock
        self.own_nvml_check = own_nvml_check  # set for the imports only: runs see the worker's env
        self.preloaded = Preloaded()
        self.by_pipeline: dict[str, list[str]] = {}
        self.children: dict[int, str] = {}  # pid -> token of runs not reaped yet
        self._buffer = b""
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    # messages ------------------------------------------------------------------------------
    def send(self, **message: Any) -> None:
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def _messages(self) -> list[dict[str, Any]] | None:
        """The complete messages that arrived; None when the worker closed the socket."""
        try:
            data = self.sock.recv(1 << 16)
        except OSError:  # the worker is gone
            return None
        if not data:
            return None
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    # preloading ----------------------------------------------------------------------------
    def _modules(self, pipeline: str) -> list[str]:
        if pipeline not in self.by_pipeline:
            from adlab.pipelines import get_pipeline

            try:
                spec = get_pipeline(pipeline)
            except Exception:  # noqa: BLE001 - an unknown pipeline is the run's failure to report
                self.by_pipeline[pipeline] = []
            else:
                self.by_pipeline[pipeline] = modules_for(tuple(spec.extras), spec.runner)
        return self.by_pipeline[pipeline]

    def preload(self, pipelines: list[str], *, answer: bool = False) -> None:
        wanted = [m for p in pipelines for m in self._modules(p)]
        new = [m for m in wanted if m not in self.preloaded.modules and m not in self.preloaded.failed]
        if new:
            self.preloaded.load(wanted)
        if new or answer:
            self._report(answer=answer)

    def _report(self, *, answer: bool = False) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self.send(event="preloaded", modules=self.preloaded.modules, failed=self.preloaded.failed,
                  seconds=round(self.preloaded.seconds, 2), threads=native_threads(),
                  gpu=gpu_touched(), answer=answer)

    # runs ----------------------------------------------------------------------------------
    def spawn(self, msg: dict[str, Any]) -> None:
        token = msg["token"]
        self.preload([msg["pipeline"]])
        refusal = gpu_touched()
        if refusal:
            self.send(event="refused", token=token, reason=refusal)
            return
        sys.stdout.flush()
        sys.stderr.flush()
        me = os.getpid()
        try:
            pid = os.fork()
        except OSError as exc:
            self.send(event="refused", token=token, reason=f"fork failed: {exc}")
            return
        if pid == 0:
            self._forget_in_child()
            args = msg["args"]
            preloaded = list(self.preloaded.modules)

            def target() -> int:
                from adlab.worker.child import execute

                return execute(**args, mode="warm", preloaded=preloaded)

            run_as_child(target, msg["log"], msg["env"], me)
        self.children[pid] = token
        self.send(event="started", token=token, pid=pid)

    def _forget_in_child(self) -> None:
        """In a forked run: nothing of the zygote's own plumbing survives."""
        if self.own_nvml_check:
            for name in NVML_CHECK_ENV:
                os.environ.pop(name, None)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self.sock.close()

    def signal(self, msg: dict[str, Any]) -> None:
        """Signal a run (and its process group) only while it is our unreaped child, so a pid
        reused after the run's exit is never hit."""
        for pid, token in self.children.items():
            if token == msg["token"]:
                try:
                    os.killpg(pid, int(msg["sig"]))
                except ProcessLookupError:  # not yet its own group leader, or already exited
                    try:
                        os.kill(pid, int(msg["sig"]))
                    except ProcessLookupError:
                        pass

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            token = self.children.pop(pid, None)
            if token is not None:
                self.send(event="exited", token=token, rc=os.waitstatus_to_exitcode(status))

    # the loop ------------------------------------------------------------------------------
    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select through the wakeup fd
        signal.set_wakeup_fd(self._wake_w)
        self.preloaded.load(list(BASE_MODULES))
        from adlab.worker.provenance import package_versions

        package_versions()  # cached for every run: the versions of what this process imports
        self._report()
        watched: list[Any] = [self.sock, self._wake_r]
        while True:
            try:
                ready, _, _ = select.select(watched, [], [], 1.0)
            except InterruptedError:
                ready = []
            if self._wake_r in ready:
                try:
                    while os.read(self._wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            self.reap()
            if self.sock not in ready:
                continue
            messages = self._messages()
            if messages is None:
                break
            for msg in messages:
                {"preload": lambda m: self.preload(m["pipelines"], answer=True), "spawn": self.spawn,
                 "signal": self.signal}[msg["op"]](msg)
        for pid in list(self.children):  # the worker is gone: so are its runs
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def main(argv: list[str]) -> int:
    """``python -m adlab.worker.zygote FD WORKER_PID OWN_NVML_CHECK``."""
    fd, worker_pid, own_nvml_check = int(argv[0]), int(argv[1]), argv[2:] == ["1"]
    die_with_parent()
    if os.getppid() != worker_pid:
        return 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    Zygote(socket.socket(fileno=fd), own_nvml_check=own_nvml_check).serve()
    return 0


if __name__ == "__main__":  # `python -m` imported the adlab package first: malloc is pinned
    sys.exit(main(sys.argv[1:]))
