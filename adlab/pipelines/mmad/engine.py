"""Asking the questions: requests built per image, sent with N in flight (API) or in batches
(local models), every answer handed back the moment it arrives. N drops (halving) when
requests time out (:class:`~adlab.pipelines.mmad.clients.base.Throttle`).

A *job* is one unit sent to the model: all questions of an image (batch mode), one question
(single mode), or the chat of one image asked turn by turn (history mode). Results reach the
caller on the calling thread (``on_answers``), which stores them, so the partial-result store
is only ever written from one thread.
"""
from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

from adlab.pipelines.mmad.answers import answer_record, state_key
from adlab.pipelines.mmad.clients.base import Completion, RequestFailed, VisionClient
from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.parsing import AnswerReader
from adlab.pipelines.mmad.prompting import (ImagePart, Message, build_request, follow_up,
                                            load_image)


@dataclass
class ImageInputs:
    """What every request about one image shares: decoded template and query images, AD text."""

    templates: list[ImagePart]
    query: ImagePart
    ad_text: Optional[str]


@dataclass
class Job:
    image: str
    questions: list[Question]  # the questions this job answers
    mode: str  # "batch" | "single" | "history"
    inputs: ImageInputs
    # history mode: earlier turns of this image already answered (question, raw answer)
    replay: list[tuple[Question, str]] = field(default_factory=list)
    reader: AnswerReader = field(default_factory=AnswerReader)

    def messages(self) -> list[Message]:
        return build_request(self.inputs.templates, self.inputs.query, self.questions,
                             self.inputs.ad_text, batch=self.mode == "batch")

    def answers(self, completion: Completion) -> list[dict[str, Any]]:
        """One record per question. A batch reply is kept whole in each record's ``raw`` with
        ``shared_reply`` set; a question it does not answer by itself stays unparsed (its
        export carries no answer text, so no re-scoring can read another question's letter)."""
        n = len(self.questions)
        if self.mode == "batch":
            readings = self.reader.batch(completion.text, self.questions)
            return [answer_record(q, raw=completion.text, parsed=r.letter, rule=r.rule,
                                  latency_s=completion.latency_s, tokens_in=completion.tokens_in / n,
                                  tokens_out=completion.tokens_out / n, attempts=completion.attempts,
                                  shared_reply=n > 1, finish_reason=completion.finish_reason)
                    for q, r in zip(self.questions, readings)]
        [q] = self.questions
        reading = self.reader.single(completion.text, q)
        return [answer_record(q, raw=completion.text, parsed=reading.letter, rule=reading.rule,
                              latency_s=completion.latency_s, tokens_in=completion.tokens_in,
                              tokens_out=completion.tokens_out, attempts=completion.attempts,
                              finish_reason=completion.finish_reason)]

    def failed(self, exc: RequestFailed) -> list[dict[str, Any]]:
        return [answer_record(q, raw=None, parsed=None, latency_s=exc.latency_s, tokens_in=0,
                              tokens_out=0, attempts=exc.attempts, error=str(exc))
                for q in self.questions]


def run_history(client: VisionClient, job: Job, all_questions: Sequence[Question]) -> list[dict]:
    """Ask an image's questions turn by turn, the model seeing its earlier answers (replayed
    from stored answers when a resumed run already has them)."""
    done = {q.index: raw for q, raw in job.replay}
    todo = {q.index for q in job.questions}
    out: list[dict] = []
    history: list[Message] = []
    last_answer = ""
    for q in all_questions:
        if q.index not in todo and q.index not in done:
            continue
        if not history:
            history = build_request(job.inputs.templates, job.inputs.query, [q],
                                    job.inputs.ad_text, batch=False)
        else:
            history = follow_up(history, last_answer, q)
        if q.index in done:
            last_answer = done[q.index]
            continue
        one = Job(job.image, [q], "single", job.inputs, reader=job.reader)
        try:
            completion = client.complete(history)
        except RequestFailed as exc:
            out.extend(one.failed(exc))
            last_answer = ""
            continue
        out.extend(one.answers(completion))
        last_answer = completion.text
    return out


def image_inputs(root: Path, image: str, templates: Sequence[str], max_size: tuple[int, int],
                 ad_text: Optional[str]) -> ImageInputs:
    return ImageInputs(templates=[load_image(root / t, max_size) for t in templates],
                       query=load_image(root / image, max_size), ad_text=ad_text)


def make_jobs(images: Iterable[str], todo: Mapping[str, list[Question]],
              all_questions: Mapping[str, list[Question]], stored: Mapping[str, Mapping[str, Any]],
              inputs_for: Callable[[str], ImageInputs], mode: str,
              reader: Optional[AnswerReader] = None) -> Iterator[Job]:
    """Jobs for the questions still to ask, image by image; images are decoded lazily."""
    reader = reader or AnswerReader()
    for image in images:
        missing = todo.get(image) or []
        if not missing:
            continue
        inputs = inputs_for(image)
        if mode == "batch":
            yield Job(image, list(missing), mode, inputs, reader=reader)
        elif mode == "history":
            replay = [(q, str(stored[state_key(q)].get("raw") or ""))
                      for q in all_questions[image] if q not in missing and state_key(q) in stored]
            yield Job(image, list(missing), mode, inputs, replay, reader=reader)
        else:
            for q in missing:
                yield Job(image, [q], mode, inputs, reader=reader)


def execute(jobs: Iterator[Job], client: VisionClient, all_questions: Mapping[str, list[Question]],
            on_answers: Callable[[list[dict]], None], tick: Callable[[], None]) -> None:
    """Run every job; ``on_answers`` gets each job's answers on this thread as they arrive;
    ``tick`` runs between results (cancellation, error budget) and may raise to stop."""
    if client.concurrency <= 1:
        _execute_serial(jobs, client, all_questions, on_answers, tick)
        return
    pool = ThreadPoolExecutor(max_workers=client.concurrency, thread_name_prefix="mmad-request")
    in_flight: dict[Future, Job] = {}
    exhausted = False
    throttle = getattr(client, "throttle", None)  # API clients: shrinks when requests time out

    def limit() -> int:
        return min(client.concurrency, throttle.limit) if throttle is not None else client.concurrency

    try:
        while True:
            while not exhausted and len(in_flight) < limit():
                job = next(jobs, None)
                if job is None:
                    exhausted = True
                    break
                in_flight[pool.submit(_run_job, client, job, all_questions)] = job
            if not in_flight:
                break
            done, _ = wait(in_flight, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                in_flight.pop(future)
                on_answers(future.result())
            tick()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _run_job(client: VisionClient, job: Job, all_questions: Mapping[str, list[Question]]) -> list[dict]:
    if job.mode == "history":
        return run_history(client, job, all_questions[job.image])
    try:
        return job.answers(client.complete(job.messages()))
    except RequestFailed as exc:
        return job.failed(exc)


def _execute_serial(jobs: Iterator[Job], client: VisionClient,
                    all_questions: Mapping[str, list[Question]],
                    on_answers: Callable[[list[dict]], None], tick: Callable[[], None]) -> None:
    """One request at a time, or ``client.batch_size`` prompts per generate call (local)."""
    pending: list[Job] = []

    def flush() -> None:
        if not pending:
            return
        start = time.perf_counter()
        try:
            completions = client.complete_batch([j.messages() for j in pending])
        except RequestFailed as exc:
            for j in pending:
                on_answers(j.failed(exc))
        else:
            share = (time.perf_counter() - start) / len(pending)
            for j, c in zip(pending, completions):
                c.latency_s = share if len(pending) > 1 else c.latency_s
                on_answers(j.answers(c))
        pending.clear()
        tick()

    for job in jobs:
        if job.mode == "history":
            flush()
            on_answers(run_history(client, job, all_questions[job.image]))
            tick()
            continue
        pending.append(job)
        if len(pending) >= max(1, client.batch_size):
            flush()
    flush()
