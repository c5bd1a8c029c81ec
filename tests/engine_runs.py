"""Small runs of the engine that several test files share: the TINY settings, a configuration composed
by Hydra in this process, and the command lines run in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# 4 networks of 64-12-8-10 on 200 digits samples, 1 epoch: a run takes a few seconds.
TINY = ["+sweep=smoke", "population.size=4", "train.epochs=1", "dataset.limit_train=200", "model.hidden=[12,8]",
        "population.snapshots=last", "progress=false"]


def compose(*overrides):
    """The run configuration of conf/ with ``overrides``, as ``python -m engine.run`` composes it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from engine.config import register

    register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides))


def engine_cli(module: str, *args, cwd=None, env: dict | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    """``python -m module args`` from the checkout (or ``cwd``), unbuffered, with Hydra's short errors."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd or ROOT, text=True,
                          capture_output=True, timeout=timeout,
                          env=dict(os.environ, PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="0", **(env or {})))


def run_engine(*args, cwd=None, timeout: int = 240, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m engine.run args``; with ``check``, a failure is an AssertionError that shows its output."""
    p = engine_cli("engine.run", *args, cwd=cwd, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"engine.run failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p
