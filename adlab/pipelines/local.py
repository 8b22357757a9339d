"""An in-process RunContext that keeps everything in memory.

Used to run a pipeline directly (tests of one pipeline, notebooks) without a database; the
worker uses its own context that writes to the database instead.
"""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adlab.pipelines.base import PipelineParams, RunCancelled


@dataclass
class MemoryStore:
    data: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def put(self, key: str, value: Any) -> None:
        json.dumps(value)  # same contract as the database store: values must be JSON
        self.data[key] = value

    def items(self, prefix: str = "") -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k.startswith(prefix)}


@dataclass
class LocalRunContext:
    params: PipelineParams
    output_dir: Path
    run_id: int = 0
    name: str = "local"
    device: str = "cpu"
    seed: int | None = None
    state: MemoryStore = field(default_factory=MemoryStore)
    echo: bool = False
    metrics: list[tuple[str, float, str, int | None]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    progress_log: list[tuple[int, int | None]] = field(default_factory=list)
    cancelled: bool = False
    inputs: list = field(default_factory=list)  # RunInput objects for dependent pipelines

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        self.progress_log.append((done, total))
        if message:
            self.log(message)

    def log(self, message: str, level: str = "info") -> None:
        self.logs.append((level, message))
        if self.echo:
            print(f"[{level}] {message}", file=sys.stderr)

    def metric(self, key: str, value: float, *, scope: str = "", step: int | None = None) -> None:
        self.metrics.append((key, float(value), scope, step))

    def artifact(self, path: Path, kind: str) -> None:
        data = Path(path).read_bytes()
        self.artifacts.append({"path": Path(path), "kind": kind,
                               "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})

    def check_cancelled(self) -> None:
        if self.cancelled:
            raise RunCancelled(f"run {self.run_id} was cancelled")

    def set_info(self, key: str, value: Any) -> None:
        self.info[key] = value

    def metric_value(self, key: str, scope: str = "") -> float:
        """The last value recorded for ``key`` in ``scope`` (test convenience)."""
        for k, v, s, _ in reversed(self.metrics):
            if k == key and s == scope:
                return v
        raise KeyError(f"no metric {key!r} in scope {scope!r}")
