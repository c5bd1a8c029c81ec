"""Shared helpers of the benchmarks: machine description, matmul peak, timing."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch


def machine() -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
            "processor": _cpu_name(), "cores": os.cpu_count()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device):
    """(seconds, result) of one call of ``fn``, the device synchronised before and after."""
    sync(device)
    t = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t, out


def best_time(fn, device: torch.device, repeats: int = 3, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def matmul_peak(device: torch.device, n: int | None = None) -> float:
    """The machine's own float32 matmul rate (FLOP/s): best of square GEMMs of a few sizes."""
    sizes = [n] if n else ([2048, 3072] if device.type == "cpu" else [8192])
    best = 0.0
    for s in sizes:
        a = torch.randn(s, s, device=device)
        b = torch.randn(s, s, device=device)
        t = best_time(lambda: a @ b, device, repeats=3)
        best = max(best, 2 * s**3 / t)
    return best


def networks_from_args(argv, doc: str, quick: int, full: int) -> tuple[argparse.Namespace, int]:
    """The command line of a benchmark sized in networks (``--quick``: ``quick`` of them, else ``full``, or
    ``--networks N``): the parsed arguments and the networks to use."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"{quick} networks instead of the default {full:,}")
    ap.add_argument("--networks", type=int, default=None)
    a = ap.parse_args(argv)
    return a, a.networks or (quick if a.quick else full)


ROOT = Path(__file__).resolve().parents[1]


def timed_run(overrides: list[str], run_dir: Path, multirun: bool = False) -> tuple[float, dict, str]:
    """``python -m engine.run`` with ``overrides`` (no progress bars) into ``run_dir``: its wall time, its
    ``run.json`` ({} for a multirun) and its output; a failure is a RuntimeError with the output's end."""
    cmd = [sys.executable, "-m", "engine.run", *(["-m"] if multirun else []), *overrides, "progress=false",
           f"hydra.{'sweep' if multirun else 'run'}.dir={run_dir}"]
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"python -m engine.run {' '.join(cmd[3:])} failed (exit {p.returncode}):\n"
                           f"{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    stats = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else {}
    return wall, stats, p.stdout + p.stderr
