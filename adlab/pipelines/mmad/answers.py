"""Answers: one stored record per question the moment it arrives, the seed's export files, and
the scores (adlab's MMAD scoring) turned into run metrics.

State key ``answer:<image>:<question index>`` holds::

    {"image", "index", "question", "question_type", "correct_answer", "parsed", "rule", "raw",
     "shared_reply", "finish_reason", "latency_s", "tokens_in", "tokens_out", "attempts",
     "error", "t"}

``raw`` is the reply as received, ``parsed`` the letter read from it (None when there is none:
it counts wrong and is reported) and ``rule`` the reading that produced it
(:mod:`adlab.pipelines.mmad.parsing`: ``official:last``, ``adlab:marked``, ``none``, ...).
In batch mode ``raw`` is the whole reply, shared by the image's questions (``shared_reply``);
the export then never carries that reply as a question's answer, so a question the reply did
not answer stays unparsed in re-scoring. ``finish_reason`` is the server's (``length`` = cut
at ``max_tokens``). ``error`` is set when the request failed after its retries; such a
question is asked again by a later attempt of the run. In batch mode the request's tokens are
split evenly over its questions.

Metrics (the convention reports and the TUI read): key ``accuracy`` with scope ""
for the overall MMAD average (%, the headline) and scope ``"<dataset>/<type>"`` for every cell
of the score table, including ``"<dataset>/Average"`` and ``"Average/<type>"``; the same
under ``accuracy_official`` for MMAD's own ``summary.py`` scoring (unparsed answers dropped,
its skip quirk, 0 % missing cells) with ``dropped_official``/``skipped_official`` counts;
``overkill``/``miss`` (%, scope "" and per dataset); counts ``questions``, ``answered``,
``unparseable``, ``errors``, ``truncated`` (replies cut at max_tokens), ``images``; cost ``tokens_in``, ``tokens_out``, ``latency_mean_s``,
``elapsed_s``, ``answers_per_s`` (answered questions of this attempt per second of asking).
"""
from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from adlab.pipelines.mmad.data import Question

PREFIX = "answer:"
# the rule of a reply the protocol refused every time (GPT-4o's error keywords), and of the
# answers of an image the script discards (Gemini: its second reply has the wrong number of
# letters); the script stores no answer for them, so neither does the export
REFUSED = "official:refused"
DISCARDED = "official:discarded"


def state_key(q: Question) -> str:
    return f"{PREFIX}{q.image}:{q.index}"


def parse_letter(text: Optional[str]) -> Optional[str]:
    """The strict (adlab) reading of a stored answer text."""
    from adlab.metrics.mmad import parse_answer_letter

    return parse_answer_letter(text)


def answer_record(q: Question, *, raw: Optional[str], parsed: Optional[str], latency_s: float,
                  tokens_in: float, tokens_out: float, attempts: int = 1,
                  error: Optional[str] = None, rule: Optional[str] = None,
                  shared_reply: bool = False, finish_reason: Optional[str] = None
                  ) -> dict[str, Any]:
    return {"image": q.image, "index": q.index, "question": q.text, "question_type": q.type,
            "correct_answer": q.answer, "parsed": parsed,
            "rule": rule or ("none" if parsed is None else "given"), "raw": raw,
            "shared_reply": shared_reply, "finish_reason": finish_reason,
            "latency_s": round(float(latency_s), 4), "tokens_in": tokens_in,
            "tokens_out": tokens_out, "attempts": attempts, "error": error, "t": time.time()}


def exported_answer(rec: Mapping[str, Any]) -> Optional[str]:
    """A stored answer's ``gpt_answer`` in the export: the letter; else the question's own reply
    text (MMAD's Qwen script stores it so too); never a batch reply shared with other questions."""
    if rec.get("parsed"):
        return rec["parsed"]
    if rec.get("rule") in (REFUSED, DISCARDED):  # the script stores no answer
        return None
    return None if rec.get("shared_reply") else rec.get("raw")


def is_done(record: Optional[Mapping[str, Any]]) -> bool:
    return bool(record) and record.get("error") is None


def export_records(questions: Sequence[Question], stored: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    """MMAD's answers format, in question order; a question without an answer keeps
    ``gpt_answer: null`` (counted wrong, reported), with its error beside it."""
    out = []
    for q in questions:
        rec = stored.get(state_key(q)) or {}
        entry = {"image": q.image, "question": q.text, "question_type": q.type,
                 "correct_answer": q.answer,
                 "gpt_answer": exported_answer(rec)}
        if rec.get("error") or not rec:
            entry["error"] = rec.get("error") or "not asked"
        out.append(entry)
    return out


def safe_name(text: str) -> str:
    """A model name or path as a file-name piece: ``/models/Qwen2.5-VL`` -> ``Qwen2.5-VL``."""
    last = text.rstrip("/\\").replace("\\", "/").split("/")[-1] or text
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", last)


def answers_filename(few_shot: int, llm: str, similar: bool, ad_model: Optional[str],
                     options: Sequence[str] = ()) -> str:
    """The seed's ``answers_1_shot_qwen_Similar_template_with_patchcore.json``; ``options``:
    the official scripts' name suffixes of the run's prompt options (``CoT``, ``Text_only``,
    ``Record_history``, ``2_defect_shot``), appended so differently prompted runs never share
    (or resume from) one file."""
    name = f"answers_{few_shot}_shot_{safe_name(llm)}_{'Similar' if similar else 'Random'}_template"
    if ad_model:
        name += f"_with_{safe_name(ad_model)}"
    return name + "".join(f"_{o}" for o in options) + ".json"


def option_suffixes(ev: Any) -> list[str]:
    """The answers-file suffixes of a run's official prompt options (MMAD's model-name
    suffixes ``_CoT``, ``_Text_only``, ``_{n}_defect_shot``; ``_Record_history`` is adlab's)."""
    out = []
    if getattr(ev, "cot", False):
        out.append("CoT")
    if getattr(ev, "text_only", False):
        out.append("Text_only")
    if getattr(ev, "record_history", False):
        out.append("Record_history")
    if getattr(ev, "defect_shot", 0):
        out.append(f"{ev.defect_shot}_defect_shot")
    return out


def write_exports(folder: Path, filename: str, records: list[dict], meta: dict) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    answers = folder / filename
    answers.write_text(json.dumps(records, indent=2, ensure_ascii=False))
    meta_path = folder / (filename[: -len(".json")] + ".meta.json")
    meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    return answers, meta_path


def meta_document(*, experiment_name: str, llm: str, model_id: str, ad_model: Optional[str],
                  few_shot: int, table: Mapping[str, Any], processed: int, errors: int,
                  elapsed_s: float, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The seed's ``.meta.json`` (accuracy, processed images, errors, time) plus the details."""
    return {"experiment_name": experiment_name, "llm": llm, "model_id": model_id,
            "ad_model": ad_model, "few_shot": few_shot,
            "accuracy": round(float(table.get("Average", {}).get("Average", 0.0)), 4),
            "processed": processed, "errors": errors, "elapsed_seconds": round(elapsed_s, 2),
            "timestamp": dt.datetime.now().isoformat(timespec="seconds"), **extra,
            "scores": {k: v for k, v in table.items() if k != "_summary"}}


def record_metrics(ctx: Any, table: Mapping[str, Any], key: str = "accuracy") -> None:
    """Scores -> run metrics (see the module docstring for keys and scopes); ``key`` is
    ``accuracy`` for the strict table and ``accuracy_official`` for MMAD's summary.py one."""
    from adlab.metrics.mmad import AVERAGE, SUMMARY

    for dataset, row in table.items():
        if dataset == SUMMARY:
            continue
        for qtype, value in row.items():  # every table cell, incl. <ds>/Average, Average/<type>
            ctx.metric(key, value, scope=f"{dataset}/{qtype}")
    ctx.metric(key, table.get(AVERAGE, {}).get(AVERAGE, 0.0))
    if key != "accuracy":
        summary = table.get(SUMMARY, {})
        ctx.metric("dropped_official", float(summary.get("n_dropped", 0)))
        ctx.metric("skipped_official", float(summary.get("n_skipped", 0)))
        return
    summary = table.get(SUMMARY, {})
    for rate in ("overkill", "miss"):
        for scope, value in (summary.get(rate) or {}).items():
            ctx.metric(rate, value, scope="" if scope == AVERAGE else scope)


def usage_totals(records: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    recs = [r for r in records if r]
    latencies = [float(r.get("latency_s") or 0.0) for r in recs if r.get("error") is None]
    return {"tokens_in": float(sum(float(r.get("tokens_in") or 0) for r in recs)),
            "tokens_out": float(sum(float(r.get("tokens_out") or 0) for r in recs)),
            "latency_mean_s": sum(latencies) / len(latencies) if latencies else 0.0}


def records_from_file(path: Path, questions: Sequence[Question]) -> dict[str, dict[str, Any]]:
    """An earlier answers_*.json (the seed's resume) -> state records for matching questions."""
    try:
        items = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    by_question: dict[tuple[str, str], list[dict]] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("question"), (str, dict)):
            text = item["question"]["text"] if isinstance(item["question"], dict) else item["question"]
            by_question.setdefault((str(item.get("image")), str(text).strip()), []).append(item)
    out: dict[str, dict[str, Any]] = {}
    for q in questions:
        found = by_question.get((q.image, q.text))
        if found and found[0].get("gpt_answer") is not None and not found[0].get("error"):
            raw = str(found.pop(0)["gpt_answer"])
            rec = answer_record(q, raw=raw, parsed=parse_letter(raw), latency_s=0.0, tokens_in=0,
                                tokens_out=0, attempts=0)
            rec["source"] = str(path)
            out[state_key(q)] = rec
    return out
