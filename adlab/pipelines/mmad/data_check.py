"""What ``adlab queue`` checks of an ``mmad`` / ``mmad_ad`` run's data before queueing it.

The MMAD folder (``data_root``, else $ADLAB_DATA_ROOT[/MMAD]), ``mmad.json`` (or
``mmad_json``), the head of mmad.json (a JSON object of MMAD records: its first
:data:`HEAD_ENTRIES` entries are parsed, not the whole file) and whether those entries' images
and the templates the run shows are under the image root; MMAD's domain knowledge file when the
prompt uses it; the AD model's thresholds YAML and checkpoint folders (``ad.*`` or
``ad.config``). Where the data lives decides what is checked, as for every dataset
(:func:`adlab.data.checks.locate_path`): a path of which nothing exists here is a warning,
anything else wrong is an error naming the field, the value, what is there instead and the fix.
The rules are the readers' own (:mod:`adlab.pipelines.mmad.data`, ``Thresholds.from_yaml``,
``load_knowledge``), so a check says what the run would have said.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Optional

from adlab.core.suggest import closest_first
from adlab.data.checks import entries_of, locate_path
from adlab.errors import AdlabError, ConfigError, DataError
from adlab.pipelines.mmad.data import (data_paths, first_entries, record_problem, resolve_json,
                                       templates_of)

HEAD_ENTRIES = 3  # mmad.json entries whose records and images are checked
MMAD_FILE = "mmad.json"
FIX_ROOT = "set data_root to the MMAD folder (mmad.json beside the dataset folders)"


@dataclass(frozen=True)
class MmadDataCheck:
    """The MMAD folder and mmad.json one run reads, and the images the head entries name."""

    data_root: Optional[str]
    mmad_json: Optional[str]
    few_shot: int = 0  # templates shown per image (checked for the head entries)
    similar: bool = False  # similar_templates, else random_templates
    knowledge: bool = False  # eval.domain_knowledge
    knowledge_path: Optional[str] = None  # eval.domain_knowledge_path

    def _label(self, env: Optional[str]) -> str:
        if self.mmad_json:
            return f"mmad_json {self.mmad_json}"
        return f"data_root {self.data_root}" if self.data_root else f"ADLAB_DATA_ROOT={env}"

    def run(self) -> list[str]:
        env = os.environ.get("ADLAB_DATA_ROOT") or None
        if self.data_root:
            found = locate_path(self.data_root, field="data_root", what="MMAD", folder=True)
            if isinstance(found, str):
                return [found]
        elif not self.mmad_json:
            if env is None:
                return ["mmad: data_root is not set and ADLAB_DATA_ROOT is not set here, so the "
                        "MMAD data was not checked; the workers need ADLAB_DATA_ROOT (or set "
                        "data_root)"]
            if not Path(env).expanduser().is_dir():
                return [f"ADLAB_DATA_ROOT={env} is not on this machine, so the MMAD data was not "
                        "checked; the workers must have it there"]
        if self.mmad_json:
            found = locate_path(self.mmad_json, field="mmad_json", what="MMAD benchmark",
                                path=resolve_json(self.data_root, self.mmad_json))
            if isinstance(found, str):
                return [found]
        root, json_path = data_paths(self.data_root, self.mmad_json)
        label = self._label(env)
        if not self.mmad_json and not json_path.is_file():
            listing = closest_first(MMAD_FILE, entries_of(root))
            raise DataError(f"{label}: the MMAD folder {root} holds no {MMAD_FILE} (it "
                            f"holds{listing}); {FIX_ROOT}, or set mmad_json to the file")
        try:
            entries = first_entries(json_path, HEAD_ENTRIES)
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{label}: cannot read {json_path} ({exc}); give MMAD's "
                            f"{MMAD_FILE}") from None
        except ConfigError as exc:
            raise ConfigError(f"{label}: {exc}; give MMAD's {MMAD_FILE}") from None
        for image, record in entries:
            problem = record_problem(image, record)
            if problem:
                raise ConfigError(f"{label}: {json_path}: {problem}")
        self._check_images(label, root, entries)
        if self.knowledge:
            return self._check_knowledge(label, root)
        return []

    def _check_images(self, label: str, root: Path, entries: list[tuple[str, Any]]) -> None:
        named = [(image, rel) for image, record in entries
                 for rel in [image, *templates_of(record, self.few_shot, self.similar)]]
        missing = [(image, rel) for image, rel in named if not (root / rel).is_file()]
        if not missing:
            return
        image, rel = missing[0]
        what = "image" if rel == image else f"template {rel} of image"
        top = PurePosixPath(rel.replace("\\", "/")).parts[0]
        where = "data_root" if self.data_root else \
            ("mmad_json's folder" if self.mmad_json else "ADLAB_DATA_ROOT")
        raise DataError(
            f"{label}: mmad.json's {what} {image} is not under the image root {root} "
            f"({len(missing)} of the {len(named)} files its first {len(entries)} entries name "
            f"are missing; the root ({where}) holds{closest_first(top, entries_of(root))}); "
            f"{FIX_ROOT}")

    def _check_knowledge(self, label: str, root: Path) -> list[str]:
        from adlab.pipelines.mmad.protocol.inputs import KNOWLEDGE_FILE, load_knowledge

        field_name = "eval.domain_knowledge_path"
        if self.knowledge_path:
            found = locate_path(self.knowledge_path, field=field_name,
                                what=f"domain knowledge ({KNOWLEDGE_FILE})")
            if isinstance(found, str):
                return [found]
            path, shown = found, f"{field_name} {self.knowledge_path}"
        else:
            path, shown = root / KNOWLEDGE_FILE, f"eval.domain_knowledge (default {root / KNOWLEDGE_FILE})"
            if not path.is_file():
                listing = closest_first(KNOWLEDGE_FILE, entries_of(root))
                raise DataError(f"{label}: eval.domain_knowledge is true but the MMAD folder "
                                f"{root} holds no {KNOWLEDGE_FILE} (it holds{listing}); set "
                                f"{field_name} to MMAD's {KNOWLEDGE_FILE} or eval.domain_knowledge: "
                                "false")
        try:
            load_knowledge(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{shown}: cannot read {path} ({exc})") from None
        except AdlabError as exc:
            raise ConfigError(f"{shown}: {exc}; set {field_name} to MMAD's {KNOWLEDGE_FILE}") \
                from None
        return []


@dataclass(frozen=True)
class AdFilesCheck:
    """The AD run's checkpoint folders and thresholds YAML (the fields say where each is set)."""

    checkpoints: tuple[str, ...] = ()
    thresholds: Optional[str] = None
    # Where the config sets them: a field of the run, or a key of the ad.config YAML.
    checkpoints_field: str = field(default="checkpoints", compare=False)
    thresholds_field: str = field(default="thresholds", compare=False)
    config_file: Optional[str] = field(default=None, compare=False)
    from_config: tuple[str, ...] = field(default=(), compare=False)  # keys set there

    def _fix(self, key: str) -> Optional[str]:
        return f"fix `{key}` in {self.config_file}" if key in self.from_config else None

    def run(self) -> list[str]:
        warnings: list[str] = []
        for folder in self.checkpoints:
            found = locate_path(folder, field=self.checkpoints_field, what="checkpoints",
                                folder=True, fix=self._fix("checkpoints"))
            if isinstance(found, str):
                warnings.append(found)
        if self.thresholds:
            found = locate_path(self.thresholds, field=self.thresholds_field,
                                what="thresholds YAML",
                                fix=self._fix("thresholds"))
            if isinstance(found, str):
                return [*warnings, found]
            from adlab.pipelines.components.predictions import Thresholds

            shown = f"{self.thresholds_field} {self.thresholds}"
            try:
                Thresholds.from_yaml(found)
            except (OSError, UnicodeDecodeError) as exc:
                raise DataError(f"{shown}: cannot read {found} ({exc})") from None
            except (ValueError, TypeError, KeyError) as exc:
                raise ConfigError(f"{shown}: {found} holds a threshold that is not a number "
                                  f"({exc}); write `global: <number>` and `categories: "
                                  f"{{<Dataset>/<category>: <number>}}`") from None
            except AdlabError as exc:
                raise ConfigError(f"{shown}: {exc}") from None
        return warnings


def _folders(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def mmad_checks(params: Any) -> list[Any]:
    """The checks of an ``mmad`` run: its MMAD data and, when it queues an AD run, that run's
    thresholds and checkpoint folders (from ``ad.*`` or ``ad.config``)."""
    from adlab.pipelines.mmad.spec import ad_run_config

    ev = params.eval
    checks: list[Any] = [MmadDataCheck(params.data_root, params.mmad_json, ev.few_shot,
                                       bool(ev.similar_template), ev.domain_knowledge,
                                       ev.domain_knowledge_path)]
    ad = params.ad
    if params.ad_model is None or ad.output is not None:
        return checks  # no AD run, or its predictions are given
    config = ad_run_config(params)

    from_file = tuple(k for k in ("checkpoints", "thresholds") if getattr(ad, k) is None)

    def where(key: str) -> str:
        return f"`{key}` of ad.config {ad.config}" if key in from_file else f"ad.{key}"

    files = AdFilesCheck(_folders(config.get("checkpoints")), config.get("thresholds"),
                         checkpoints_field=where("checkpoints"), thresholds_field=where("thresholds"),
                         config_file=ad.config, from_config=from_file if ad.config else ())
    if files.checkpoints or files.thresholds:
        checks.append(files)
    return checks


def mmad_ad_checks(params: Any) -> list[Any]:
    """The checks of an ``mmad_ad`` run: its MMAD data, thresholds and checkpoint folders."""
    checks: list[Any] = [MmadDataCheck(params.data_root, params.mmad_json)]
    files = AdFilesCheck(tuple(params.checkpoint_dirs()), params.thresholds)
    if files.checkpoints or files.thresholds:
        checks.append(files)
    return checks
