"""Dense condensed shortest paths (the GPU path of harmonic centrality): the torch twin against
SciPy's Dijkstra and the CPU method, the CUDA sources against NVRTC (no GPU needed), a NumPy mirror of
the kernels' block and thread index math against the twin, the kernels themselves against the twin
on a GPU, and the fallback to the twin when the kernels cannot run."""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import dijkstra

import engine
from engine.errors import EngineError
from engine.measures import condensed_paths, cuda_kernels, shortest_paths
from engine.measures.shortest_paths import hidden_distances

hidden_distances_twin = functools.partial(hidden_distances, method="twin")
harmonic_centrality_twin = functools.partial(shortest_paths.harmonic_centrality, method="twin")
hidden_distances_gpu = functools.partial(hidden_distances, method="kernels")
harmonic_centrality_gpu = functools.partial(shortest_paths.harmonic_centrality, method="kernels")

GOLDEN = Path(os.environ.get("ENGINE_GOLDEN_DIR", Path(__file__).resolve().parent / "data" / "golden"))
RTOL = 1e-13  # float sums of the same shortest paths, added in another order


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


def assert_same_distances(got: np.ndarray, want: np.ndarray, rtol: float = RTOL) -> None:
    """Same reachability (inf) and zeros; finite distances within rtol."""
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    np.testing.assert_array_equal(got == 0, want == 0)
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=0)


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
        assert_same_distances(got[k].numpy(), scipy_distances([w[k].numpy() for w in weights]))


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_twin_harmonic_equals_the_cpu_method(name):
    sizes, n = SHAPES[name]
    weights = random_weights(sizes, n, seed=len(name) + 1, low=-0.5, high=0.9)
    np.testing.assert_allclose(harmonic_centrality_twin(weights).numpy(),
                               condensed_paths.harmonic([w.numpy() for w in weights]), rtol=1e-12, atol=0)


def test_disconnected_positive_graph_has_inf():
    # Mostly negative weights: the positive graph falls apart into pieces.
    weights = random_weights((8, 6, 5, 4), n_networks=3, seed=3, low=-0.9, high=0.2)
    got = hidden_distances_twin(weights)
    assert torch.isinf(got).any()
    for k in range(3):
        assert_same_distances(got[k].numpy(), scipy_distances([w[k].numpy() for w in weights]))
    # No positive weight at all: every hidden neuron reaches only itself.
    neg = [-w.abs() for w in weights]
    d = hidden_distances_twin(neg)
    expected = torch.full_like(d, float("inf"))
    idx = torch.arange(d.shape[1])
    expected[:, idx, 8 + idx] = 0
    assert torch.equal(d, expected)
    assert torch.equal(harmonic_centrality_twin(neg), torch.zeros(3, 11, dtype=torch.float64))


def test_float32_twin_close_to_float64():
    weights = random_weights((10, 8, 6, 4), n_networks=2, seed=5)
    d32 = hidden_distances_twin([w.float() for w in weights], torch.float32)
    d64 = hidden_distances_twin([w.float() for w in weights], torch.float64)
    assert d32.dtype == torch.float32
    assert torch.equal(torch.isinf(d32), torch.isinf(d64))
    finite = torch.isfinite(d64)
    torch.testing.assert_close(d32[finite].double(), d64[finite], rtol=1e-5, atol=1e-6)
    h32 = harmonic_centrality_twin([w.float() for w in weights], torch.float32)
    assert h32.dtype == torch.float32
    torch.testing.assert_close(h32.double(), harmonic_centrality_twin(weights), rtol=1e-5, atol=0)


def test_dispatch_and_input_checks():
    weights = random_weights((5, 4, 3), n_networks=1)
    assert torch.equal(hidden_distances(weights), hidden_distances_twin(weights))
    assert torch.equal(shortest_paths.harmonic_centrality(weights), harmonic_centrality_twin(weights))
    # 2-D matrices are one network.
    assert torch.equal(hidden_distances([w[0] for w in weights]), hidden_distances_twin(weights))
    with pytest.raises(EngineError, match="do not chain"):
        hidden_distances([weights[0], weights[0]])
    with pytest.raises(EngineError, match="at least 2"):
        hidden_distances(weights[:1])
    with pytest.raises(EngineError, match="float32 or float64"):
        hidden_distances(weights, torch.float16)
    with pytest.raises(EngineError, match="floating-point weights"):
        hidden_distances([weights[0].long(), weights[1]])
    with pytest.raises(EngineError, match="CUDA tensors"):
        hidden_distances_gpu(weights)


@pytest.mark.slow
def test_golden_network_paper_size():
    """The paper's MNIST network (784-200-100-10): twin vs Dijkstra, and its harmonic centrality vs
    the CPU method."""
    path = GOLDEN / "mnist_network1.h5"
    if not path.is_file():
        pytest.skip(f"golden network not found at {path} (set ENGINE_GOLDEN_DIR)")
    from engine.networks import read_network as load_model

    weights = load_model(path).stacked()
    got = hidden_distances_twin(weights, torch.float64)[0].numpy()
    assert_same_distances(got, scipy_distances([w[0].double().numpy() for w in weights]))
    np.testing.assert_allclose(harmonic_centrality_twin(weights).numpy(),
                               condensed_paths.harmonic([w.double().numpy() for w in weights]), rtol=1e-12)


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
    assert "condensed_minplus.cu" in ptx and all(size > 0 for size in ptx.values())


def test_the_compiled_module_has_every_kernel_the_launchers_call():
    _nvrtc_or_skip()
    from cupy_backends.cuda.libs import nvrtc

    source = cuda_kernels._kernel_source(cuda_kernels._MINPLUS_SOURCE)
    prog = nvrtc.createProgram(source, cuda_kernels._MINPLUS_SOURCE, (), ())
    try:
        nvrtc.compileProgram(prog, ["--gpu-architecture=compute_90", *cuda_kernels.NVRTC_OPTIONS])
        ptx = nvrtc.getPTX(prog).decode() if isinstance(nvrtc.getPTX(prog), bytes) else nvrtc.getPTX(prog)
    finally:
        nvrtc.destroyProgram(prog)
    for name in cuda_kernels._MINPLUS_FUNCTIONS:
        assert re.search(rf"\.entry\s+{name}\s*\(", ptx), f"kernel {name} missing from the PTX"


def test_tile_sizes_come_only_from_the_compile_options():
    """kernels/condensed_minplus.cu takes its tile sizes from cuda_kernels.TILES (-D options): without
    them it does not compile, and the .cu defines none of them itself."""
    _nvrtc_or_skip()
    from cupy_backends.cuda.libs import nvrtc

    source = cuda_kernels._kernel_source(cuda_kernels._MINPLUS_SOURCE)
    assert not re.search(rf"#define\s+({'|'.join(cuda_kernels.TILES)})\b", source)
    prog = nvrtc.createProgram(source, cuda_kernels._MINPLUS_SOURCE, (), ())
    try:
        with pytest.raises(nvrtc.NVRTCError, match="NVRTC_ERROR_COMPILATION"):
            nvrtc.compileProgram(prog, ["--gpu-architecture=compute_90", "-std=c++17"])
        assert "compile with the tile sizes as -D options" in nvrtc.getProgramLog(prog)
    finally:
        nvrtc.destroyProgram(prog)


def test_nvrtc_failure_reports_the_log(tmp_path, monkeypatch):
    _nvrtc_or_skip()
    (tmp_path / "broken.cu").write_text('extern "C" __global__ void k(float* x) { x[0] = undefined_name; }\n')
    monkeypatch.setattr(cuda_kernels, "kernels_dir", lambda: tmp_path)
    with pytest.raises(EngineError, match="broken.cu does not compile(.|\n)*undefined_name"):
        cuda_kernels.compile_all_sources()


def test_missing_kernels_directory_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "__file__", str(tmp_path / "engine" / "__init__.py"))
    with pytest.raises(EngineError, match="kernel sources not found"):
        cuda_kernels.kernels_dir()


def test_kernel_launchers_refuse_cpu_tensors_and_bad_shapes():
    d = torch.zeros(1, 32, 32, dtype=torch.float64)
    with pytest.raises(EngineError, match="CUDA tensors"):
        cuda_kernels.minplus_update(d, d, d)
    with pytest.raises(EngineError, match="float32 and float64"):
        cuda_kernels.minplus_update(d.half(), d.half(), d.half())
    with pytest.raises(EngineError, match="same dtype|dtype torch.float64"):
        cuda_kernels.minplus_reciprocal(d, d.float())
    with pytest.raises(EngineError, match="CUDA tensors"):
        cuda_kernels.fw_diag(d, 0)
    with pytest.raises(EngineError, match="CUDA tensors"):
        cuda_kernels.fw_panels(d, 0)


# A NumPy mirror of kernels/condensed_minplus.cu's block and thread index math (the A and B tile
# staging, the 4x4 micro-tiles, bounds and skip checks, the fixed-order reciprocal sums, the
# Floyd-Warshall blocks and panels) and of its launchers in engine/measures/cuda_kernels.py. It
# lets CPU-only CI check the kernels' indexing against the twin; keep it in step with the .cu. The tile
# sizes are the ones the kernels are compiled with (cuda_kernels.TILES).
TILE_M, TILE_N, TILE_K, FW = (cuda_kernels.TILES[k] for k in ("TILE_M", "TILE_N", "TILE_K", "FW_BLOCK"))
THREADS = cuda_kernels.TILES["THREADS_X"]
assert THREADS == cuda_kernels.TILES["THREADS_Y"], "the mirror assumes square thread blocks"
MICRO = TILE_M // THREADS


def _flat(t: torch.Tensor) -> tuple[np.ndarray, int]:
    """The whole storage of ``t`` as a flat NumPy view (writes go through) and t's offset in it."""
    n = t.untyped_storage().nbytes() // t.element_size()
    return torch.as_strided(t, (n,), (1,), 0).numpy(), t.storage_offset()


def _stage(flat, base, ld, row0, col0, rows, cols, tile_rows, tile_cols, tid, dtype):
    """One (tile_rows, tile_cols) tile of a (rows, cols) matrix of leading dimension ``ld`` at
    flat[base:], as the block's threads stage it: pass r, thread t loads element e = t + r * threads
    of the tile, at (e // tile_cols, e % tile_cols); inf outside the matrix."""
    tile = np.full((tile_rows, tile_cols), np.nan, dtype)
    for r in range(tile_rows * tile_cols // tid.size):
        e = tid + r * tid.size
        i, j = e // tile_cols, e % tile_cols
        ok = (row0 + i < rows) & (col0 + j < cols)
        tile[i, j] = np.where(ok, flat[np.where(ok, base + (row0 + i) * ld + col0 + j, 0)], np.inf)
    return tile


def _mirror_tile(a, a0, lda, b, b0, ldb, m, n, k_len, row0, col0, dtype):
    """minplus_tile: (256 threads, 4, 4) accumulators of one block tile."""
    tid = np.arange(THREADS * THREADS)
    tx, ty = tid % THREADS, tid // THREADS
    acc = np.full((tid.size, MICRO, MICRO), np.inf, dtype)
    for k0 in range(0, k_len, TILE_K):
        # the kernel keeps A's tile transposed, (TILE_K, TILE_M + 1): the padding column is never read
        a_tile = _stage(a, a0, lda, row0, k0, m, k_len, TILE_M, TILE_K, tid, dtype).T
        b_tile = _stage(b, b0, ldb, k0, col0, k_len, n, TILE_K, TILE_N, tid, dtype)
        for kk in range(TILE_K):
            av = np.stack([a_tile[kk, ty + i * THREADS] for i in range(MICRO)], 1)
            bv = np.stack([b_tile[kk, tx + j * THREADS] for j in range(MICRO)], 1)
            acc = np.fmin(acc, av[:, :, None] + bv[:, None, :])
    return acc, tx, ty


class MirrorOps:
    @staticmethod
    def minplus_update(c, a, b, skip=(0, 0)):
        (cf, c0), (af, a0), (bf, b0) = _flat(c), _flat(a), _flat(b)
        batch, m, n = c.shape
        k_len = a.shape[2]
        for z in range(batch):
            for by in range(-(-m // TILE_M)):
                for bx in range(-(-n // TILE_N)):
                    row0, col0 = by * TILE_M, bx * TILE_N
                    acc, tx, ty = _mirror_tile(af, a0 + z * a.stride(0), a.stride(1), bf, b0 + z * b.stride(0),
                                               b.stride(1), m, n, k_len, row0, col0, cf.dtype)
                    for i in range(MICRO):
                        gm = row0 + ty + i * THREADS
                        for j in range(MICRO):
                            gn = col0 + tx + j * THREADS
                            ok = (gm < m) & ~((gm >= skip[0]) & (gm < skip[1])) & (gn < n) & \
                                ~((gn >= skip[0]) & (gn < skip[1]))
                            t = np.nonzero(ok)[0]
                            slot = c0 + z * c.stride(0) + gm[t] * c.stride(1) + gn[t]
                            lower = acc[t, i, j] < cf[slot]
                            cf[slot[lower]] = acc[t, i, j][lower]

    @staticmethod
    def minplus_reciprocal(a, b):
        (af, a0), (bf, b0) = _flat(a), _flat(b)
        batch, m, k_len = a.shape
        n = b.shape[2]
        tiles = -(-n // TILE_N)
        partial = np.zeros((batch, m, tiles), af.dtype)
        for z in range(batch):
            for by in range(-(-m // TILE_M)):
                for bx in range(tiles):
                    row0, col0 = by * TILE_M, bx * TILE_N
                    acc, tx, ty = _mirror_tile(af, a0 + z * a.stride(0), a.stride(1), bf, b0 + z * b.stride(0),
                                               b.stride(1), m, n, k_len, row0, col0, af.dtype)
                    row_sums = np.zeros((TILE_M, THREADS), af.dtype)
                    for i in range(MICRO):
                        s = np.zeros(tx.size, af.dtype)
                        for j in range(MICRO):
                            d = acc[:, i, j]
                            ok = (col0 + tx + j * THREADS < n) & (d > 0) & np.isfinite(d)
                            with np.errstate(divide="ignore"):
                                s = np.where(ok, s + np.asarray(1, af.dtype) / d, s)
                        row_sums[ty + i * THREADS, tx] = s
                    for row in range(TILE_M):
                        if row0 + row < m:
                            total = np.asarray(0, af.dtype)
                            for t in range(THREADS):
                                total = total + row_sums[row, t]
                            partial[z, row0 + row, bx] = total
        return torch.from_numpy(partial).sum(2)

    @staticmethod
    def fw_diag(d, k0):
        df, _ = _flat(d)
        for z in range(d.shape[0]):
            addr = _fw_block(d, z, k0, k0)
            df[addr] = _fw_relax(df[addr].copy())

    @staticmethod
    def fw_panels(d, k0):
        df, _ = _flat(d)
        for z in range(d.shape[0]):
            for by in range(2):
                for bx in range(d.shape[1] // FW):
                    t0 = bx * FW
                    if t0 == k0:
                        continue
                    r0, c0 = (k0, t0) if by == 0 else (t0, k0)
                    diag = df[_fw_block(d, z, k0, k0)].copy()
                    addr = _fw_block(d, z, r0, c0)
                    df[addr] = _fw_relax(df[addr].copy(), **{"left" if by == 0 else "right": diag})


def _fw_block(d, z, r0, c0):
    """The flat addresses of the FW x FW block at rows r0.., columns c0.. of network z's (n, n) matrix."""
    i, j = np.meshgrid(np.arange(FW), np.arange(FW), indexing="ij")
    return z * d.stride(0) + (r0 + i) * d.shape[1] + c0 + j


def _fw_relax(block, left=None, right=None):
    """Floyd-Warshall through the block's FW pivots k: block[i, j] = min(block[i, j], left[i, k] +
    right[k, j]); ``left`` and ``right`` default to the block itself as it is updated (the diagonal
    block); a row panel passes left=the diagonal block, a column panel right=it."""
    for k in range(FW):
        lhs, rhs = (block if left is None else left), (block if right is None else right)
        v = lhs[:, k:k + 1] + rhs[k:k + 1, :]
        block = np.where(v < block, v, block)
    return block

@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("sizes,n", [((9, 70, 66, 5), 2),   # 136 hidden: 5 Floyd-Warshall blocks, 3 row tiles
                                     ((20, 40, 3), 2),      # one hidden layer: inputs and outputs hop in it
                                     ((1, 1, 1), 1)])
def test_kernel_mirror_equals_twin(dtype, sizes, n):
    weights = random_weights(sizes, n_networks=n, seed=7, low=-0.6, high=0.9)
    prepared = shortest_paths._prepare(weights, dtype)
    assert torch.equal(shortest_paths._distances(prepared, MirrorOps), shortest_paths._distances(prepared,
                                                                                                 shortest_paths._TwinOps))
    torch.testing.assert_close(shortest_paths._harmonic(prepared, MirrorOps),
                               shortest_paths._harmonic(prepared, shortest_paths._TwinOps),
                               rtol=1e-14 if dtype == torch.float64 else 1e-6, atol=0)


def test_mirror_skip_range_and_strided_views():
    """minplus_update on views (leading dimension > columns) leaves the skipped rows and columns and
    every entry outside the view untouched, as the twin does."""
    g = torch.Generator().manual_seed(3)
    base = torch.rand(2, 96, 96, generator=g, dtype=torch.float64)
    a = torch.rand(2, 70, 20, generator=g, dtype=torch.float64)
    b = torch.rand(2, 20, 80, generator=g, dtype=torch.float64) - 0.2
    got, want = base.clone(), base.clone()
    MirrorOps.minplus_update(got[:, 5:75, 10:90], a, b, (30, 50))
    shortest_paths._TwinOps.minplus_update(want[:, 5:75, 10:90], a, b, (30, 50))
    assert torch.equal(got, want) and not torch.equal(got, base)


# --- the kernels on a GPU ---------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("sizes,n", [((6, 5, 3), 3), ((7, 6, 5, 4, 3), 2), ((1, 1, 1), 2), ((9, 70, 66, 5), 4),
                                     ((20, 40, 3), 2), ((784, 200, 100, 10), 2)])
def test_gpu_kernels_equal_twin(dtype, sizes, n):
    pytest.importorskip("cupy")

    weights = [w.cuda() for w in random_weights(sizes, n, seed=sum(sizes))]
    got = hidden_distances_gpu(weights, dtype)
    assert got.is_cuda and got.dtype == dtype
    cpu = [w.cpu() for w in weights]
    # Additions and minima only: bit-identical to the twin (run on the CPU).
    assert torch.equal(got.cpu(), hidden_distances_twin(cpu, dtype))
    assert torch.equal(hidden_distances(weights, dtype), got)  # the public entry point takes the kernel path
    h = harmonic_centrality_gpu(weights, dtype)
    torch.testing.assert_close(h.cpu(), harmonic_centrality_twin(cpu, dtype),
                               rtol=1e-13 if dtype == torch.float64 else 1e-5, atol=0)
    assert shortest_paths.kernel_fallback_reason(weights[0].device) is None


@pytest.mark.gpu
def test_gpu_kernels_disconnected():
    pytest.importorskip("cupy")

    weights = random_weights((8, 70, 5, 4), n_networks=3, seed=3, low=-0.9, high=0.2)
    got = hidden_distances_gpu([w.cuda() for w in weights]).cpu()
    assert torch.isinf(got).any()
    assert torch.equal(got, hidden_distances_twin(weights))
    torch.testing.assert_close(harmonic_centrality_gpu([w.cuda() for w in weights]).cpu(),
                               harmonic_centrality_twin(weights), rtol=1e-13, atol=0)


# --- the kernels cannot run: one warning, then the torch twin --------------------------------------
# Each way the compiled kernels can fail at run time is simulated on CPU tensors sent down
# hidden_distances' kernel path: the error CuPy raises there is raised at the point where CuPy would.

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
    warned = [r.getMessage() for r in caplog.records if "min-plus kernels cannot run" in r.getMessage()]
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
            prog = nvrtc.createProgram(self.code, "condensed_minplus.cu", (), ())
            try:
                nvrtc.compileProgram(prog, ["--gpu-architecture=compute_90", *self.options])
            except nvrtc.NVRTCError:
                raise CompileException(nvrtc.getProgramLog(prog), self.code, "condensed_minplus.cu", self.options) from None
            finally:
                nvrtc.destroyProgram(prog)
            raise AssertionError("the broken source compiled")

    broken = cuda_kernels._kernel_source("condensed_minplus.cu").replace("positive_infinity<T>();", "undefined_name;", 1)
    monkeypatch.setattr(cuda_kernels, "_kernel_source", lambda filename: broken)
    monkeypatch.setattr(cupy.cuda, "Device", _Device)
    monkeypatch.setattr(cupy, "RawModule", RawModule)
    _falls_back_once(caplog, r"NVRTC cannot compile condensed_minplus.cu for CUDA device 0 \(CompileException: "
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

    def launching(name):
        # A few launches do their work, then one fails: the partly computed distances are discarded.
        def launch(*args):
            launches.append(name)
            if len(launches) > 3:
                raise _driver_error(CUDADriverError, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES: too many resources "
                                                     "requested for launch")
            return getattr(shortest_paths._TwinOps, name)(*args)
        return launch

    for name in ("minplus_update", "minplus_reciprocal", "fw_diag", "fw_panels"):
        monkeypatch.setattr(cuda_kernels, name, launching(name))
    _falls_back_once(caplog, r"failed to launch \(CUDADriverError: CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES")
    assert len(launches) == 4  # the second call went straight to the twin


def test_input_errors_are_not_swallowed_by_the_fallback(kernel_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    weights = random_weights((5, 4, 3), n_networks=1)
    with pytest.raises(EngineError, match="do not chain"):
        hidden_distances([weights[0], weights[0]])
    assert shortest_paths.kernel_fallback_reason("cpu") is None
