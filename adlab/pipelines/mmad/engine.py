"""Asking the questions: requests built per image, sent with N in flight (API) or in batches
(local models), every answer handed back the moment it arrives. N drops (halving) when
requests time out (:class:`~adlab.pipelines.mmad.clients.base.Throttle`).

A *job* is one request of the run's protocol (:mod:`adlab.pipelines.mmad.protocol`: GPT-4o's
cumulative requests, Gemini's split, one question per request, adlab's batch or single
requests), an image's chain of requests that depend on earlier replies (MMAD's ``--CoT`` and
``--record_history``, :class:`~adlab.pipelines.mmad.protocol.base.Chain`) or, under protocol
adlab, the chat of one image asked turn by turn (history mode). Results reach the
caller on the calling thread (``on_answers``), which stores them, so the partial-result store
is only ever written from one thread.
"""
from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

from adlab.pipelines.mmad.answers import REFUSED, answer_record, state_key
from adlab.pipelines.mmad.clients.base import Completion, RequestFailed, VisionClient
from adlab.pipelines.mmad.data import Question
from adlab.metrics.mmad_parsing import Parsed
from adlab.pipelines.mmad.parsing import AnswerReader
from adlab.pipelines.mmad.prompting import Message, build_request, follow_up, load_image
from adlab.pipelines.mmad.protocol.base import Ask, Chain, Inputs, QueryProtocol, Turn, chain_of

# What every request about one image shares (templates, query image, AD findings, knowledge).
ImageInputs = Inputs


@dataclass
class Job:
    image: str
    questions: list[Question]  # the questions this job answers
    mode: str  # "ask" (a protocol's request) | "chain" | "batch" | "single" | "history"
    inputs: ImageInputs
    # history mode: earlier turns of this image already answered (question, raw answer)
    replay: list[tuple[Question, str]] = field(default_factory=list)
    reader: AnswerReader = field(default_factory=AnswerReader)
    ask: Optional[Ask] = None  # the protocol's request, its targets and their reading
    chain: Optional[Chain] = None  # chain mode: the image's requests, asked in order
    cot_reply: Optional[str] = None  # chain mode: the stored chain-of-thought reply, if any

    def messages(self) -> list[Message]:
        if self.ask is not None:
            return self.ask.messages
        return build_request(self.inputs.templates, self.inputs.query, self.questions,
                             self.inputs.ad_text, batch=self.mode == "batch",
                             knowledge=self.inputs.knowledge, marked=self.inputs.marked)

    def answers(self, completion: Completion) -> list[dict[str, Any]]:
        """One record per question. A batch reply is kept whole in each record's ``raw`` with
        ``shared_reply`` set; a question it does not answer by itself stays unparsed (its
        export carries no answer text, so no re-scoring can read another question's letter)."""
        n = len(self.questions)
        if self.ask is not None:
            return self._ask_answers(self.ask, completion)
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

    def _ask_answers(self, ask: Ask, completion: Completion) -> list[dict[str, Any]]:
        """Records of a protocol request. A question shown with reordered options (LLaVA's
        shuffle) is stored in mmad.json's letters: ``parsed`` is the chosen option's original
        letter, ``parsed_shown`` the letter as read and ``option_order`` the original letters in
        the order shown, so exports and re-scoring compare like with like."""
        n = len(ask.targets)
        if ask.refused is not None and ask.refused(completion.text):
            readings = [Parsed(None, REFUSED)] * n
        else:
            readings = ask.read(completion.text)
        out = []
        for q, r in zip(ask.targets, readings):
            shown = ask.presented.get(q.index)
            order = option_order(q, shown) if shown is not None else None
            letter = r.letter
            if order is not None and letter is not None:
                index = ord(letter) - ord("A")
                letter = order[index] if 0 <= index < len(order) else None
            rec = answer_record(q, raw=completion.text, parsed=letter, rule=r.rule,
                                latency_s=completion.latency_s, tokens_in=completion.tokens_in / n,
                                tokens_out=completion.tokens_out / n, attempts=completion.attempts,
                                shared_reply=ask.shared, finish_reason=completion.finish_reason)
            if order is not None:
                rec["option_order"], rec["parsed_shown"] = order, r.letter
            if len(ask.listed) > 1:
                rec["listed"] = [x.index for x in ask.listed]
            out.append(rec)
        return out

    def failed(self, exc: RequestFailed) -> list[dict[str, Any]]:
        return [answer_record(q, raw=None, parsed=None, latency_s=exc.latency_s, tokens_in=0,
                              tokens_out=0, attempts=exc.attempts, error=str(exc))
                for q in self.questions]


def option_order(q: Question, shown: Question) -> str:
    """The original letters of ``q``'s options in the order ``shown`` presents them."""
    by_text: dict[str, list[str]] = {}
    for letter, text in q.options.items():
        by_text.setdefault(text, []).append(letter)
    return "".join(by_text[text].pop(0) for text in shown.options.values())


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
                                    job.inputs.ad_text, batch=False,
                                    knowledge=job.inputs.knowledge, marked=job.inputs.marked)
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


def complete(client: VisionClient, messages: Sequence[Message],
             max_tokens: Optional[int] = None) -> Completion:
    """One request; ``max_tokens`` overrides the run's answer length for this request only."""
    if max_tokens is None:
        return client.complete(messages)
    return client.complete(messages, max_tokens=max_tokens)


def run_chain(client: VisionClient, job: Job) -> list[dict]:
    """Ask an image's chain: the chain-of-thought request first (its stored reply when a
    resumed run has one), then the questions in order, each request built from the turns so
    far; answered questions are replayed from their stored replies. Each record keeps the
    chain-of-thought reply (``cot``). When the chain keeps answers, a failed request leaves
    the image's later questions unasked (their prompts would need its reply)."""
    chain = job.chain
    assert chain is not None
    done = {q.index: raw for q, raw in job.replay}
    turns: list[Turn] = []
    out: list[dict] = []
    cot = job.cot_reply
    if chain.cot is not None and cot is None:
        try:
            cot = complete(client, chain.cot.messages, chain.cot.max_tokens).text
        except RequestFailed as exc:
            failed = RequestFailed(f"chain-of-thought request failed: {exc}", exc.attempts,
                                   exc.latency_s)
            return Job(job.image, job.questions, "ask", job.inputs).failed(failed)
    if chain.cot is not None:
        turns.append(Turn(None, cot or ""))
    broken: Optional[str] = None
    for q in chain.questions:
        if q.index not in chain.todo:
            if chain.keep_answers:
                ask = chain.ask(turns, q)
                turns.append(Turn(ask.presented.get(q.index, q), done.get(q.index, "")))
            continue
        one = Job(job.image, [q], "ask", job.inputs, reader=job.reader)
        if broken is not None:
            out.extend(one.failed(RequestFailed(broken, attempts=0)))
            continue
        one.ask = ask = chain.ask(turns, q)
        try:
            completion = resend_refused(client, one, complete(client, ask.messages, ask.max_tokens))
        except RequestFailed as exc:
            out.extend(one.failed(exc))
            if chain.keep_answers:
                broken = (f"not asked: the request of question {q.index + 1} of this image "
                          f"failed and the later prompts carry its reply ({exc})")
            continue
        records = one.answers(completion)
        if chain.cot is not None:
            for rec in records:
                rec["cot"] = cot
        out.extend(records)
        if chain.keep_answers:
            turns.append(Turn(ask.presented.get(q.index, q), completion.text))
    return out


def image_inputs(root: Path, image: str, templates: Sequence[str], max_size: tuple[int, int],
                 ad_text: Optional[str]) -> ImageInputs:
    """adlab's image handling (shrink to ``max_size``); protocols use their ImagePolicy."""
    return ImageInputs(templates=[load_image(root / t, max_size) for t in templates],
                       query=load_image(root / image, max_size), ad_text=ad_text)


def make_jobs(images: Iterable[str], todo: Mapping[str, list[Question]],
              all_questions: Mapping[str, list[Question]], stored: Mapping[str, Mapping[str, Any]],
              inputs_for: Callable[[str], ImageInputs], protocol: QueryProtocol,
              history: bool = False, reader: Optional[AnswerReader] = None) -> Iterator[Job]:
    """Jobs for the questions still to ask, image by image (images are decoded lazily): the
    protocol's requests, or, in chat history mode (protocol adlab), one job per image."""
    reader = reader or getattr(protocol, "reader", None) or AnswerReader()
    for image in images:
        missing = todo.get(image) or []
        if not missing:
            continue
        inputs = inputs_for(image)
        replay = [(q, str(stored[state_key(q)].get("raw") or ""))
                  for q in all_questions[image] if q not in missing and state_key(q) in stored]
        if history:
            yield Job(image, list(missing), "history", inputs, replay, reader=reader)
            continue
        chain = chain_of(protocol, inputs, all_questions[image], {q.index for q in missing})
        if chain is not None:
            cots = [stored[state_key(q)].get("cot") for q in all_questions[image]
                    if state_key(q) in stored]
            cot = next((c for c in cots if isinstance(c, str)), None)
            yield Job(image, list(missing), "chain", inputs, replay, reader=reader, chain=chain,
                      cot_reply=cot)
            continue
        for ask in protocol.asks(inputs, all_questions[image], {q.index for q in missing}):
            yield Job(image, list(ask.targets), "ask", inputs, reader=reader, ask=ask)


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


def resend_refused(client: VisionClient, job: Job, completion: Completion) -> Completion:
    """Ask again while the protocol refuses the reply (GPT-4o's error keywords), up to its
    number of sends; attempts and latency add up."""
    ask = job.ask
    sends = 1
    while ask is not None and ask.refused is not None and sends < ask.sends \
            and ask.refused(completion.text):
        again = client.complete(job.messages())
        again.attempts += completion.attempts
        again.latency_s += completion.latency_s
        completion, sends = again, sends + 1
    return completion


def _run_job(client: VisionClient, job: Job, all_questions: Mapping[str, list[Question]]) -> list[dict]:
    if job.mode == "history":
        return run_history(client, job, all_questions[job.image])
    if job.mode == "chain":
        return run_chain(client, job)
    try:
        return job.answers(resend_refused(client, job, client.complete(job.messages())))
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
                try:
                    c = resend_refused(client, j, c)
                except RequestFailed as exc:
                    on_answers(j.failed(exc))
                    continue
                on_answers(j.answers(c))
        pending.clear()
        tick()

    for job in jobs:
        if job.mode in ("history", "chain"):
            flush()
            on_answers(run_history(client, job, all_questions[job.image]) if job.mode == "history"
                       else run_chain(client, job))
            tick()
            continue
        pending.append(job)
        if len(pending) >= max(1, client.batch_size):
            flush()
    flush()


def run_protocol(params: Any, entry: Any) -> tuple[QueryProtocol, str]:
    """The run's protocol and its label for logs (``official gpt4o``, ``adlab batch``, ...)."""
    from adlab.pipelines.mmad.protocol import protocol_for

    protocol = protocol_for(params, entry)
    ev = params.eval
    if params.protocol == "official":
        return protocol, f"official {protocol.name}"
    return protocol, "adlab " + ("history" if ev.history else "batch" if ev.batch_mode else "single")


def plan_jobs(params: Any, protocol: QueryProtocol, root: Path, data: Mapping[str, Any],
              ad_records: Mapping[str, Mapping[str, Any]], images: Iterable[str],
              todo: Mapping[str, list[Question]], all_questions: Mapping[str, list[Question]],
              stored: Mapping[str, Mapping[str, Any]]) -> Iterator[Job]:
    """The jobs of an ``mmad`` run: its protocol's requests over lazily prepared inputs."""
    from adlab.pipelines.mmad.protocol.inputs import KNOWLEDGE_FILE, InputsBuilder

    ev = params.eval
    knowledge = None
    if ev.domain_knowledge:
        knowledge = (Path(ev.domain_knowledge_path).expanduser() if ev.domain_knowledge_path
                     else root / KNOWLEDGE_FILE)
    inputs_for = InputsBuilder(root, data, protocol.images, ev.few_shot, bool(ev.similar_template),
                               ad_records, params.ad.findings, knowledge,
                               defect_shot=ev.defect_shot, seed=ev.sample_seed)
    return make_jobs(images, todo, all_questions, stored, inputs_for, protocol,
                     history=bool(ev.history) and params.protocol != "official")
