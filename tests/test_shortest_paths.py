"""Layered min-plus shortest paths: the torch twin against SciPy's Dijkstra, the CUDA sources
against NVRTC (no GPU needed), a numpy mirror of the kernel's tiling against the twin, and the
kernel itself against the twin on a GPU."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import dijkstra

import engine
from engine.errors import EngineError
from engine.measures import shortest_paths
from engine.measures.shortest_paths import hidden_distances, hidden_distances_twin

GOLDEN = Path(os.environ.get("ENGINE_GOLDEN_DIR", Path(__file__).resolve().parent / "data" / "golden"))


def random_weights(sizes, n_networks=2, seed=0, low=-0.9, high=0.9):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(n_networks, a, b, generator=g, dtype=torch.float64) * (high - low) + low
            for a, b in zip(sizes[:-1], sizes[1:])]


def scipy_distances(weights: list[np.ndarray]) -> np.ndarray:
    """Reference: Dijkstra on the undirected positive graph of one network, built from scratch."""
    sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rows, cols, vals = [], [], []
    for l, w in enumerate(weights):
        i, j = np.nonzero(w > 0)
        rows.append(offsets[l] + i)
        cols.append(offsets[l + 1] + j)
        vals.append(w[i, j].astype(np.float64))
    n = int(offsets[-1])
    upper = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return dijkstra(upper, directed=False, indices=np.arange(offsets[1], offsets[-2]))


SHAPES = {
    "one hidden": ((6, 5, 3), 3),
    "three hidden": ((7, 6, 5, 4, 3), 2),
    "tiny layers": ((1, 1, 1), 2),
    "one-neuron hidden": ((4, 1, 3, 2), 3),
    "wider than a tile": ((9, 70, 66, 5), 2),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_twin_equals_dijkstra(name):
    sizes, n = SHAPES[name]
    weights = random_weights(sizes, n, seed=len(name))
    got = hidden_distances_twin(weights, torch.float64)
    n_hidden, n_nodes = sum(sizes[1:-1]), sum(sizes)
    assert got.shape == (n, n_hidden, n_nodes) and got.dtype == torch.float64
    for k in range(n):
        want = scipy_distances([w[k].numpy() for w in weights])
        # Same float additions along the same best paths: bit-identical, inf where unreachable.
        np.testing.assert_array_equal(got[k].numpy(), want)


def test_disconnected_positive_graph_has_inf():
    # Mostly negative weights: the positive graph falls apart into pieces.
    weights = random_weights((8, 6, 5, 4), n_networks=3, seed=3, low=-0.9, high=0.2)
    got = hidden_distances_twin(weights)
    assert torch.isinf(got).any()
    for k in range(3):
        np.testing.assert_array_equal(got[k].numpy(), scipy_distances([w[k].numpy() for w in weights]))
    # No positive weight at all: every hidden neuron reaches only itself.
    neg = [-w.abs() for w in weights]
    d = hidden_distances_twin(neg)
    expected = torch.full_like(d, float("inf"))
    idx = torch.arange(d.shape[1])
    expected[:, idx, 8 + idx] = 0
    assert torch.equal(d, expected)


def test_float32_twin_close_to_float64():
    weights = random_weights((10, 8, 6, 4), n_networks=2, seed=5)
    d32 = hidden_distances_twin([w.float() for w in weights], torch.float32)
    d64 = hidden_distances_twin([w.float() for w in weights], torch.float64)
    assert d32.dtype == torch.float32
    assert torch.equal(torch.isinf(d32), torch.isinf(d64))
    finite = torch.isfinite(d64)
    torch.testing.assert_close(d32[finite].double(), d64[finite], rtol=1e-5, atol=1e-6)


def test_matches_the_measures_scipy_reference():
    harmonic = pytest.importorskip("engine.measures.harmonic_centrality")
    if not hasattr(harmonic, "hidden_distances_cpu"):
        pytest.skip("engine.measures.harmonic_centrality.hidden_distances_cpu not written yet")
    for sizes, n in SHAPES.values():
        weights = random_weights(sizes, n, seed=11)
        torch.testing.assert_close(hidden_distances_twin(weights), harmonic.hidden_distances_cpu(weights, torch.float64),
                                   rtol=1e-13, atol=0)


def test_dispatch_and_input_checks():
    weights = random_weights((5, 4, 3), n_networks=1)
    assert torch.equal(hidden_distances(weights), hidden_distances_twin(weights))
    # 2-D matrices are one network.
    assert torch.equal(hidden_distances([w[0] for w in weights]), hidden_distances_twin(weights))
    with pytest.raises(EngineError, match="do not chain"):
        hidden_distances([weights[0], weights[0]])
    with pytest.raises(EngineError, match="at least 2"):
        hidden_distances(weights[:1])
    with pytest.raises(EngineError, match="float32 or float64"):
        hidden_distances(weights, torch.float16)
    with pytest.raises(EngineError, match="floating tensor"):
        hidden_distances([weights[0].long(), weights[1]])


@pytest.mark.slow
def test_golden_network_paper_size():
    """The paper's MNIST network (784-200-100-10): twin vs Dijkstra on a few hidden sources' rows."""
    path = GOLDEN / "mnist_network1.h5"
    if not path.is_file():
        pytest.skip(f"golden network not found at {path} (set ENGINE_GOLDEN_DIR)")
    from engine.networks import read_network as load_model

    weights = load_model(path).stacked()
    got = hidden_distances_twin(weights, torch.float64)[0].numpy()
    want = scipy_distances([w[0].numpy() for w in weights])
    np.testing.assert_array_equal(got, want)


# --- the CUDA sources -----------------------------------------------------------------------------

def _nvrtc_or_skip():
    try:
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
    except Exception as e:  # not installed, or libnvrtc not loadable
        pytest.skip(f"NVRTC not loadable here: {e}")


def test_every_cuda_source_compiles_with_nvrtc():
    _nvrtc_or_skip()
    from engine.measures.cuda_kernels import compile_all_sources, kernels_dir

    ptx = compile_all_sources("compute_90")
    assert set(ptx) == {p.name for p in kernels_dir().glob("*.cu")}
    assert "layered_minplus.cu" in ptx and all(size > 0 for size in ptx.values())


def test_nvrtc_failure_reports_the_log(tmp_path, monkeypatch):
    _nvrtc_or_skip()
    from engine.measures import cuda_kernels

    (tmp_path / "broken.cu").write_text('extern "C" __global__ void k(float* x) { x[0] = undefined_name; }\n')
    monkeypatch.setattr(cuda_kernels, "kernels_dir", lambda: tmp_path)
    with pytest.raises(EngineError, match="broken.cu does not compile(.|\n)*undefined_name"):
        cuda_kernels.compile_all_sources()


def test_missing_kernels_directory_is_a_clear_error(tmp_path, monkeypatch):
    from engine.measures import cuda_kernels

    monkeypatch.setattr(engine, "__file__", str(tmp_path / "engine" / "__init__.py"))
    with pytest.raises(EngineError, match="kernel sources not found"):
        cuda_kernels.kernels_dir()


def test_kernel_launcher_refuses_cpu_tensors():
    from engine.measures.cuda_kernels import minplus_relax

    dist = torch.zeros(1, 2, 5, dtype=torch.float64)
    with pytest.raises(EngineError, match="CUDA tensors only"):
        minplus_relax(dist, torch.zeros(1, 2, 3, dtype=torch.float64), torch.zeros(1, dtype=torch.int32),
                      a_offset=0, c_offset=2)
    with pytest.raises(EngineError, match="float32 and float64"):
        minplus_relax(dist.half(), dist.half(), torch.zeros(1, dtype=torch.int32), a_offset=0, c_offset=2)


# A numpy mirror of kernels/layered_minplus.cu's block/thread index math (staging of the A and B
# tiles, the 4x4 micro-tiles, the bounds checks, the compare-and-write). It lets CPU-only CI check
# the tiling against the twin; keep it in step with the .cu (tile constants below).
TILE_M, TILE_N, TILE_K, THREADS, MICRO = 64, 64, 16, 16, 4


def _relax_like_the_kernel(dist, lengths, changed, *, a_offset, c_offset):
    d = dist.numpy().reshape(-1)
    b = lengths.numpy().reshape(-1)
    batch, n_sources, n_nodes = dist.shape
    _, n_k, n_c = lengths.shape
    tid = np.arange(THREADS * THREADS)
    tx, ty = tid % THREADS, tid // THREADS
    for bz in range(batch):
        d_base, b_base = bz * n_sources * n_nodes, bz * n_k * n_c
        for by in range(-(-n_sources // TILE_M)):
            for bx in range(-(-n_c // TILE_N)):
                row0, col0 = by * TILE_M, bx * TILE_N
                acc = np.full((tid.size, MICRO, MICRO), np.inf, d.dtype)
                for k0 in range(0, n_k, TILE_K):
                    a_tile = np.full((TILE_K, TILE_M + 1), np.nan, d.dtype)
                    b_tile = np.full((TILE_K, TILE_N), np.nan, d.dtype)
                    for r in range(TILE_M * TILE_K // tid.size):
                        e = tid + r * tid.size
                        m, k = e // TILE_K, e % TILE_K
                        ok = (row0 + m < n_sources) & (k0 + k < n_k)
                        src = d_base + a_offset + (row0 + m) * n_nodes + k0 + k
                        a_tile[k, m] = np.where(ok, d[np.where(ok, src, 0)], np.inf)
                    for r in range(TILE_K * TILE_N // tid.size):
                        e = tid + r * tid.size
                        k, n = e // TILE_N, e % TILE_N
                        ok = (k0 + k < n_k) & (col0 + n < n_c)
                        src = b_base + (k0 + k) * n_c + col0 + n
                        b_tile[k, n] = np.where(ok, b[np.where(ok, src, 0)], np.inf)
                    for k in range(TILE_K):
                        av = np.stack([a_tile[k, ty + i * THREADS] for i in range(MICRO)], 1)
                        bv = np.stack([b_tile[k, tx + j * THREADS] for j in range(MICRO)], 1)
                        acc = np.fmin(acc, av[:, :, None] + bv[:, None, :])
                for i in range(MICRO):
                    gm = row0 + ty + i * THREADS
                    for j in range(MICRO):
                        gn = col0 + tx + j * THREADS
                        ok = (gm < n_sources) & (gn < n_c)
                        slot = d_base + gm * n_nodes + c_offset + gn
                        t = np.nonzero(ok)[0]
                        lower = acc[t, i, j] < d[slot[t]]
                        d[slot[t][lower]] = acc[t, i, j][lower]
                        if lower.any():
                            changed[0] = 1


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_kernel_tiling_mirror_equals_twin(dtype):
    weights = random_weights((9, 70, 66, 5), n_networks=2, seed=7)  # 136 sources: 3 row tiles, 2 col tiles
    n_networks, sizes, offsets, n_hidden, lengths, lengths_t = shortest_paths._prepare(weights, dtype)
    dist = torch.empty(n_networks, n_hidden, offsets[-1], dtype=dtype)
    shortest_paths._init_sources(dist, sizes[0])
    shortest_paths._relax_until_stable(dist, lengths, lengths_t, offsets[:-1], _relax_like_the_kernel)
    assert torch.equal(dist, hidden_distances_twin(weights, dtype))


# --- the kernel on a GPU ----------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("sizes,n", [((6, 5, 3), 3), ((7, 6, 5, 4, 3), 2), ((1, 1, 1), 2), ((9, 70, 66, 5), 4),
                                     ((784, 200, 100, 10), 2)])
def test_gpu_kernel_equals_twin(dtype, sizes, n):
    pytest.importorskip("cupy")
    from engine.measures.shortest_paths import hidden_distances_gpu

    weights = [w.cuda() for w in random_weights(sizes, n, seed=sum(sizes))]
    got = hidden_distances_gpu(weights, dtype)
    assert got.is_cuda and got.dtype == dtype
    # Only additions and minima: bit-identical to the twin (run on the CPU).
    assert torch.equal(got.cpu(), hidden_distances_twin([w.cpu() for w in weights], dtype))
    assert torch.equal(hidden_distances(weights, dtype), got)  # the public entry point takes the kernel path


@pytest.mark.gpu
def test_gpu_kernel_disconnected():
    pytest.importorskip("cupy")
    from engine.measures.shortest_paths import hidden_distances_gpu

    weights = random_weights((8, 70, 5, 4), n_networks=3, seed=3, low=-0.9, high=0.2)
    got = hidden_distances_gpu([w.cuda() for w in weights]).cpu()
    assert torch.isinf(got).any()
    assert torch.equal(got, hidden_distances_twin(weights))


# --- the kernel cannot run: one warning, then the torch twin ---------------------------------------
# Each way the compiled kernel can fail at run time is simulated on CPU tensors sent down
# hidden_distances' kernel path: the error CuPy raises there is raised at the point where CuPy would.

import logging  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402

from engine.measures import cuda_kernels  # noqa: E402


@pytest.fixture
def kernel_path(monkeypatch):
    monkeypatch.setattr(shortest_paths, "_kernel_applies", lambda device: True)
    monkeypatch.setattr(shortest_paths, "_KERNEL_FALLBACK", {})
    cuda_kernels._module.cache_clear()  # on a GPU machine an earlier test may have loaded the real one


def _falls_back_once(caplog, reason: str) -> None:
    """Two calls give the twin's distances, with exactly one warning whose reason matches."""
    weights = random_weights((6, 70, 5, 3), n_networks=2, seed=21)
    with caplog.at_level(logging.WARNING, logger="engine.measures.shortest_paths"):
        first = hidden_distances(weights)
        second = hidden_distances(weights)
    want = hidden_distances_twin(weights)
    assert torch.equal(first, want) and torch.equal(second, want)
    warned = [r.getMessage() for r in caplog.records if "min-plus kernel cannot run" in r.getMessage()]
    assert len(warned) == 1, warned
    assert re.search(reason, warned[0]) and "torch twin" in warned[0] and "\n" not in warned[0]
    assert re.search(reason, shortest_paths.kernel_fallback_reason("cpu"))


def test_fallback_when_cupy_cannot_be_imported(kernel_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError
    _falls_back_once(caplog, r"CuPy cannot be imported \((ModuleNotFound|Import)Error.*cupy-cuda12x.*cupy-cuda13x")


def test_fallback_when_the_driver_is_older_than_cupys_cuda(kernel_path, monkeypatch, caplog):
    cupy = pytest.importorskip("cupy")
    from cupy_backends.cuda.api.runtime import CUDARuntimeError

    def device(index):  # CuPy's first call into a driver older than its CUDA runtime
        raise CUDARuntimeError(35)  # cudaErrorInsufficientDriver

    monkeypatch.setattr(cupy.cuda, "Device", device)
    _falls_back_once(caplog, r"cannot use CUDA device 0 \(CUDARuntimeError: cudaErrorInsufficientDriver")


class _Device:
    """A usable CUDA device, as far as the kernel loader asks."""

    compute_capability = "90"

    def __init__(self, index):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_fallback_on_an_nvrtc_compile_error(kernel_path, monkeypatch, caplog):
    _nvrtc_or_skip()
    import cupy
    from cupy.cuda.compiler import CompileException
    from cupy_backends.cuda.libs import nvrtc

    class RawModule:
        """cupy.RawModule's compile step: real NVRTC, its error raised as CuPy raises it."""

        def __init__(self, code, options):
            self.code, self.options = code, options

        def compile(self):
            prog = nvrtc.createProgram(self.code, "layered_minplus.cu", (), ())
            try:
                nvrtc.compileProgram(prog, ["--gpu-architecture=compute_90", *self.options])
            except nvrtc.NVRTCError:
                raise CompileException(nvrtc.getProgramLog(prog), self.code, "layered_minplus.cu", self.options) from None
            finally:
                nvrtc.destroyProgram(prog)
            raise AssertionError("the broken source compiled")

    broken = cuda_kernels.kernel_source("layered_minplus.cu").replace("positive_infinity<T>();", "undefined_name;", 1)
    monkeypatch.setattr(cuda_kernels, "kernel_source", lambda filename: broken)
    monkeypatch.setattr(cupy.cuda, "Device", _Device)
    monkeypatch.setattr(cupy, "RawModule", RawModule)
    _falls_back_once(caplog, r"NVRTC cannot compile layered_minplus.cu for CUDA device 0 \(CompileException: "
                             r".*undefined_name")


def test_fallback_when_the_module_does_not_load(kernel_path, monkeypatch, caplog):
    cupy = pytest.importorskip("cupy")
    from cupy_backends.cuda.api.driver import CUDADriverError

    class RawModule:
        def __init__(self, code, options):
            pass

        def compile(self):  # NVRTC newer than the driver: cuModuleLoadData refuses the PTX
            raise _driver_error(CUDADriverError, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION: the provided PTX was "
                                                 "compiled with an unsupported toolchain.")

    monkeypatch.setattr(cupy.cuda, "Device", _Device)
    monkeypatch.setattr(cupy, "RawModule", RawModule)
    _falls_back_once(caplog, r"compiled but does not load on CUDA device 0 .*UNSUPPORTED_PTX_VERSION")


def _driver_error(cls, message):
    """A CUDADriverError with a given message (its constructor asks libcuda, absent without a GPU)."""
    err = cls.__new__(cls)
    RuntimeError.__init__(err, message)
    return err


def test_fallback_when_a_launch_fails_midway(kernel_path, monkeypatch, caplog):
    pytest.importorskip("cupy")
    from cupy_backends.cuda.api.driver import CUDADriverError

    monkeypatch.setattr(cuda_kernels, "_module", lambda filename, index, names: dict.fromkeys(names))
    launches = []

    def launch(dist, lengths, changed, *, a_offset, c_offset):
        # A few launches do their work, then one fails: the partly relaxed distances are discarded.
        launches.append(1)
        if len(launches) > 3:
            raise _driver_error(CUDADriverError, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES: too many resources "
                                                 "requested for launch")
        shortest_paths._minplus_relax_torch(dist, lengths, changed, a_offset=a_offset, c_offset=c_offset)

    monkeypatch.setattr(cuda_kernels, "minplus_relax", launch)
    _falls_back_once(caplog, r"failed to launch \(CUDADriverError: CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES")
    assert len(launches) == 4  # the second call went straight to the twin


def test_input_errors_are_not_swallowed_by_the_fallback(kernel_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    weights = random_weights((5, 4, 3), n_networks=1)
    with pytest.raises(EngineError, match="do not chain"):
        hidden_distances([weights[0], weights[0]])
    assert shortest_paths.kernel_fallback_reason("cpu") is None
