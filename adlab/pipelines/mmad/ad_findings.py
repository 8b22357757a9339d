"""The AD findings an MMAD run puts in its prompts: the seed's predictions JSON, from
``ad.output`` (a file) or from the prerequisite run (an ``mmad_ad`` or ``anomalib`` run's
``predictions`` artifact), matched to the sampled images by path."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from adlab.core.vocabulary import ArtifactKind
from adlab.errors import NotFoundError, PipelineError


def read_predictions(path: Path) -> list[dict[str, Any]]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise NotFoundError(f"AD predictions file {path} does not exist; fix ad.output (--ad-output)")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(records, dict):  # {image_path: record} is accepted too
        records = [{"image_path": k, **v} for k, v in records.items() if isinstance(v, dict)]
    if not isinstance(records, list) or not all(isinstance(r, dict) and "image_path" in r for r in records):
        raise PipelineError(f"{path} is not an AD predictions JSON (a list of records with "
                            f"image_path, anomaly_score, is_anomaly, defect_location, metadata)")
    return records


def predictions_source(output: Optional[object], inputs: Sequence[Any]) -> Path:
    """The predictions file: ``ad.output`` when it is a path, else the prerequisite run's artifact."""
    if isinstance(output, str):
        return Path(output).expanduser()
    for run_input in inputs:
        path = run_input.artifact(ArtifactKind.PREDICTIONS)
        if path is not None:
            return path
    ids = ", ".join(str(i.run_id) for i in inputs) or "none"
    raise PipelineError(f"ad_model is set but no AD predictions were found (prerequisite runs: {ids}); "
                        f"give ad.output a predictions JSON or an AD run id that wrote one")


def _norm(path: str) -> str:
    return path.replace("\\", "/").lstrip("./")


def match_images(records: Iterable[Mapping[str, Any]], images: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """``image -> record`` for the sampled images: exact path first, else one path ending with
    the other (predictions written relative to another root)."""
    by_path = {_norm(str(r["image_path"])): r for r in records}
    found: dict[str, Mapping[str, Any]] = {}
    unmatched = []
    for image in images:
        rec = by_path.get(_norm(image))
        if rec is not None:
            found[image] = rec
        else:
            unmatched.append(image)
    if unmatched and by_path:
        for image in unmatched:
            key = _norm(image)
            for path, rec in by_path.items():
                if path.endswith("/" + key) or key.endswith("/" + path):
                    found[image] = rec
                    break
    return found
