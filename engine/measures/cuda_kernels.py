"""The CUDA sources in ``kernels/``: compiled with CuPy (cached), launched on torch tensors via DLPack.

Tensors stay on the device: torch -> CuPy by DLPack (zero copy), kernels run on torch's current
stream. ``compile_all_sources`` compiles every ``.cu`` with NVRTC alone, which needs no GPU, so
CPU-only CI proves the GPU sources at least compile.

Whatever stops the compiled kernels at run time (CuPy missing or not importable, a driver older than
CuPy's CUDA, an NVRTC error, a module that does not load, a failed launch) is raised as
``KernelUnavailable`` naming the stage and the cause; ``engine.measures.shortest_paths`` then falls
back to the kernels' torch twin with one warning.

The launchers check shapes, dtypes and devices and take torch tensors (views included: a pointer
and the strides are passed); ``engine.measures.shortest_paths`` documents what each kernel computes
and runs the same phases with torch operations as the twin.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch

from engine import resources
from engine.errors import EngineError
from engine.shared_docs import shared_docs

__all__ = ["compile_all_sources", "FW_BLOCK", "fw_diag", "fw_panels", "kernels_dir", "KernelUnavailable",
           "launch_errors", "launch_failure", "load_minplus", "minplus_reciprocal", "minplus_update", "NVRTC_OPTIONS",
           "TILES"]

# The kernels' tile sizes, defined here only: NVRTC gets them as -D options (kernels/condensed_minplus.cu
# has no defaults), the launchers size their grids from them. A thread block of THREADS_Y x THREADS_X
# computes a TILE_M x TILE_N tile of a min-plus product, staging depth TILE_K; Floyd-Warshall closes
# FW_BLOCK x FW_BLOCK blocks with as many threads.
TILES = {"TILE_M": 64, "TILE_N": 64, "TILE_K": 16, "THREADS_X": 16, "THREADS_Y": 16, "FW_BLOCK": 32}
_MINPLUS_TILE_M = TILES["TILE_M"]
_MINPLUS_TILE_N = TILES["TILE_N"]
FW_BLOCK = TILES["FW_BLOCK"]
_MINPLUS_BLOCK = (TILES["THREADS_X"], TILES["THREADS_Y"], 1)
_FW_THREADS = (FW_BLOCK, FW_BLOCK, 1)
_MAX_GRID_Z = 65535
NVRTC_OPTIONS = ("-std=c++17", *(f"-D{name}={value}" for name, value in TILES.items()))


def kernels_dir() -> Path:
    """The directory of the CUDA sources: ``engine/kernels`` in an installed wheel, else ``kernels/``
    at the repository root (see ``engine.resources``).

    Returns
    -------
    pathlib.Path
        The directory holding the ``.cu`` files.

    Examples
    --------
    >>> (kernels_dir() / "condensed_minplus.cu").is_file()
    True
    """
    return resources.kernels_dir()


def _kernel_source(filename: str) -> str:
    """The text of one ``.cu`` file in ``kernels/``."""
    path = kernels_dir() / filename
    if not path.is_file():
        raise EngineError(f"CUDA kernel source {path} is missing; run from a full checkout of the repository")
    return path.read_text()


class KernelUnavailable(EngineError):
    """The compiled CUDA kernel cannot run here; the message names the stage and the cause.

    An ``EngineError``: raised by ``load_minplus`` and the launchers (CuPy missing, a driver older than
    CuPy's CUDA, an NVRTC error, a module that does not load, ``launch_failure``);
    ``engine.measures.shortest_paths`` catches it and runs the torch twin, with one warning.

    Parameters
    ----------
    message : str
        The stage that failed and why, in one line.

    Examples
    --------
    >>> err = launch_failure(RuntimeError("too many resources requested for launch"))
    >>> isinstance(err, EngineError), str(err)
    (True, 'the min-plus kernels failed to launch (RuntimeError: too many resources requested for launch)')
    """


# CuPy ships one wheel per CUDA major version; it must match what the driver supports.
_CUPY_WHEELS = "cupy-cuda12x for CUDA 12, cupy-cuda13x for CUDA 13"
_MINPLUS_SOURCE = "condensed_minplus.cu"
_KERNELS = ("minplus_update", "minplus_reciprocal", "fw_diag", "fw_panels")
_SUFFIX = {torch.float64: "f64", torch.float32: "f32"}
_MINPLUS_FUNCTIONS = tuple(f"{k}_{s}" for k in _KERNELS for s in _SUFFIX.values())


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
        raise KernelUnavailable(f"CuPy cannot be imported ({_brief(e)}); pip install {_CUPY_WHEELS}") from e
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
        source = _kernel_source(filename)
    except EngineError as e:
        raise KernelUnavailable(str(e)) from e
    try:
        with cupy.cuda.Device(device_index) as device:
            _ = device.compute_capability  # the first call into the driver: fails on a too-old one
    except Exception as e:
        raise KernelUnavailable(f"CuPy {cupy.__version__} cannot use CUDA device {device_index} ({_brief(e)}); "
                                f"if the driver is older than CuPy's CUDA, install the CuPy build of the "
                                f"driver's CUDA major version ({_CUPY_WHEELS})") from e
    with cupy.cuda.Device(device_index):
        try:
            module = cupy.RawModule(code=source, options=NVRTC_OPTIONS)
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
    """Compile and load the min-plus kernels on a device (cached per device).

    Parameters
    ----------
    device_index : int
        The CUDA device's index.

    Returns
    -------
    dict of str to cupy.RawKernel
        The kernels by name, ``{minplus_update, minplus_reciprocal, fw_diag, fw_panels}_{f32, f64}``.

    Raises
    ------
    KernelUnavailable
        If CuPy cannot be imported, the device (driver) cannot be used, NVRTC fails, or the compiled
        module does not load; the message names the stage.

    Examples
    --------
    Skipped as a doctest: it needs CUDA (a GPU, its driver and CuPy).

    >>> kernels = load_minplus(0)  # doctest: +SKIP
    >>> sorted(kernels)[:2]  # doctest: +SKIP
    ['fw_diag_f32', 'fw_diag_f64']
    """
    return _module(_MINPLUS_SOURCE, int(device_index), _MINPLUS_FUNCTIONS)


def launch_errors() -> tuple[type[BaseException], ...]:
    """The exception types of a failed kernel launch (CuPy's CUDA driver and runtime errors).

    Called after ``load_minplus`` succeeded (CuPy is then importable), to catch a launch's failure and
    turn it into ``launch_failure(e)``.

    Returns
    -------
    tuple of type
        ``(CUDADriverError, CUDARuntimeError)`` of ``cupy_backends``.

    Raises
    ------
    ImportError
        Where CuPy is not installed.

    Examples
    --------
    >>> try:
    ...     errors = launch_errors()
    ... except ImportError:  # no CuPy here (it comes with the kernels and gpu extras)
    ...     errors = (RuntimeError,)
    >>> all(issubclass(e, Exception) for e in errors)
    True
    """
    from cupy_backends.cuda.api.driver import CUDADriverError  # optional CuPy (after load_minplus imported it)
    from cupy_backends.cuda.api.runtime import CUDARuntimeError

    return CUDADriverError, CUDARuntimeError


def launch_failure(e: BaseException) -> KernelUnavailable:
    """The KernelUnavailable for an exception of ``launch_errors()`` raised by a launch.

    Parameters
    ----------
    e : BaseException
        The launch's exception.

    Returns
    -------
    KernelUnavailable
        To raise (``raise launch_failure(e) from e``); its message has ``e``'s type and first line.

    Examples
    --------
    >>> launch_failure(RuntimeError("cudaErrorLaunchOutOfResources"))
    KernelUnavailable('the min-plus kernels failed to launch (RuntimeError: cudaErrorLaunchOutOfResources)')
    """
    return KernelUnavailable(f"the min-plus kernels failed to launch ({_brief(e)})")


def _to_cupy(tensor: torch.Tensor):
    return _import_cupy().from_dlpack(tensor)


def _check_operands(name: str, dtype: torch.dtype, *tensors: torch.Tensor) -> int:
    """Same dtype (float32 or float64), all on one CUDA device, rows contiguous; returns the device index."""
    if dtype not in _SUFFIX:
        raise EngineError(f"{name} supports float32 and float64, got {dtype}")
    if any(t.dtype != dtype for t in tensors):
        raise EngineError(f"{name}: every operand must have dtype {dtype}, got {[t.dtype for t in tensors]}")
    if not all(t.is_cuda for t in tensors) or len({t.device for t in tensors}) != 1:
        raise EngineError(f"{name} runs on CUDA tensors (all on one device) only; use the torch twin on CPU")
    if any(t.dim() != 3 or (t.shape[2] > 1 and t.stride(2) != 1) for t in tensors):
        raise EngineError(f"{name} needs (batch, rows, columns) tensors with contiguous rows")
    index = tensors[0].device.index
    return index if index is not None else torch.cuda.current_device()


def _launch(name: str, dtype: torch.dtype, device_index: int, grid_xy: tuple[int, int], block, batch: int,
            args_of) -> None:
    """Launch kernel ``name`` over ``batch`` networks in chunks of at most 65535 (grid.z's limit);
    ``args_of(b0, b1)`` gives the arguments of the chunk's launch."""
    kernel = load_minplus(device_index)[f"{name}_{_SUFFIX[dtype]}"]  # imports CuPy, or raises KernelUnavailable
    cupy = _import_cupy()
    device = torch.device("cuda", device_index)
    # Run on torch's current stream so the kernels are ordered with the surrounding torch ops.
    with cupy.cuda.Device(device_index), _cupy_stream(device):
        for b0 in range(0, batch, _MAX_GRID_Z):
            b1 = min(batch, b0 + _MAX_GRID_Z)
            kernel((*grid_xy, b1 - b0), block, args_of(b0, b1))


def _i64(x: int):
    return _import_cupy().int64(x)


def _i32(x: int):
    return _import_cupy().int32(x)


# Docstring blocks the launchers share, filled in their ``{{name}}`` lines at import (engine.shared_docs).
_KERNEL_UNAVAILABLE = """
    KernelUnavailable
        If the kernels cannot be compiled, loaded or launched."""
_LAUNCHER_DOCS = {
    "kernel_unavailable": _KERNEL_UNAVAILABLE,
    "fw_raises": """
    EngineError
        If ``d`` is not such a tensor.""" + _KERNEL_UNAVAILABLE,
    "fw_distances": """
    d : torch.Tensor
        (batch, n, n) distances, float32 or float64, contiguous, on a CUDA device, n a multiple of
        ``FW_BLOCK``; updated in place.""",
    "on_cpu": """
    On CPU tensors, the launcher's check refuses (the torch twin of ``engine.measures.shortest_paths``
    is the CPU path):""",
}


@shared_docs(**_LAUNCHER_DOCS)
def minplus_update(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor, skip: tuple[int, int] = (0, 0)) -> None:
    """``c = min(c, a (x) b)`` in place, per network: (a (x) b)[i, j] = min_k a[i, k] + b[k, j].

    Parameters
    ----------
    c : torch.Tensor
        (batch, m, n) distances, float32 or float64, updated in place.
    a, b : torch.Tensor
        (batch, m, k) and (batch, k, n), ``c``'s dtype and device; must not overlap the entries written.
    skip : tuple of int
        The rows and the columns of ``c`` in ``range(*skip)`` are left alone (default: none).

    All three are CUDA tensors or views of them with contiguous rows.

    Raises
    ------
    EngineError
        If the dtypes differ or are not float32/float64, a tensor is not on one CUDA device or its rows
        are not contiguous, or the shapes do not fit.
    {{kernel_unavailable}}

    Examples
    --------
    On a GPU (skipped as doctests: they need CUDA):

    >>> import torch
    >>> c = torch.full((1, 2, 2), float("inf"), device="cuda")  # doctest: +SKIP
    >>> minplus_update(c, torch.ones(1, 2, 3, device="cuda"), torch.ones(1, 3, 2, device="cuda"))  # doctest: +SKIP
    >>> c  # doctest: +SKIP
    tensor([[[2., 2.],
             [2., 2.]]], device='cuda:0')

    {{on_cpu}}

    >>> minplus_update(torch.zeros(1, 2, 2), torch.ones(1, 2, 3), torch.ones(1, 3, 2))
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: minplus_update runs on CUDA tensors (all on one device) only; use the torch twin on CPU
    """
    device_index = _check_operands("minplus_update", c.dtype, c, a, b)
    batch, m, n = c.shape
    k = a.shape[2]
    if a.shape[:2] != (batch, m) or b.shape != (batch, k, n):
        raise EngineError(f"minplus_update: shapes do not fit: c {tuple(c.shape)}, a {tuple(a.shape)}, "
                          f"b {tuple(b.shape)}")
    if batch == 0 or m == 0 or n == 0 or k == 0:
        return
    grid = (-(-n // _MINPLUS_TILE_N), -(-m // _MINPLUS_TILE_M))
    _launch("minplus_update", c.dtype, device_index, grid, _MINPLUS_BLOCK, batch, lambda b0, b1: (
        _to_cupy(c[b0:b1]), _i64(c.stride(1)), _i64(c.stride(0)), _to_cupy(a[b0:b1]), _i64(a.stride(1)),
        _i64(a.stride(0)), _to_cupy(b[b0:b1]), _i64(b.stride(1)), _i64(b.stride(0)), _i32(m), _i32(n), _i32(k),
        _i32(skip[0]), _i32(skip[1])))


@shared_docs(**_LAUNCHER_DOCS)
def minplus_reciprocal(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per row i, the sum over j of 1 / (a (x) b)[i, j] where that is finite and > 0, without storing a (x) b.

    (a (x) b)[i, j] = min_k a[i, k] + b[k, j]; one partial sum per ``TILES["TILE_N"]`` columns, added up here.

    Parameters
    ----------
    a, b : torch.Tensor
        (batch, m, k) and (batch, k, n) distances, float32 or float64, on one CUDA device, rows contiguous.

    Returns
    -------
    torch.Tensor
        (batch, m) in ``a``'s dtype and device: the reciprocal sums (1 / units of the distances).

    Raises
    ------
    EngineError
        If the dtypes, devices, layout or shapes do not fit (as ``minplus_update``).
    {{kernel_unavailable}}

    Examples
    --------
    On a GPU (skipped as doctests: they need CUDA):

    >>> import torch
    >>> a = torch.tensor([[[1.0, 2.0]]], device="cuda")  # doctest: +SKIP
    >>> minplus_reciprocal(a, torch.tensor([[[1.0, 3.0], [0.5, 1.0]]], device="cuda"))  # doctest: +SKIP
    tensor([[0.8333]], device='cuda:0')

    {{on_cpu}}

    >>> minplus_reciprocal(torch.ones(1, 2, 3, dtype=torch.int64), torch.ones(1, 3, 2, dtype=torch.int64))
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: minplus_reciprocal supports float32 and float64, got torch.int64
    """
    device_index = _check_operands("minplus_reciprocal", a.dtype, a, b)
    batch, m, k = a.shape
    n = b.shape[2]
    if b.shape[:2] != (batch, k):
        raise EngineError(f"minplus_reciprocal: shapes do not fit: a {tuple(a.shape)}, b {tuple(b.shape)}")
    tiles = -(-n // _MINPLUS_TILE_N)
    partial = torch.zeros(batch, m, max(tiles, 1), dtype=a.dtype, device=a.device)
    if batch == 0 or m == 0 or n == 0 or k == 0:
        return partial.sum(2)
    _launch("minplus_reciprocal", a.dtype, device_index, (tiles, -(-m // _MINPLUS_TILE_M)), _MINPLUS_BLOCK, batch,
            lambda b0, b1: (_to_cupy(partial[b0:b1]), _to_cupy(a[b0:b1]), _i64(a.stride(1)), _i64(a.stride(0)),
                            _to_cupy(b[b0:b1]), _i64(b.stride(1)), _i64(b.stride(0)), _i32(m), _i32(n), _i32(k)))
    return partial.sum(2)


def _launch_fw(name: str, d: torch.Tensor, k0: int, grid_xy) -> None:
    """Launch the Floyd-Warshall kernel ``name`` on block ``k0`` of contiguous (batch, n, n) distances
    ``d`` (n a multiple of FW_BLOCK), FW_BLOCK x FW_BLOCK threads per block, ``grid_xy(n)`` blocks."""
    device_index = _check_operands(name, d.dtype, d)
    if not d.is_contiguous() or d.shape[1] != d.shape[2] or d.shape[1] % FW_BLOCK:
        raise EngineError(f"{name} needs contiguous (batch, n, n) distances with n a multiple of {FW_BLOCK}, "
                          f"got {tuple(d.shape)}")
    batch, n, _ = d.shape
    if batch:
        _launch(name, d.dtype, device_index, grid_xy(n), _FW_THREADS, batch,
                lambda b0, b1: (_to_cupy(d[b0:b1]), _i32(n), _i64(d.stride(0)), _i32(k0)))


@shared_docs(**_LAUNCHER_DOCS)
def fw_diag(d: torch.Tensor, k0: int) -> None:
    """Floyd-Warshall, in place, on the diagonal block ``[k0, k0 + FW_BLOCK)`` of every (n, n) matrix of ``d``.

    The first phase of the blocked Floyd-Warshall of ``engine.measures.shortest_paths``.

    Parameters
    ----------
    {{fw_distances}}
    k0 : int
        The diagonal block's first row and column, a multiple of ``FW_BLOCK``.

    Raises
    ------
    {{fw_raises}}

    Examples
    --------
    On a GPU (skipped as doctests: they need CUDA):

    >>> import torch
    >>> d = torch.full((1, FW_BLOCK, FW_BLOCK), float("inf"), device="cuda")  # doctest: +SKIP
    >>> _ = d[0].fill_diagonal_(0); d[0, 0, 1] = d[0, 1, 2] = 1.0  # doctest: +SKIP
    >>> fw_diag(d, 0); float(d[0, 0, 2])  # doctest: +SKIP
    2.0

    {{on_cpu}}

    >>> fw_diag(torch.zeros(1, FW_BLOCK, FW_BLOCK), 0)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: fw_diag runs on CUDA tensors (all on one device) only; use the torch twin on CPU
    """
    _launch_fw("fw_diag", d, k0, lambda n: (1, 1))


@shared_docs(**_LAUNCHER_DOCS)
def fw_panels(d: torch.Tensor, k0: int) -> None:
    """The row and column panels of block ``[k0, k0 + FW_BLOCK)``, relaxed through its closed diagonal block.

    The second phase of the blocked Floyd-Warshall, after ``fw_diag(d, k0)``.

    Parameters
    ----------
    {{fw_distances}}
        Its diagonal block ``[k0, k0 + FW_BLOCK)`` closed by ``fw_diag(d, k0)`` first.
    k0 : int
        The first row and column of the block whose panels are relaxed, a multiple of ``FW_BLOCK``.

    Raises
    ------
    {{fw_raises}}

    Examples
    --------
    {{on_cpu}}

    >>> fw_panels(torch.zeros(1, 40, 40, device="meta"), 0)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: fw_panels runs on CUDA tensors (all on one device) only; use the torch twin on CPU

    On a GPU (skipped as doctests: they need CUDA):

    >>> d = torch.full((1, 2 * FW_BLOCK, 2 * FW_BLOCK), float("inf"), device="cuda")  # doctest: +SKIP
    >>> _ = d[0].fill_diagonal_(0); d[0, 0, 1] = d[0, 1, FW_BLOCK] = 1.0  # doctest: +SKIP
    >>> fw_diag(d, 0); fw_panels(d, 0); float(d[0, 0, FW_BLOCK])  # doctest: +SKIP
    2.0
    """
    _launch_fw("fw_panels", d, k0, lambda n: (n // FW_BLOCK, 2))


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
    """Compile every ``kernels/*.cu`` to PTX with NVRTC (no GPU needed), with the launchers' ``NVRTC_OPTIONS``.

    CPU-only CI proves with it that the GPU sources compile.

    Parameters
    ----------
    arch : str
        NVRTC's ``--gpu-architecture`` (default "compute_90", Hopper).

    Returns
    -------
    dict of str to int
        ``{file name: PTX bytes}``.

    Raises
    ------
    EngineError
        If NVRTC is not installed (the kernels extra: CuPy and nvidia-cuda-nvrtc), there is no ``.cu``
        source, or a source does not compile (with the NVRTC log).

    Examples
    --------
    Skipped as a doctest: it needs CUDA's NVRTC (the kernels extra) and takes 2 s;
    tests/test_shortest_paths.py runs it.

    >>> compile_all_sources()  # doctest: +SKIP
    {'condensed_minplus.cu': 188369}
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
                nvrtc.compileProgram(prog, [f"--gpu-architecture={arch}", *NVRTC_OPTIONS])
            except nvrtc.NVRTCError as e:
                log = nvrtc.getProgramLog(prog)
                raise EngineError(f"{path.name} does not compile for {arch} ({e}):\n{log}") from None
            sizes[path.name] = len(nvrtc.getPTX(prog))
        finally:
            nvrtc.destroyProgram(prog)
    return sizes
