"""Executes one claimed run in its own process, so a crashing pipeline cannot kill the worker.

The worker forks a process (adlab.worker.process.RunProcess) that calls :func:`execute`. It
records the outcome itself; if the process dies without doing so, the worker records the exit
code instead.
"""
from __future__ import annotations

import errno
import json
import random
import traceback

import adlab  # noqa: F401  (pins the malloc threshold before anything imports torch)
from adlab.db.engine import get_engine
from adlab.db.models import Event, Run, RunStatus
from adlab.errors import AdlabError
from adlab.pipelines import RunCancelled, get_pipeline
from adlab.pipelines.extras import extras_needed
from adlab.queue import finish
from adlab.worker.context import DbRunContext, RunLost, db_call
from adlab.worker.paths import run_output_dir
from adlab.worker.provenance import git_state, package_versions
from sqlalchemy import update
from sqlmodel import Session

EXIT_OK, EXIT_LOST = 0, 3


def _seed_everything(seed: int | None) -> None:
    if seed is None:
        return
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass


def _io_error(exc: OSError, output_dir, run_id: int) -> str:  # noqa: ANN001
    """One sentence for an I/O failure: the path, the reason and, for a folder the worker may
    not write, the fix."""
    where = exc.filename or output_dir
    text = f"I/O error on {where}: {exc.strerror or exc}"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC):
        text += (f"; make the artifacts folder (ADLAB_ARTIFACTS) writable with free space for "
                 f"the worker, then `adlab retry {run_id}`")
    return text


def execute(url: str, run_id: int, worker: str, attempt: int, device: str, run_device: str,
            mode: str = "cold", preloaded: list[str] | None = None) -> int:
    """Run one claimed run in this (its own) process; ``mode`` is the worker's (warm: forked
    from the zygote, with ``preloaded`` imported before the fork), recorded with the run."""
    engine = get_engine(url, migrate=False)  # the worker migrated it before claiming
    with Session(engine) as s:
        run = s.get(Run, run_id)
    if run is None or run.status != RunStatus.running.value or run.worker != worker or run.attempt != attempt:
        return EXIT_LOST
    spec = get_pipeline(run.pipeline)
    output_dir = run_output_dir(run.id, run.name)
    commit, dirty = git_state()
    with Session(engine) as s:
        s.exec(update(Run).where(Run.id == run_id).values(
            output_dir=str(output_dir), git_commit=commit, git_dirty=dirty, device=run_device,
            versions_json=json.dumps(package_versions())))
        s.commit()
    ctx = None
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        params = spec.params_model.model_validate_json(run.config_json)
        ctx = DbRunContext(engine, run, params, output_dir, device, spec.headline_metric)
        ctx.set_info("worker_mode", mode)
        if preloaded:
            ctx.set_info("preloaded", preloaded)
        _seed_everything(run.seed)
        ctx.log(f"{spec.name} starting on {run_device} (attempt {attempt})")
        with extras_needed(spec.name, spec.extras):
            spec.load_runner()(ctx)
    except RunLost:
        return EXIT_LOST  # another attempt owns the run now; write nothing more
    except RunCancelled as exc:
        status, error = RunStatus.cancelled.value, str(exc)
    except AdlabError as exc:
        status, error = RunStatus.failed.value, str(exc)
    except OSError as exc:  # a file the run reads or writes: name the path and the reason
        status, error = RunStatus.failed.value, _io_error(exc, output_dir, run_id)
    except Exception as exc:  # noqa: BLE001 - any pipeline bug is this run's failure only
        status, error = RunStatus.failed.value, f"{type(exc).__name__}: {exc}"
        with Session(engine) as s:
            s.add(Event(run_id=run_id, level="error", source="pipeline",
                        message=traceback.format_exc()))
            s.commit()
    else:
        status, error = RunStatus.succeeded.value, None
    finally:
        if ctx is not None:
            ctx.close()
    done = db_call(engine, f"recording the end of run {run_id}", lambda: finish(
        engine, run_id=run_id, worker=worker, attempt=attempt, status=status, error=error))
    return EXIT_OK if done else EXIT_LOST
