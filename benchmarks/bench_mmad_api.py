"""Answers per second of the ``mmad`` pipeline against a loopback OpenAI-compatible server that
takes 100 ms per request: 1 request in flight (the seed's one-at-a-time loop) vs 16.

    .venv/bin/python benchmarks/bench_mmad_api.py                  # 40 images, ~120 questions
    .venv/bin/python benchmarks/bench_mmad_api.py --images 80 --latency 0.2 --concurrency 1 8 32

The whole pipeline runs each time (sampling, image decoding and resizing, prompt building, the
official openai SDK over real HTTP, answer parsing, the partial-result store, scoring and the
export files); the ratio is against the 1-in-flight run measured in the same invocation.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "pipelines" / "mmad"))

from conftest import make_mmad  # noqa: E402
from mmad_loopback import LoopbackServer, Script  # noqa: E402

from adlab.pipelines.local import LocalRunContext  # noqa: E402
from adlab.pipelines.mmad.params import MmadParams  # noqa: E402
from adlab.pipelines.mmad.run import run  # noqa: E402


def measure(root: Path, server: LoopbackServer, concurrency: int, out: Path) -> tuple[float, int, float]:
    params = MmadParams.model_validate({
        "llm": "bench-model", "data_root": str(root),
        "protocol": "adlab",  # one request per question (official gpt4o would ask cumulatively)
        "api": {"base_url": server.url + "/v1", "provider": "openai-compatible",
                "concurrency": concurrency},
        "eval": {"few_shot": 1, "batch_mode": False}})
    ctx = LocalRunContext(params=params, output_dir=out)
    start = time.perf_counter()
    run(ctx)
    wall = time.perf_counter() - start
    return ctx.metric_value("answers_per_s"), int(ctx.metric_value("questions")), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--latency", type=float, default=0.1, help="server seconds per request")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = ap.parse_args()
    per_split = max(1, args.images // 4)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "MMAD"
        _, truth = make_mmad(root, {"DS-A": {"bottle": {"good": per_split, "crack": per_split}},
                                    "DS-B": {"can": {"good": per_split, "dent": per_split}}})
        os.environ.setdefault("OPENAI_API_KEY", "loopback")
        with LoopbackServer(Script(answers=truth, delay_s=args.latency)) as server:
            print(f"loopback server: {args.latency * 1000:.0f} ms per request, "
                  f"{len(truth)} questions, one question per request")
            baseline = None
            for n in args.concurrency:
                rate, questions, wall = measure(root, server, n, Path(tmp) / f"out{n}")
                baseline = baseline or rate
                print(f"  {n:3d} in flight: {rate:7.1f} answers/s ({questions} answers, run "
                      f"{wall:.1f} s wall)  x{rate / baseline:.1f} vs {args.concurrency[0]} in flight")
            print(f"  server saw at most {server.max_in_flight} requests at once")


if __name__ == "__main__":
    main()
