"""Fitting through anomalib's Engine: epochs, validation-loss early stopping, checkpoint, progress.

Validation data is normal-only (the seed's rule), so stopping uses validation *loss*, never
AUROC. Most anomalib models log no validation loss (DRAEM-family models in particular), so
:class:`ValidationLoss` computes each model's own training objective on the validation batches.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from lightning.pytorch import Callback
from anomalib.callbacks.checkpoint import ModelCheckpoint
from lightning.pytorch.callbacks import EarlyStopping

from adlab.core.phase import Phase, phase_message
from adlab.data.types import Sample
from adlab.errors import PipelineError
from adlab.pipelines.anomalib.models import BuiltModel
from adlab.pipelines.anomalib.params import AnomalibParams
from adlab.pipelines.base import RunContext


@dataclass
class TrainResult:
    fit_s: float
    epochs_run: int
    stopped_early: bool
    best_val_loss: float | None
    checkpoint: Path | None
    n_train: int
    n_val: int


class ProgressReporter(Callback):
    """Batches done -> ``ctx.progress``; epoch losses -> ``ctx.log``; cancellation between batches."""

    def __init__(self, ctx: RunContext, total_steps: int, label: str) -> None:
        self.ctx, self.total, self.label, self.done = ctx, total_steps, label, 0

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.done += 1
        # the phase label once, with the first batch (a message is written on every call)
        self.ctx.progress(min(self.done, self.total), self.total,
                          message=phase_message(Phase.TRAIN, self.label) if self.done == 1 else None)
        self.ctx.check_cancelled()

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        losses = {k: float(v) for k, v in trainer.callback_metrics.items()
                  if "loss" in k and not k.endswith(("_step", "_epoch"))
                  and torch.is_tensor(v) and v.numel() == 1}
        shown = ", ".join(f"{k}={v:.5g}" for k, v in sorted(losses.items()))
        self.ctx.log(f"{self.label}: epoch {trainer.current_epoch + 1}/{trainer.max_epochs} done"
                     + (f" ({shown})" if shown else ""))
        for key, value in losses.items():
            self.ctx.metric(key, value, scope=self.label, step=trainer.current_epoch)


def _loss_of(output: Any) -> torch.Tensor | None:
    if torch.is_tensor(output):
        return output
    if isinstance(output, dict):
        loss = output.get("loss")
        return loss if torch.is_tensor(loss) else None
    return None


class ValidationLoss(Callback):
    """Logs ``val_loss``: the model's training objective on normal validation images.

    The model runs in train mode (its training forward, e.g. DRAEM's reconstruction and
    synthetic anomalies) with batch-norm statistics frozen and its own logging silenced, so
    validation neither updates the model nor overwrites ``train_loss``.
    """

    def __init__(self) -> None:
        self._losses: list[float] = []

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._losses = []

    def on_validation_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        was_training = pl_module.training
        pl_module.train()
        for module in pl_module.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()
        pl_module.log = lambda *args, **kwargs: None  # instance attribute shadows the method
        try:
            with torch.no_grad():
                loss = _loss_of(pl_module.training_step(batch, batch_idx))
        finally:
            del pl_module.log
            pl_module.train(was_training)
        if loss is None:
            raise PipelineError(f"model {type(pl_module).__name__} returns no training loss, so "
                                f"train.early_stopping cannot be used with it; remove it")
        self._losses.append(float(loss.detach().float().mean()))

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._losses:
            pl_module.log("val_loss", float(np.mean(self._losses)), prog_bar=False)


class LearningRate(Callback):
    """Sets ``train.learning_rate`` on models whose optimizer hard-codes its learning rate."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = self.lr
                group["initial_lr"] = self.lr
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            if hasattr(scheduler, "base_lrs"):
                scheduler.base_lrs = [self.lr for _ in scheduler.base_lrs]


def split_validation(train: Sequence[Sample], val: Sequence[Sample], fraction: float,
                     seed: int) -> tuple[list[Sample], list[Sample]]:
    """Normal-only validation: the layout's own split, else a seeded share of the train images."""
    normal_val = [s for s in val if s.label == 0]
    if normal_val:
        return list(train), normal_val
    if len(train) < 2:
        raise PipelineError(f"early stopping needs validation images, but the category has "
                            f"{len(train)} training image(s); add images or remove train.early_stopping")
    order = np.random.default_rng(seed).permutation(len(train))
    n_val = min(len(train) - 1, max(1, int(round(fraction * len(train)))))
    held = set(order[:n_val].tolist())
    return ([s for i, s in enumerate(train) if i not in held],
            [s for i, s in enumerate(train) if i in held])


def _accelerator(device: str) -> dict[str, Any]:
    if device.startswith("cuda") and torch.cuda.is_available():
        index = int(device.partition(":")[2] or 0)
        return {"accelerator": "gpu", "devices": [index]}
    return {"accelerator": "cpu", "devices": 1}


def train_model(built: BuiltModel, train: Sequence[Sample], val: Sequence[Sample], *,
                params: AnomalibParams, ctx: RunContext, workdir: Path, label: str) -> TrainResult:
    """Fit ``built.module`` in place on ``train`` (normal images) and return what happened."""
    from anomalib.engine import Engine

    from adlab.pipelines.anomalib.datamodule import SampleDataModule

    tp = params.train
    early = tp.early_stopping
    if early is not None:
        train, val = split_validation(train, val, params.data.val_fraction, params.seed)
    else:
        val = []
    if not train:
        raise PipelineError(f"{label}: no training images; check the dataset's train/good folder")
    datamodule = SampleDataModule(train, val, category=label, train_batch_size=tp.batch_size,
                                  eval_batch_size=tp.batch_size, num_workers=tp.num_workers,
                                  seed=params.seed)
    module = built.module
    model_epochs = module.trainer_arguments.get("max_epochs")
    epochs = int(model_epochs) if model_epochs is not None else tp.max_epochs
    steps = epochs * math.ceil(len(train) / tp.batch_size)
    checkpoint = ModelCheckpoint(dirpath=workdir / "checkpoints", filename="model",
                                 monitor="val_loss" if early else None, mode="min",
                                 save_top_k=1, auto_insert_metric_name=False)
    callbacks: list[Callback] = [ProgressReporter(ctx, steps, label), checkpoint]
    if early is not None:
        callbacks += [ValidationLoss(), EarlyStopping(monitor="val_loss", mode="min",
                                                      patience=early.patience,
                                                      min_delta=early.min_delta)]
    if tp.learning_rate is not None and built.info.lr_param is None:
        callbacks.append(LearningRate(tp.learning_rate))
    use_val = early is not None or built.info.zero_shot
    engine = Engine(callbacks=callbacks, default_root_dir=workdir / "engine", logger=False,
                    max_epochs=tp.max_epochs, enable_progress_bar=False, enable_model_summary=False,
                    num_sanity_val_steps=0, limit_val_batches=1.0 if use_val else 0,
                    **_accelerator(ctx.device))
    ctx.log(f"{label}: fitting {built.info.name} on {len(train)} image(s)"
            + (f", {len(val)} validation image(s), early stopping on val_loss" if early else ""))
    start = time.perf_counter()
    engine.fit(model=module, datamodule=datamodule)
    fit_s = time.perf_counter() - start
    trainer = engine.trainer
    stopper = next((c for c in trainer.callbacks if isinstance(c, EarlyStopping)), None)
    best = checkpoint.best_model_score
    if early is not None and checkpoint.best_model_path:
        # Score with the best epoch, not the last one the patience window let through.
        state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=False)
        module.load_state_dict(state["state_dict"])
    ckpt = Path(checkpoint.best_model_path or checkpoint.last_model_path or "") if (
        checkpoint.best_model_path or checkpoint.last_model_path) else None
    if ckpt is None:
        path = workdir / "checkpoints" / "model.ckpt"
        ckpt = path if path.exists() else None
    module.eval()
    return TrainResult(fit_s=fit_s, epochs_run=int(trainer.current_epoch),
                       stopped_early=bool(stopper and stopper.stopped_epoch > 0),
                       best_val_loss=float(best) if best is not None else None,
                       checkpoint=ckpt, n_train=len(train), n_val=len(val))
