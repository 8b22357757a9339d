"""The parity matrix: every model of the factory through fit -> ONNX -> parity -> onnxruntime.

Each registered model gets a *tiny case*: a few-image, one-epoch config at a small image size
with random initialisation, runnable offline. Models that need pretrained weights get a
random state dict of the right architecture written to a file and passed as ``weights:``,
so the real local-weights loading code runs (the numbers say nothing about accuracy, only
about whether the exported graph reproduces the torch model and how fast each engine is).

:func:`measure_model` runs the real pipeline twice on the same data and seed: with
``inference.engine: onnxruntime`` (export seconds, parity error, onnxruntime ms/image) and
with ``inference.engine: torch`` (torch ms/image, and proof the fallback works). Rows are
stored in ``parity_matrix.json`` beside this file, one table per device, and shown by
``adlab models --anomalib``. The per-model tests build the same cases, so the matrix and the
tests cannot drift apart.
"""
from __future__ import annotations

import json
import os
import platform
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from adlab.errors import AdlabError
from adlab.pipelines.anomalib.model_params import MODEL_REGISTRY

MATRIX_FILE = Path(__file__).with_name("parity_matrix.json")
MATRIX_FORMAT = 1
MODELS: tuple[str, ...] = tuple(MODEL_REGISTRY)

# Tiny-case data: one synthetic category, small and fast.
DATA_IMAGE_SIZE = 64
N_TRAIN, N_TEST_GOOD, N_TEST_DEFECT = 8, 2, 4

_DINO_ENCODER = "vit_small_patch14_reg4_dinov2"
_CLIP_MODEL, _CLIP_TAG = "ViT-B-16-plus-240", "laion400m_e31"


@dataclass(frozen=True)
class TinyCase:
    """What a model needs to run tiny and offline: params overrides and a weights maker."""

    model: str
    model_params: dict[str, Any]
    image_size: int = 64
    batch_size: int = 4
    infer_batch: int = 4
    weights: Callable[[Path], Path] | None = None  # writes a random weights file into a folder
    note: str = ""


def _random_timm(name: str) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        import timm
        import torch

        path = folder / f"random_{name}.pth"
        if not path.is_file():
            torch.save(timm.create_model(name, pretrained=False).state_dict(), path)
        return path
    return write


def _random_efficientad_teacher(folder: Path) -> Path:
    import torch
    from anomalib.models.image.efficient_ad.torch_model import SmallPatchDescriptionNetwork

    path = folder / "random_pretrained_teacher_small.pth"
    if not path.is_file():
        torch.save(SmallPatchDescriptionNetwork(out_channels=384).state_dict(), path)
    return path


def _random_clip(folder: Path) -> Path:
    import open_clip
    import torch

    path = folder / f"random_{_CLIP_MODEL}.pt"
    if not path.is_file():
        torch.save(open_clip.create_model(_CLIP_MODEL, pretrained=None).state_dict(), path)
    return path


def _texture_dir() -> str:
    from adlab.data.synth.texture_folder import texture_folder

    return str(texture_folder(per_material=4, size=64))


def tiny_cases() -> dict[str, TinyCase]:
    """One case per registered model (texture folders are created on first use)."""
    cases = [
        TinyCase("patchcore", {"backbone": "resnet18", "layers": ["layer2", "layer3"],
                               "pre_trained": False, "coreset_sampling_ratio": 0.5}),
        TinyCase("padim", {"backbone": "resnet18", "pre_trained": False}),
        TinyCase("fastflow", {"backbone": "resnet18", "pre_trained": False, "flow_steps": 1}),
        TinyCase("draem", {"anomaly_source": "synthetic"}),
        TinyCase("efficient_ad", {"model_size": "small", "imagenet_dir": _texture_dir()},
                 image_size=256, batch_size=1, infer_batch=2, weights=_random_efficientad_teacher,
                 note="random teacher; adlab textures as its ImageNet folder; its autoencoder "
                      "needs >= 256 px"),
        TinyCase("stfpm", {"backbone": "resnet18"}, weights=_random_timm("resnet18"),
                 note="random resnet18 teacher file"),
        TinyCase("reverse_distillation", {"backbone": "resnet18", "pre_trained": False}),
        TinyCase("dinomaly", {"encoder_name": _DINO_ENCODER}, image_size=56,
                 weights=_random_timm(_DINO_ENCODER), note=f"random {_DINO_ENCODER} file"),
        TinyCase("winclip", {"class_name": "texture"}, image_size=240, infer_batch=2,
                 weights=_random_clip,
                 note=f"random {_CLIP_MODEL} open_clip file (anomalib's fixed WinCLIP backbone, "
                      f"208 M parameters); zero-shot, class name 'texture'; input fixed at 240 px"),
    ]
    return {c.model: c for c in cases}


def make_data(root: Path) -> Path:
    """The tiny synthetic dataset the cases run on (``adlab data synth``'s generator)."""
    from adlab.data.synth import generate_synthetic

    dataset = root / "synthetic"
    if not dataset.is_dir():
        generate_synthetic(dataset, categories=["woven"], seed=0, image_size=DATA_IMAGE_SIZE,
                           n_train=N_TRAIN, n_test_good=N_TEST_GOOD, n_test_defect=N_TEST_DEFECT)
    return dataset


def tiny_config(model: str, data_root: Path, weights_dir: Path, *,
                engine: str = "onnxruntime") -> dict[str, Any]:
    """The run config of ``model``'s tiny case (writes its random weights file if needed)."""
    case = tiny_cases()[model]
    weights_dir.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "model": model,
        "model_params": dict(case.model_params),
        "data": {"dataset": "synthetic", "root": str(data_root), "categories": "all"},
        "image_size": case.image_size,
        "train": {"max_epochs": 1, "batch_size": case.batch_size},
        "inference": {"batch_size": case.infer_batch, "engine": engine},
        "export": {"parity_samples": 2},
        "visuals": {"count": 0},
    }
    if case.weights is not None:
        config["weights"] = str(case.weights(weights_dir))
    return config


def run_tiny(config: dict[str, Any], out: Path) -> Any:
    """Run the real ``anomalib`` pipeline on ``config`` in-process; returns its LocalRunContext."""
    from adlab.pipelines import get_pipeline
    from adlab.pipelines.anomalib.params import AnomalibParams
    from adlab.pipelines.local import LocalRunContext

    ctx = LocalRunContext(params=AnomalibParams.model_validate(config), output_dir=out)
    get_pipeline("anomalib").load_runner()(ctx)
    return ctx


@dataclass
class MatrixRow:
    model: str
    status: str  # ok | export failed | parity failed | needs weights | failed
    export_ok: bool
    parity_score: float | None = None  # max |onnx - torch| over the parity images
    parity_map: float | None = None
    ort_ms_per_image: float | None = None
    torch_ms_per_image: float | None = None
    export_s: float | None = None
    fit_s: float | None = None
    onnx_mb: float | None = None
    image_size: int = 64
    weights: str = "random-init"
    reason: str = ""
    note: str = ""
    load: list[float] = field(default_factory=list)  # [min, max] 1-min load average while measured
    # Set by save_table when the row was measured apart from the run its table header describes
    # (a partial re-run, possibly on another machine): where, when, and versions that differ.
    device: str = ""
    measured_at: str = ""
    versions: dict[str, str] = field(default_factory=dict)


@contextmanager
def _load_sampler(every_s: float = 10.0) -> Iterator[list[float]]:
    """Sample the 1-min load average while the block runs; yields ``[min, max]`` (filled on exit)."""
    samples = [os.getloadavg()[0]]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every_s):
            samples.append(os.getloadavg()[0])

    thread = threading.Thread(target=sample, name="load-sampler", daemon=True)
    thread.start()
    span: list[float] = []
    try:
        yield span
    finally:
        stop.set()
        thread.join()
        samples.append(os.getloadavg()[0])
        span[:] = [round(min(samples), 1), round(max(samples), 1)]


def _status_of(message: str) -> str:
    if "ONNX export" in message:
        return "export failed"
    if "parity" in message:
        return "parity failed"
    if "not available locally" in message:
        return "needs weights"
    if "not installed" in message or "No module named" in message:
        return "needs package"
    return "failed"


def _metric(ctx: Any, key: str, scope: str) -> float | None:
    try:
        return float(ctx.metric_value(key, scope))
    except (KeyError, ValueError):
        return None


def measure_model(model: str, workdir: Path) -> MatrixRow:
    """Both engines on the tiny case; a failure becomes the row's status and reason."""
    with _load_sampler() as load:
        row = _measure_model(model, workdir)
    row.load = load
    return row


def _measure_model(model: str, workdir: Path) -> MatrixRow:
    case = tiny_cases()[model]
    data_root = make_data(workdir / "data")
    weights_dir = workdir / "weights"
    row = MatrixRow(model=model, status="ok", export_ok=True, image_size=case.image_size,
                    note=case.note)
    try:
        ctx = run_tiny(tiny_config(model, data_root, weights_dir), workdir / model / "onnxruntime")
        parity = ctx.info["parity"]["woven"]
        row.parity_score, row.parity_map = parity["max_abs_score"], parity["max_abs_map"]
        row.ort_ms_per_image = _metric(ctx, "infer_ms_per_image", "woven")
        row.export_s = _metric(ctx, "export_s", "woven")
        row.fit_s = _metric(ctx, "fit_s", "woven")
        row.onnx_mb = _metric(ctx, "export_mb", "woven")
        row.weights = ctx.info["weights"]["source"]
    except Exception as exc:  # noqa: BLE001 - any failure is the row's finding
        message = str(exc) if isinstance(exc, AdlabError) else f"{type(exc).__name__}: {exc}"
        row.status, row.reason = _status_of(message), message[:400]
        row.export_ok = row.status == "parity failed"  # exported, but not faithfully
    if row.status in ("needs weights", "needs package", "failed"):
        return row
    try:
        ctx = run_tiny(tiny_config(model, data_root, weights_dir, engine="torch"),
                       workdir / model / "torch")
        row.torch_ms_per_image = _metric(ctx, "infer_ms_per_image", "woven")
    except Exception as exc:  # noqa: BLE001
        row.reason = ((row.reason + " | " if row.reason else "")
                      + f"torch engine: {type(exc).__name__}: {str(exc)[:300]}")
    return row


def device_label() -> str:
    """``cpu (<model name>, N cores)`` or the CUDA device name."""
    import os

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu ({cpu}, {os.cpu_count()} cores)"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("anomalib", "torch", "onnxruntime", "onnx", "timm", "open_clip_torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


@dataclass
class MatrixTable:
    device: str
    rows: list[MatrixRow]
    versions: dict[str, str] = field(default_factory=dict)
    measured_at: str = ""
    wall_s: float = 0.0
    setup: str = (f"one synthetic category, {N_TRAIN} train / {N_TEST_GOOD + N_TEST_DEFECT} test "
                  f"images, 1 epoch, random init, inference batch 4 (EfficientAD, WinCLIP: 2)")


def measure_all(workdir: Path, models: tuple[str, ...] = MODELS,
                on_row: Callable[[MatrixRow], None] | None = None) -> MatrixTable:
    start = time.perf_counter()
    rows = []
    for model in models:
        row = measure_model(model, workdir)
        rows.append(row)
        if on_row:
            on_row(row)
    return MatrixTable(device=device_label(), rows=rows, versions=versions(),
                       measured_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       wall_s=time.perf_counter() - start)


def save_table(table: MatrixTable, key: str, path: Path = MATRIX_FILE) -> Path:
    """Store ``table`` under ``key`` ("cpu", "cuda") in the matrix file, keeping other keys;
    rows of models not measured this time stay (a partial re-run replaces only its models).

    A partial re-run keeps the stored header (device, date, versions, setup: they describe the
    rows it keeps) and stamps its own rows with its device, date and the versions that differ,
    so a row measured later or on another machine never passes for part of the original run.
    A run that covers every stored model replaces the header."""
    import fcntl
    import tempfile

    with open(Path(tempfile.gettempdir()) / "adlab-parity-matrix.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # benchmark processes may save at the same time
        data = load_matrix(path) or {"format": MATRIX_FORMAT, "tables": {}}
        new = asdict(table)
        old = data["tables"].get(key)
        old_rows = {r["model"]: r for r in (old or {}).get("rows", [])}
        if old_rows and not set(old_rows) <= {r["model"] for r in new["rows"]}:
            for r in new["rows"]:
                r.update(device=table.device, measured_at=table.measured_at,
                         versions={k: v for k, v in table.versions.items()
                                   if old.get("versions", {}).get(k) != v})
            new = {**old, "rows": new["rows"]}
        old_rows.update({r["model"]: r for r in new["rows"]})
        new["rows"] = [old_rows[m] for m in MODELS if m in old_rows]
        data["tables"][key] = new
        staging = path.with_name(path.name + ".tmp")
        staging.write_text(json.dumps(data, indent=1) + "\n")
        staging.replace(path)
    return path


def load_matrix(path: Path = MATRIX_FILE) -> dict[str, Any] | None:
    """The stored matrix, or None when it was never measured."""
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def _num(value: float | None, digits: str) -> str:
    return "—" if value is None else format(value, digits)


def apart_notes(table: dict[str, Any]) -> list[str]:
    """One line per row measured apart from the table's own run (see :func:`save_table`)."""
    notes = []
    for r in table["rows"]:
        if r.get("measured_at"):
            versions = "".join(f", {k} {v}" for k, v in r.get("versions", {}).items())
            load = f", load {r['load'][0]}-{r['load'][1]}" if r.get("load") else ""
            notes.append(f"{r['model']}: measured apart from this table's run, {r['measured_at']}, "
                         f"{r['device']}{load}{versions}")
    return notes


def markdown_table(table: dict[str, Any]) -> str:
    """The README form of one stored table (rows measured apart are footnoted below it)."""
    lines = ["| model | export ok | parity score | parity map | onnxruntime ms/img | torch ms/img "
             "| export s | status |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table["rows"]:
        lines.append(
            f"| {r['model']} ({r['image_size']} px) | {'yes' if r['export_ok'] else 'no'} "
            f"| {_num(r['parity_score'], '.1e')} | {_num(r['parity_map'], '.1e')} "
            f"| {_num(r['ort_ms_per_image'], '.1f')} | {_num(r['torch_ms_per_image'], '.1f')} "
            f"| {_num(r['export_s'], '.1f')} | {r['status']}{': ' + r['reason'][:120] if r['reason'] else ''} |")
    notes = apart_notes(table)
    return "\n".join(lines + ([""] + [f"{note}." for note in notes] if notes else []))
