"""The ``mmad`` runner: sample -> AD findings -> ask the VLM (stored answer by answer) -> score.

Outputs (under ``ctx.output_dir``, also copied to ``output_dir`` when set):
``sampled_mmad.json`` (artifact ``subset``), ``answers_<k>_shot_<llm>_<Similar|Random>_template
[_with_<ad>].json`` (``answers``) and its ``.meta.json`` (``answers_meta``). Metrics: see
:mod:`adlab.pipelines.mmad.answers`. A re-claimed or retried run asks only the questions without
a stored answer; questions whose request failed after retries are errors, and the run fails
only when they exceed ``eval.error_budget``.
"""
from __future__ import annotations

import math
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Optional

from adlab.core.vocabulary import ArtifactKind
from adlab.errors import PipelineError
from adlab.pipelines.base import RunContext
from adlab.pipelines.mmad import answers as ans
from adlab.pipelines.mmad.ad_predict import data_paths
from adlab.pipelines.mmad.data import (Question, load_mmad, questions_of, sampled_file,
                                       select_images)
from adlab.pipelines.mmad.params import MmadParams
from adlab.pipelines.mmad.registry import resolve_llm


def _ad_records(ctx: RunContext, p: MmadParams, images: list[str]) -> dict[str, Any]:
    from adlab.pipelines.mmad.ad_findings import match_images, predictions_source, read_predictions

    if p.ad_model is None:
        return {}
    source = predictions_source(p.ad.output, ctx.inputs)
    found = match_images(read_predictions(source), images)
    missing = len(images) - len(found)
    ctx.log(f"AD findings from {source}: {len(found)} of {len(images)} image(s)"
            + (f"; {missing} without findings are asked without them" if missing else ""),
            level="warning" if missing else "info")
    ctx.set_info("ad_predictions", {"path": str(source), "matched": len(found), "missing": missing})
    ctx.metric("ad_missing", float(missing))
    return dict(found)


class Progress:
    """Counts answers, watches the error budget, reports progress."""

    def __init__(self, ctx: RunContext, total: int, done: int, budget: float) -> None:
        self.ctx, self.total, self.done = ctx, total, done
        self.errors = 0
        self.allowed = math.floor(budget * total)
        self.last_error: Optional[str] = None
        self._retries: list[str] = []  # appended from request threads, reported by tick()
        self._retry_lock = threading.Lock()

    def retried(self, message: str) -> None:
        with self._retry_lock:
            self._retries.append(message)

    def report_retries(self) -> None:
        """One log line per wave of retries seen since the last report (on the run's thread)."""
        with self._retry_lock:
            wave, self._retries = self._retries, []
        if wave:
            cuts = [m.rsplit("; ", 1)[-1] for m in wave if "requests in flight cut to" in m]
            self.ctx.log(f"{len(wave)} request(s) retried; latest: {wave[-1]}"
                         + (f"; {cuts[-1]}" if cuts and cuts[-1] not in wave[-1] else ""),
                         level="warning")

    def add(self, records: list[dict[str, Any]]) -> None:
        for rec in records:
            self.ctx.state.put(ans.PREFIX + f"{rec['image']}:{rec['index']}", rec)
            if rec.get("error"):
                self.errors += 1
                self.last_error = rec["error"]
            else:
                self.done += 1
        self.ctx.progress(self.done, self.total,
                          f"{self.done}/{self.total} answered, {self.errors} error(s)"
                          if self.errors else None)

    def tick(self) -> None:
        self.report_retries()
        self.ctx.check_cancelled()
        if self.errors > self.allowed:
            raise PipelineError(
                f"{self.errors} of {self.total} questions failed after retries, more than the error "
                f"budget allows ({self.allowed}, eval.error_budget); last error: {self.last_error}")


def run(ctx: RunContext) -> None:
    from adlab.pipelines.mmad.clients import make_client
    from adlab.pipelines.mmad.engine import execute, plan_jobs, run_protocol

    p = ctx.params
    assert isinstance(p, MmadParams)
    started = time.perf_counter()
    ev = p.eval
    root, json_path = data_paths(p.data_root, p.mmad_json)
    data = load_mmad(json_path)
    subset = select_images(data, per_folder=ev.sample_per_folder, seed=ev.sample_seed,
                           max_images=ev.max_images)
    for line in subset.summary_lines():
        ctx.log(line)
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    ctx.artifact(sampled_file(data, subset.images, ctx.output_dir / "sampled_mmad.json"),
                 ArtifactKind.SUBSET)
    ctx.set_info("subset", {"sha256": subset.sha256, "images": len(subset.images),
                            "normal": subset.normal, "anomaly": subset.anomaly, "total": subset.total})
    per_image = {image: questions_of(image, data[image]) for image in subset.images}
    questions = [q for qs in per_image.values() for q in qs]
    ad_records = _ad_records(ctx, p, subset.images)

    stored = ctx.state.items(ans.PREFIX)
    if ev.resume and p.output_dir and not stored:
        earlier = Path(p.output_dir).expanduser() / ans.answers_filename(
            ev.few_shot, p.llm, bool(ev.similar_template), p.ad_model, ans.option_suffixes(ev))
        if earlier.is_file():
            for key, rec in ans.records_from_file(earlier, questions).items():
                ctx.state.put(key, rec)
            stored = ctx.state.items(ans.PREFIX)
            ctx.log(f"resume: {len(stored)} answer(s) taken from {earlier}")
    todo: dict[str, list[Question]] = {}
    for q in questions:
        if not ans.is_done(stored.get(ans.state_key(q))):
            todo.setdefault(q.image, []).append(q)
    n_todo = sum(len(v) for v in todo.values())
    if n_todo < len(questions):
        ctx.log(f"resuming: {len(questions) - n_todo} of {len(questions)} answers already stored; "
                f"asking the {n_todo} missing")

    entry = resolve_llm(p.llm, provider=p.api.provider, base_url=p.api.base_url)
    protocol, mode = run_protocol(p, entry)
    ctx.set_info("llm", {"name": entry.name, "provider": entry.provider,
                         "model_id": p.api.model_id or entry.model_id, "base_url": entry.base_url,
                         "mode": mode})
    progress = Progress(ctx, len(questions), len(questions) - n_todo, ev.error_budget)
    ctx.progress(progress.done, len(questions))
    ask_started = time.perf_counter()
    if n_todo:
        client = make_client(entry, p, ctx.device, on_retry=progress.retried)
        ctx.log(f"asking {n_todo} question(s) of {len(todo)} image(s) with {entry.name} "
                f"({entry.provider}, {mode} mode, {client.concurrency} in flight"
                f"{f', batches of {client.batch_size}' if client.batch_size > 1 else ''})")

        try:
            execute(plan_jobs(p, protocol, root, data, ad_records, subset.images, todo, per_image,
                              stored),
                    client, per_image, progress.add, progress.tick)
        finally:
            client.close()
    ask_s = time.perf_counter() - ask_started
    progress.tick()
    from adlab.pipelines.mmad.protocol.base import finalize

    for key, rec in finalize(protocol, ctx.state.items(ans.PREFIX)).items():
        ctx.state.put(key, rec)
    _finish(ctx, p, questions, subset, entry.model_id if not p.api.model_id else p.api.model_id,
            time.perf_counter() - started, ask_s, n_todo)


def _finish(ctx: RunContext, p: MmadParams, questions: list[Question], subset: Any, model_id: str,
            elapsed_s: float, ask_s: float, asked: int) -> None:
    from adlab.metrics.mmad import score_answers

    stored = ctx.state.items(ans.PREFIX)
    records = ans.export_records(questions, stored)
    table = score_answers(records)
    official = score_answers(records, protocol="official")
    ans.record_metrics(ctx, table)
    ans.record_metrics(ctx, official, key="accuracy_official")
    summary = table["_summary"]
    errors = sum(1 for r in records if r.get("error"))
    usage = ans.usage_totals(stored.values())
    truncated = sum(1 for r in stored.values() if r.get("finish_reason") == "length")
    counts = {"questions": len(questions), "answered": len(questions) - errors,
              "unparseable": summary["n_unparseable"], "errors": errors,
              "truncated": truncated, "images": len(subset.images)}
    answered_now = max(0, asked - errors)  # this attempt's questions that got an answer
    if truncated:
        ctx.log(f"{truncated} reply(ies) were cut at eval.max_tokens ({p.eval.max_tokens}); "
                "raise it if their answers are unparseable", level="warning")
    for key, value in {**counts, **usage, "elapsed_s": elapsed_s,
                       "answers_per_s": answered_now / ask_s if answered_now and ask_s > 0
                       else 0.0}.items():
        ctx.metric(key, float(value))
    if counts["unparseable"]:
        ctx.log(f"{counts['unparseable']} answer(s) had no choice letter A-E and count as wrong",
                level="warning")
    ev = p.eval
    filename = ans.answers_filename(ev.few_shot, p.llm, bool(ev.similar_template), p.ad_model,
                                    ans.option_suffixes(ev))
    meta = ans.meta_document(
        experiment_name=ctx.name, llm=p.llm, model_id=model_id, ad_model=p.ad_model,
        few_shot=ev.few_shot, table=table, processed=len(subset.images), errors=errors,
        elapsed_s=elapsed_s,
        extra={"questions": len(questions), "unparseable": counts["unparseable"],
               "protocol": p.protocol, "truncated": truncated,
               "accuracy_official": round(float(official["Average"].get("Average", 0.0)), 4),
               "similar_template": ev.similar_template, "batch_mode": ev.batch_mode,
               "history": ev.history, "cot": ev.cot, "text_only": ev.text_only,
               "record_history": ev.record_history, "defect_shot": ev.defect_shot,
               "subset_sha256": subset.sha256, "run_id": ctx.run_id,
               **{k: round(v, 4) for k, v in usage.items()}})
    answers_path, meta_path = ans.write_exports(ctx.output_dir, filename, records, meta)
    ctx.artifact(answers_path, ArtifactKind.ANSWERS)
    ctx.artifact(meta_path, ArtifactKind.ANSWERS_META)
    if p.output_dir:
        extra = Path(p.output_dir).expanduser()
        extra.mkdir(parents=True, exist_ok=True)
        for path in (answers_path, meta_path):
            shutil.copy2(path, extra / path.name)
    ctx.log(f"accuracy {meta['accuracy']:.2f}% over {len(questions)} question(s) of "
            f"{len(subset.images)} image(s); {errors} error(s), {counts['unparseable']} unparseable")
