"""Shared helpers of the benchmarks: machine description, matmul peak, timing."""

from __future__ import annotations

import os
import platform
import time

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
