"""Hydra callbacks: gather a multirun's shards and benchmarks when the multirun ends."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("engine")


class GatherCallback(Callback):
    """At the end of a multirun, merge every job's tables into ``<sweep dir>/gathered`` and report."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from engine.errors import EngineError
        from engine.gather import gather

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            out = gather([sweep_dir], sweep_dir / "gathered", analysis_cfg=config.get("analysis"))
            print(f"gathered the multirun into {out}", flush=True)
        except EngineError as e:
            log.error("gather failed: %s", e)
