"""The CUDA sources in ``kernels/``: compiled with CuPy (cached), launched on torch tensors via DLPack.

Tensors stay on the device: torch -> CuPy by DLPack (zero copy), kernels run on torch's current
stream. ``compile_all_sources`` compiles every ``.cu`` with NVRTC alone, which needs no GPU, so
CPU-only CI proves the GPU sources at least compile.

Whatever stops the compiled kernel at run time (CuPy missing or not importable, a driver older than
CuPy's CUDA, an NVRTC error, a module that does not load, a failed launch) is raised as
``KernelUnavailable`` naming the stage and the cause; ``engine.measures.shortest_paths`` then falls
back to the kernel's torch twin with one warning.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch

from engine import resources
from engine.errors import EngineError

# Must match the tile sizes in kernels/layered_minplus.cu.
_MINPLUS_TILE_M = 64
_MINPLUS_TILE_N = 64
_MINPLUS_BLOCK = (16, 16, 1)
_MAX_GRID_Z = 65535
_NVRTC_OPTIONS = ("-std=c++17",)


def kernels_dir() -> Path:
    """The directory of the CUDA sources: ``engine/kernels`` in an installed wheel, else ``kernels/``
    at the repository root (see ``engine.resources``)."""
    return resources.kernels_dir()


def kernel_source(filename: str) -> str:
    """The text of one ``.cu`` file in ``kernels/``."""
    path = kernels_dir() / filename
    if not path.is_file():
        raise EngineError(f"CUDA kernel source {path} is missing; run from a full checkout of the repository")
    return path.read_text()


class KernelUnavailable(EngineError):
    """The compiled CUDA kernel cannot run here; the message names the stage and the cause."""


# CuPy ships one wheel per CUDA major version; it must match what the driver supports.
CUPY_WHEELS = "cupy-cuda12x for CUDA 12, cupy-cuda13x for CUDA 13"
MINPLUS_SOURCE = "layered_minplus.cu"
MINPLUS_FUNCTIONS = {torch.float64: "minplus_relax_f64", torch.float32: "minplus_relax_f32"}


def _brief(e: BaseException) -> str:
    """``Type: first line of the message``, short enough for one log line."""
    text = str(e).strip().splitlines()
    line = f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")
    return line if len(line) <= 300 else line[:297] + "..."


def _import_cupy():
    """CuPy, an optional dependency (the ``kernels`` and ``gpu`` extras), or KernelUnavailable."""
    try:
        import cupy  # optional: CuPy is only needed for the CUDA kernel
    except Exception as e:  # ImportError, or CuPy failing to find its own CUDA libraries
        raise KernelUnavailable(f"CuPy cannot be imported ({_brief(e)}); pip install {CUPY_WHEELS}") from e
    return cupy


def _is_nvrtc_failure(e: BaseException) -> bool:
    """NVRTC's own errors (a compile log, or libnvrtc not loadable), as opposed to loading the module."""
    from cupy.cuda.compiler import CompileException  # optional CuPy, already imported by _import_cupy

    return isinstance(e, CompileException) or "nvrtc" in f"{type(e).__name__} {e}".lower()


@functools.lru_cache(maxsize=None)
def _module(filename: str, device_index: int, names: tuple[str, ...]) -> dict[str, object]:
    """The kernels ``names`` of one source file, compiled and loaded once per file and device.

    Raises KernelUnavailable saying which stage failed: CuPy's import, the device (driver), NVRTC,
    or loading the compiled module (e.g. PTX newer than the driver)."""
    cupy = _import_cupy()
    try:
        source = kernel_source(filename)
    except EngineError as e:
        raise KernelUnavailable(str(e)) from e
    try:
        with cupy.cuda.Device(device_index) as device:
            _ = device.compute_capability  # the first call into the driver: fails on a too-old one
    except Exception as e:
        raise KernelUnavailable(f"CuPy {cupy.__version__} cannot use CUDA device {device_index} ({_brief(e)}); "
                                f"if the driver is older than CuPy's CUDA, install the CuPy build of the "
                                f"driver's CUDA major version ({CUPY_WHEELS})") from e
    with cupy.cuda.Device(device_index):
        try:
            module = cupy.RawModule(code=source, options=_NVRTC_OPTIONS)
            module.compile()  # NVRTC, then cuModuleLoad
        except Exception as e:
            if _is_nvrtc_failure(e):
                raise KernelUnavailable(f"NVRTC cannot compile {filename} for CUDA device {device_index} "
                                        f"({_brief(e)})") from e
            raise KernelUnavailable(f"{filename} compiled but does not load on CUDA device {device_index} "
                                    f"({_brief(e)})") from e
        try:
            return {name: module.get_function(name) for name in names}
        except Exception as e:
            raise KernelUnavailable(f"{filename} loaded on CUDA device {device_index} but lacks a kernel "
                                    f"({_brief(e)})") from e


def load_minplus(device_index: int) -> dict[str, object]:
    """Compile and load the min-plus kernels on a device (cached); KernelUnavailable if they cannot be."""
    return _module(MINPLUS_SOURCE, int(device_index), tuple(MINPLUS_FUNCTIONS.values()))


def launch_errors() -> tuple[type[BaseException], ...]:
    """The exception types of a failed kernel launch (CuPy's CUDA driver and runtime errors)."""
    from cupy_backends.cuda.api.driver import CUDADriverError  # optional CuPy (after load_minplus imported it)
    from cupy_backends.cuda.api.runtime import CUDARuntimeError

    return CUDADriverError, CUDARuntimeError


def launch_failure(e: BaseException) -> KernelUnavailable:
    """The KernelUnavailable for an exception of ``launch_errors()`` raised by a launch."""
    return KernelUnavailable(f"the min-plus kernel failed to launch ({_brief(e)})")


def _to_cupy(tensor: torch.Tensor):
    return _import_cupy().from_dlpack(tensor)


def minplus_relax(dist: torch.Tensor, lengths: torch.Tensor, changed: torch.Tensor, *, a_offset: int,
                  c_offset: int) -> None:
    """One min-plus relaxation of a layer block, in place on CUDA tensors.

    ``dist`` (B, S, n_nodes): columns ``c_offset .. c_offset + n_c`` are lowered to
    ``min(dist[..., c], min_k dist[..., a_offset + k] + lengths[:, k, c])``; ``lengths`` (B, n_k, n_c)
    holds +inf where there is no edge. ``changed`` (int32, 1 element) is set to 1 if anything decreased.
    """
    name = MINPLUS_FUNCTIONS.get(dist.dtype)
    if name is None:
        raise EngineError(f"minplus_relax supports float32 and float64, got {dist.dtype}")
    if lengths.dtype != dist.dtype or changed.dtype != torch.int32:
        raise EngineError("minplus_relax: lengths must have the distances' dtype and changed must be int32")
    if not (dist.is_cuda and lengths.is_cuda and changed.is_cuda):
        raise EngineError("minplus_relax runs on CUDA tensors only; use the torch twin on CPU")
    if not (dist.is_contiguous() and lengths.is_contiguous()):
        raise EngineError("minplus_relax needs contiguous tensors")
    batch, n_sources, n_nodes = dist.shape
    _, n_k, n_c = lengths.shape
    if lengths.shape[0] != batch or a_offset + n_k > n_nodes or c_offset + n_c > n_nodes:
        raise EngineError(f"minplus_relax: shapes do not fit: dist {tuple(dist.shape)}, lengths "
                          f"{tuple(lengths.shape)}, a_offset {a_offset}, c_offset {c_offset}")
    if batch == 0 or n_sources == 0 or n_c == 0 or n_k == 0:
        return

    device_index = dist.device.index if dist.device.index is not None else torch.cuda.current_device()
    kernel = load_minplus(device_index)[name]  # imports CuPy, or raises KernelUnavailable
    cupy = _import_cupy()

    grid_x = (n_c + _MINPLUS_TILE_N - 1) // _MINPLUS_TILE_N
    grid_y = (n_sources + _MINPLUS_TILE_M - 1) // _MINPLUS_TILE_M
    # Run on torch's current stream so the kernel is ordered with the surrounding torch ops.
    with cupy.cuda.Device(device_index), _cupy_stream(dist.device):
        changed_cp = _to_cupy(changed)
        # grid.z is limited to 65535: launch over batch chunks.
        for b0 in range(0, batch, _MAX_GRID_Z):
            b1 = min(batch, b0 + _MAX_GRID_Z)
            kernel((grid_x, grid_y, b1 - b0), _MINPLUS_BLOCK,
                   (_to_cupy(dist[b0:b1]), _to_cupy(lengths[b0:b1]), changed_cp,
                    cupy.int32(n_sources), cupy.int32(n_nodes), cupy.int32(a_offset), cupy.int32(n_k),
                    cupy.int32(c_offset), cupy.int32(n_c)))


def _cupy_stream(device: torch.device):
    """torch's current CUDA stream as a CuPy stream."""
    cupy = _import_cupy()
    torch_stream = torch.cuda.current_stream(device)
    if hasattr(cupy.cuda.Stream, "from_external") and hasattr(torch_stream, "__cuda_stream__"):
        return cupy.cuda.Stream.from_external(torch_stream)
    with warnings.catch_warnings():  # ExternalStream is deprecated in CuPy 14, needed before it
        warnings.simplefilter("ignore")
        return cupy.cuda.ExternalStream(torch_stream.cuda_stream, torch_stream.device_index)


def compile_all_sources(arch: str = "compute_90") -> dict[str, int]:
    """Compile every ``kernels/*.cu`` to PTX with NVRTC (no GPU needed); returns ``{file: PTX bytes}``.

    Raises EngineError with the NVRTC log if a source does not compile.
    """
    try:
        from cupy_backends.cuda.libs import nvrtc  # optional: NVRTC from the CuPy wheels (the kernels extra)
    except Exception as e:  # ImportError, or the NVRTC shared library not loadable
        raise EngineError(f"NVRTC is not available ({e}); pip install cupy-cuda12x nvidia-cuda-nvrtc-cu12") from e
    sources = sorted(kernels_dir().glob("*.cu"))
    if not sources:
        raise EngineError(f"no .cu sources in {kernels_dir()}")
    sizes: dict[str, int] = {}
    for path in sources:
        prog = nvrtc.createProgram(path.read_text(), path.name, (), ())
        try:
            try:
                nvrtc.compileProgram(prog, [f"--gpu-architecture={arch}", *_NVRTC_OPTIONS])
            except nvrtc.NVRTCError as e:
                log = nvrtc.getProgramLog(prog)
                raise EngineError(f"{path.name} does not compile for {arch} ({e}):\n{log}") from None
            sizes[path.name] = len(nvrtc.getPTX(prog))
        finally:
            nvrtc.destroyProgram(prog)
    return sizes
