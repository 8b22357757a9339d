"""An in-process RunContext that keeps everything in memory.

Used to run a pipeline directly (tests of one pipeline, notebooks) without a database; the
worker uses its own context that writes to the database instead. Both keep the same contract
(:class:`adlab.pipelines.base.RunContext`), checked by ``tests/pipelines/test_context_contract.py``.
"""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic

from adlab.core.vocabulary import ArtifactKind
from adlab.pipelines.base import P, RunCancelled, RunInput, artifact_kind, metric_value


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
class LocalRunContext(Generic[P]):
    params: P
    output_dir: Path
    run_id: int = 0
    name: str = "local"
    device: str = "cpu"
    seed: int | None = None
    state: MemoryStore = field(default_factory=MemoryStore)
    echo: bool = False
    metrics: list[tuple[str, float | None, str, int | None]] = field(default_factory=list)
    notes: dict[tuple[str, str, int | None], str] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    progress_log: list[tuple[int, int | None]] = field(default_factory=list)
    progress_message: str | None = None
    cancelled: bool = False
    inputs: list[RunInput] = field(default_factory=list)  # finished prerequisite runs

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Like the worker: the latest message is the run's status line, not a log line."""
        self.progress_log.append((done, total))
        if message is not None:
            self.progress_message = message
            if self.echo:
                print(f"[progress {done}/{total if total is not None else '?'}] {message}",
                      file=sys.stderr)

    def log(self, message: str, level: str = "info") -> None:
        self.logs.append((level, message))
        if self.echo:
            print(f"[{level}] {message}", file=sys.stderr)

    def metric(self, key: str, value: float | None, *, scope: str = "", step: int | None = None,
               note: str | None = None) -> None:
        row = (key, metric_value(value), scope, step)
        # recorded again: replaced in its place with its note, as the database's upsert does
        # (adlab.db.metric_rows: the row keeps its id)
        at = next((i for i, m in enumerate(self.metrics) if (m[0], m[2], m[3]) == (key, scope, step)),
                  None)
        if at is None:
            self.metrics.append(row)
        else:
            self.metrics[at] = row
        self.notes.pop((key, scope, step), None)
        if note is not None:
            self.notes[(key, scope, step)] = note

    def artifact(self, path: Path, kind: ArtifactKind | str) -> None:
        name = artifact_kind(kind)
        data = Path(path).read_bytes()
        self.artifacts.append({"path": Path(path), "kind": name,
                               "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})

    def check_cancelled(self) -> None:
        if self.cancelled:
            raise RunCancelled(f"run {self.run_id} was cancelled")

    def set_info(self, key: str, value: Any) -> None:
        self.info[key] = value

    def metric_value(self, key: str, scope: str = "") -> float | None:
        """The last value recorded for ``key`` in ``scope`` (test convenience)."""
        for k, v, s, _ in reversed(self.metrics):
            if k == key and s == scope:
                return v
        raise KeyError(f"no metric {key!r} in scope {scope!r}")
