"""``adlab models``: the VLM names the ``mmad`` pipeline knows (the seed's ``--list-models``);
``adlab models --anomalib``: the anomalib models and their stored ONNX parity matrix.

Besides these names, ``llm:`` takes any Hugging Face model id or local folder, and any
OpenAI-compatible endpoint (``vllm:<model>``, ``ollama:<model>``, ``lmstudio:<model>``, or any
name with ``api.base_url``).
"""
from __future__ import annotations

import typer

from adlab.cli._common import JsonOption, emit_json, info, out_console


AnomalibOption = typer.Option(
    False, "--anomalib",
    help="List the anomalib models with their parity matrix (export ok, max ONNX/torch error, "
         "ms/image with onnxruntime and torch, export seconds), as measured by "
         "benchmarks/parity_matrix.py.")


def anomalib_models(as_json: bool) -> None:
    """The anomalib model registry joined with the stored parity matrix (no torch import)."""
    from adlab.pipelines.anomalib.model_params import MODEL_REGISTRY
    from adlab.pipelines.anomalib.parity_matrix import MATRIX_FILE, apart_notes, load_matrix

    matrix = load_matrix() or {"tables": {}}
    tables = matrix.get("tables", {})
    if as_json:
        emit_json({"models": [{"name": m.name, "class_name": m.class_name, "trainable": m.trainable,
                               "weights": m.weights} for m in MODEL_REGISTRY.values()],
                   "parity_matrix": tables, "matrix_file": str(MATRIX_FILE)})
        return
    from rich.table import Table

    def num(value: float | None, digits: str) -> str:
        return "—" if value is None else format(value, digits)

    if not tables:
        info(f"no parity matrix stored yet ({MATRIX_FILE}); run benchmarks/parity_matrix.py")
        tables = {"not measured": {"rows": [], "device": "—", "measured_at": "—", "setup": "—",
                                   "versions": {}}}
    for key, table in tables.items():
        rows = {r["model"]: r for r in table["rows"]}
        grid = Table("model", "class", "weights", "export ok", "parity score", "parity map",
                     "ort ms/img", "torch ms/img", "export s", "status",
                     title=f"Parity matrix ({key}): {table['device']}, {table['measured_at']}",
                     title_justify="left")
        for m in MODEL_REGISTRY.values():
            r = rows.get(m.name)
            if r is None:
                grid.add_row(m.name, m.class_name, m.weights or "none", *["—"] * 6, "not measured")
                continue
            status = r["status"] + (f": {r['reason'][:100]}" if r["reason"] else "")
            grid.add_row(m.name, m.class_name, m.weights or "none",
                         "yes" if r["export_ok"] else "no", num(r["parity_score"], ".1e"),
                         num(r["parity_map"], ".1e"), num(r["ort_ms_per_image"], ".1f"),
                         num(r["torch_ms_per_image"], ".1f"), num(r["export_s"], ".1f"), status)
        out_console.print(grid)
        out_console.print(f"Setup: {table['setup']}; versions: "
                          + ", ".join(f"{k} {v}" for k, v in table["versions"].items()), markup=False)
        for note in apart_notes(table):
            out_console.print(f"Note: {note}.", markup=False)
    cases = {r["model"]: r["note"] for t in tables.values() for r in t["rows"] if r.get("note")}
    for model, note in cases.items():  # what each tiny case measured (weights, architecture)
        out_console.print(f"Case {model}: {note}.", markup=False)
    info(f"{len(MODEL_REGISTRY)} anomalib model(s); other anomalib image model classes pass "
         f"through by class name (not in the matrix)")


def models_command(as_json: bool = JsonOption, anomalib: bool = AnomalibOption) -> None:
    """List the registered VLMs (API and local Hugging Face models), or with --anomalib the
    anomalib models and their ONNX parity matrix."""
    if anomalib:
        anomalib_models(as_json)
        return
    from adlab.pipelines.mmad.registry import COMPATIBLE_PREFIXES, list_models

    entries = list_models()
    if as_json:
        emit_json({
            "models": [{"name": e.name, "kind": e.kind, "provider": e.provider, "model_id": e.model_id,
                        "description": e.description, "defaults": e.defaults,
                        "key_env": list(e.key_env), "note": e.note,
                        "family": e.family} for e in entries],
            "openai_compatible_prefixes": COMPATIBLE_PREFIXES,
            "also": "any Hugging Face model id or local folder; any OpenAI-compatible endpoint "
                    "via api.base_url",
        })
        return
    from rich.table import Table

    for kind, title in (("api", "API models"), ("local", "Local models (Hugging Face)")):
        table = Table("name", "provider", "model id", "MMAD script", "defaults", "key from",
                      title=title, title_justify="left")
        for e in entries:
            if e.kind == kind:
                defaults = ", ".join(f"{k}={v}" for k, v in e.defaults.items())
                table.add_row(e.name, e.provider, e.model_id, e.family, defaults,
                              " or ".join(e.key_env))
        out_console.print(table)
    for e in entries:
        if e.note:
            out_console.print(f"Note on {e.name}: {e.note}.", markup=False)
    out_console.print("Also: any Hugging Face model id or local folder (llm: Qwen/Qwen2.5-VL-3B-Instruct), "
                      "and OpenAI-compatible servers: " + ", ".join(
                          f"{p}:<model>" for p in COMPATIBLE_PREFIXES) + " or api.base_url.",
                      markup=False)
    info(f"{len(entries)} registered model(s)")


def register(app: typer.Typer) -> None:
    app.command("models")(models_command)
