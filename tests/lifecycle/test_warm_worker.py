"""The warm worker with real processes: runs fork from the zygote (not from the worker), a
crashing run is that run's failure only, and every stop keeps the attempt semantics of
tests/lifecycle/test_stop_resume.py (exactly one row per result after the retry)."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from adlab.config.loader import build_run_specs
from adlab.db.queries import get_run, list_runs
from adlab.queue import enqueue
from lab_helpers import start_worker, wait_until
from lifecycle.lifecycle_checks import assert_complete_once, messages

LEASE = {"ADLAB_LEASE_S": "2"}
CATEGORIES = ["a", "b", "c"]


def _queue(engine, **params) -> int:  # noqa: ANN001
    [rid] = enqueue(engine, build_run_specs({"pipeline": "diag", **params}), repeat=True).created
    return rid


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _zygote_of(worker_pid: int) -> int:
    return wait_until(lambda: next((p for p in _children(worker_pid)
                                    if "adlab.worker.zygote" in _cmdline(p)), None), timeout=60)


def _run_process(zygote: int) -> int:
    return wait_until(lambda: next(iter(_children(zygote)), None), timeout=60)


def _info(engine, rid: int) -> dict:  # noqa: ANN001
    return json.loads(get_run(engine, run_id=rid).info_json or "{}")


def test_runs_fork_from_the_zygote_with_their_pipeline_already_imported(engine):
    rid = _queue(engine, steps=400, step_seconds=0.05)
    w = start_worker("--until-empty", env=LEASE)
    try:
        wait_until(lambda: get_run(engine, run_id=rid).progress_done >= 2, timeout=120)
        zygote = _zygote_of(w.pid)
        run_pid = _run_process(zygote)
        assert run_pid not in _children(w.pid)  # forked by the zygote, not by the worker
        assert zygote in _children(w.pid)
        info = _info(engine, rid)
        assert info["worker_mode"] == "warm"
        # what the zygote had imported when it forked the run: diag's own module included
        assert "adlab.pipelines.diag" in info["preloaded"]
    finally:
        w.send_signal(signal.SIGTERM)
        assert w.wait(timeout=60) == 0
    assert not _children(w.pid)


def test_a_crashing_warm_run_fails_with_its_reason_and_the_next_runs_still_execute(engine):
    crash = _queue(engine, steps=3, crash_at=1, max_attempts=1)  # os._exit(17) inside the run
    segv = _queue(engine, steps=600, step_seconds=0.05, max_attempts=1, value=0.2)
    after = _queue(engine, steps=2, value=0.3)
    w = start_worker("--until-empty", env=LEASE)
    wait_until(lambda: get_run(engine, run_id=segv).progress_done >= 2, timeout=120)
    zygote = _zygote_of(w.pid)
    os.kill(_run_process(zygote), signal.SIGSEGV)  # what a native crash in a pipeline looks like
    assert w.wait(timeout=120) == 0, w.stderr.read()
    runs = {r.id: r for r in list_runs(engine)}
    assert runs[crash].status == "failed" and "exit code 17" in runs[crash].error
    assert runs[segv].status == "failed" and "signal 11" in runs[segv].error
    assert runs[after].status == "succeeded"
    assert {_info(engine, r)["worker_mode"] for r in (crash, segv, after)} == {"warm"}
    err = w.stderr.read()
    assert "exited unexpectedly" not in err  # one zygote served all three
    assert err.count("warm: zygote pid") >= 1 and len(set(
        line.split("zygote pid ")[1].split()[0] for line in err.splitlines()
        if "zygote pid " in line)) == 1


@pytest.mark.parametrize("everyone", [False, True], ids=["worker", "every-process"])
def test_sigterm_during_a_warm_run_releases_it_and_the_retry_has_every_result_once(engine, everyone):
    """SIGTERM to the worker (``adlab worker`` stopped), or to every process of the job at once
    (Slurm preemption / time limit): the run goes back to the queue keeping its attempt, and
    the next attempt records each (key, scope, step) once."""
    rid = _queue(engine, steps=10, step_seconds=0.1, categories=CATEGORIES, max_attempts=1)
    first = start_worker("--name", "first", env=LEASE)
    wait_until(lambda: get_run(engine, run_id=rid).progress_done >= 13, timeout=120)
    zygote = _zygote_of(first.pid)
    targets = [first.pid, zygote, _run_process(zygote)] if everyone else [first.pid]
    for pid in reversed(targets):  # the run first: the worker learns of it last
        os.kill(pid, signal.SIGTERM)
    assert first.wait(timeout=60) == 0, first.stderr.read()
    run = get_run(engine, run_id=rid)
    assert (run.status, run.attempt, run.reclaims, run.worker) == ("queued", 1, 0, None), run.error
    assert any(m.startswith("released by first (attempt 1)") for m in messages(engine, rid))
    second = start_worker("--until-empty", "--name", "second", env=LEASE)
    assert second.wait(timeout=180) == 0, second.stderr.read()
    run = get_run(engine, run_id=rid)
    assert (run.status, run.attempt) == ("succeeded", 2)
    assert_complete_once(engine, rid, CATEGORIES)


def test_a_killed_zygote_fails_its_run_with_the_reason_and_a_new_one_serves_the_next(engine):
    victim = _queue(engine, steps=600, step_seconds=0.05, max_attempts=1)
    after = _queue(engine, steps=2, value=0.3)
    w = start_worker("--until-empty", env=LEASE)
    wait_until(lambda: get_run(engine, run_id=victim).progress_done >= 2, timeout=120)
    zygote = _zygote_of(w.pid)
    run_pid = _run_process(zygote)
    os.kill(zygote, signal.SIGKILL)
    assert w.wait(timeout=120) == 0, w.stderr.read()
    assert not Path(f"/proc/{run_pid}").exists() or "Z" in Path(f"/proc/{run_pid}/stat").read_text()
    lost, nxt = get_run(engine, run_id=victim), get_run(engine, run_id=after)
    assert lost.status == "failed" and "zygote exited unexpectedly" in lost.error, lost.error
    assert nxt.status == "succeeded" and _info(engine, after)["worker_mode"] == "warm"


@pytest.mark.parametrize("how", [("--cold",), ("env",)], ids=["flag", "env"])
def test_cold_opt_out_forks_runs_from_the_worker(engine, how):
    rid = _queue(engine, steps=400, step_seconds=0.05)
    env = {**LEASE, **({"ADLAB_WORKER_MODE": "cold"} if how == ("env",) else {})}
    w = start_worker("--until-empty", *(() if how == ("env",) else how), env=env)
    try:
        wait_until(lambda: get_run(engine, run_id=rid).progress_done >= 2, timeout=120)
        [run_pid] = _children(w.pid)  # the run itself, no zygote
        assert "adlab.worker.zygote" not in _cmdline(run_pid)
        assert _info(engine, rid) == {"worker_mode": "cold"}
    finally:
        w.send_signal(signal.SIGTERM)
        assert w.wait(timeout=60) == 0


def test_an_unknown_worker_mode_is_refused_in_one_sentence(cli):
    done = cli("worker", "--once", env={"ADLAB_WORKER_MODE": "lukewarm"})
    assert done.returncode != 0
    assert "ADLAB_WORKER_MODE=lukewarm: expected warm or cold" in done.stderr


@pytest.mark.heavy
def test_anomalib_runs_start_with_torch_and_anomalib_imported(tmp_path, engine):
    from adlab.data.synth import generate_synthetic

    root = tmp_path / "synthetic"
    generate_synthetic(root, categories=["woven"], seed=1, image_size=64, n_train=6,
                       n_test_good=2, n_test_defect=2)
    raw = {"pipeline": "anomalib", "model": "padim", "image_size": 64,
           "data": {"dataset": "synthetic", "root": str(root), "categories": ["woven"]},
           "model_params": {"backbone": "resnet18", "layers": ["layer1", "layer2"],
                            "pre_trained": False},
           "train": {"max_epochs": 1, "batch_size": 4}, "inference": {"batch_size": 4},
           "export": {"parity_samples": 2}, "visuals": {"count": 1}, "grid": {"seed": [0, 1]}}
    ids = enqueue(engine, build_run_specs(raw)).created
    w = start_worker("--until-empty")
    assert w.wait(timeout=900) == 0, w.stderr.read()
    for rid in ids:
        run, info = get_run(engine, run_id=rid), _info(engine, rid)
        assert run.status == "succeeded", run.error
        assert info["worker_mode"] == "warm"
        assert {"torch", "anomalib.models", "lightning.pytorch"} <= set(info["preloaded"])


def test_what_the_zygote_imports_comes_from_the_pipelines_declared_extras():
    from adlab.pipelines import get_pipeline
    from adlab.worker.preload import modules_for

    spec = get_pipeline("anomalib")
    modules = modules_for(spec.extras, spec.runner)
    assert modules[0] == "torch" and {"torchvision", "anomalib.models", "lightning.pytorch"} <= set(modules)
    assert "onnxruntime" not in modules  # starts a thread at import: left to the run
    assert modules[-1] == "adlab.pipelines.anomalib.run"
    diag = get_pipeline("diag")
    assert modules_for(diag.extras, diag.runner) == ["adlab.pipelines.diag"]
