"""The anomalib parity matrix: every factory model, tiny and random-init, through the real pipeline.

    .venv/bin/python benchmarks/parity_matrix.py [--models padim,draem] [--key cpu] [--no-save]

For each model: fit (1 epoch) -> ONNX export -> parity check -> onnxruntime scoring, then the
same run with ``inference.engine: torch``. Stores the table under ``--key`` (default: ``cuda``
when the runs use a GPU, else ``cpu``) in adlab/pipelines/anomalib/parity_matrix.json, which
``adlab models --anomalib`` shows, and prints the README form. See
adlab/pipelines/anomalib/parity_matrix.py for the cases.
"""
from __future__ import annotations

import adlab  # noqa: F401  (mmap threshold before torch)

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    from adlab.pipelines.anomalib import parity_matrix as pm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(pm.MODELS),
                        help=f"comma-separated subset of {', '.join(pm.MODELS)}")
    parser.add_argument("--key", default="cpu", help="table name in the matrix file (cpu, cuda)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep runs here (default: a temp dir)")
    parser.add_argument("--no-save", action="store_true", help="print only; leave the matrix file alone")
    args = parser.parse_args()
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = sorted(set(models) - set(pm.MODELS))
    if unknown:
        print(f"--models: unknown model {unknown[0]!r}; use some of {', '.join(pm.MODELS)}", file=sys.stderr)
        return 2

    def show(row: pm.MatrixRow) -> None:
        if not args.no_save:  # each row as it comes: a long run stopped midway keeps its rows
            pm.save_table(pm.MatrixTable(device=pm.device_label(), rows=[row], versions=pm.versions(),
                                         measured_at=pm.time.strftime("%Y-%m-%d %H:%M UTC", pm.time.gmtime())),
                          args.key)
        print(f"{row.model:22s} {row.status:14s} parity {row.parity_score}/{row.parity_map} "
              f"ort {row.ort_ms_per_image} ms torch {row.torch_ms_per_image} ms "
              f"export {row.export_s} s  {row.reason[:160]}", flush=True)

    with tempfile.TemporaryDirectory(prefix="adlab-parity-") as tmp:
        workdir = args.workdir or Path(tmp)
        table = pm.measure_all(workdir, models, on_row=show)
    print(f"\n{table.device}, {table.measured_at}, {table.wall_s:.0f} s in all\n")
    print(pm.markdown_table(pm.asdict(table)))
    if not args.no_save:
        print(f"\nstored in {pm.save_table(table, args.key)} under {args.key!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
