"""A run's predictions at another input size (Table IV's multi-scale rows, `localize-error --scales`).

`predictions-<size>.npz` beside the run's `predictions.npz` is made once from the run's checkpoint (or,
for a row evaluated as shipped, its pretrained weights): the model of the run's task built at `size`,
its maps stored for the classes ranked at the training size, so every scale's maps follow one ranking.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from gwapbench.config import RunConfig
from gwapbench.data.sample import Sample
from gwapbench.engine import distributed
from gwapbench.engine.ilsvrc_evaluate import ranked_classes
from gwapbench.engine.ilsvrc_methods import PRETRAINED_METHODS
from gwapbench.engine.inputs import EngineOptions
from gwapbench.engine.runner import build_model, predict_samples
from gwapbench.engine.schedules import Schedule
from gwapbench.engine.store import Run
from gwapbench.errors import InputError


def scale_predictions(run: Run, config: RunConfig, schedule: Schedule, test: list[Sample], size: int,
                      options: EngineOptions, info: distributed.Dist = distributed.Dist()
                      ) -> dict[str, np.ndarray] | None:
    """The run's predictions at input `size` (its training size: `predictions.npz`, else
    `predictions-<size>.npz`): the stored file, else made from the run's checkpoint (or shipped weights)
    with the classes ranked at the training size, and kept (None on ranks other than 0).
    `options.device` is the command's resolved device (`engine.runner.start`)."""
    base = size == schedule.image_size
    path = run.predictions_path if base else run.scale_predictions_path(size)
    if not path.is_file():
        if config.method not in PRETRAINED_METHODS and not run.checkpoint_path.is_file():
            raise InputError(f"run {run.id}: no checkpoint to predict from (train it first, e.g. with table3)")
        device = torch.device(options.device)
        model = build_model(config, len(config.data.classes), replace(schedule, image_size=size), device, info)
        if model.trainable:
            model.load_state_dict(run.load_checkpoint(device)["model"])
        classes = None
        if not base and model.map_names not in ((), ("alpha",)):
            scale_predictions(run, config, schedule, test, schedule.image_size, options, info)  # made if missing
            classes = ranked_classes(run.load_predictions()["logits"], len(model.map_names) - 1)
        made = predict_samples(model, test, size, schedule.batch_size, device, options, info, classes,
                               config.precision)
        if info.is_main:
            run.save_predictions(made, None if base else size)
            run.log(f"predicted {len(test)} val images at {size}x{size}")
        distributed.barrier(info)
    return run.load_predictions(None if base else size) if info.is_main else None
