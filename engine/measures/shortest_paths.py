"""Shortest paths from every hidden neuron on the positive layered graph, batched over networks.

The positive graph of an MLP joins consecutive layers only, with edge length = weight where the
weight is > 0. Distances from a batch of sources are a matrix (sources x nodes) whose layer column
ranges are relaxed block by block with a min-plus product against the dense block of lengths:
forward through the layers, then backward, until nothing decreases (Bellman-Ford ordered by layers).
The fixed point is exactly Dijkstra's result: each distance is the left-to-right float sum along a
best path, whatever the order of the relaxations.

The same sweep driver runs on both backends: the CUDA kernel in ``kernels/layered_minplus.cu`` on
GPU, and its torch twin (``hidden_distances_twin``) anywhere else. If the kernel cannot be compiled,
loaded or launched on a GPU (``cuda_kernels.KernelUnavailable``), ``hidden_distances`` warns once
per device, naming the cause, and uses the twin on that GPU from then on.
"""

from __future__ import annotations

import logging
from typing import Callable, NamedTuple, Sequence

import torch

from engine.errors import EngineError
from engine.measures import cuda_kernels
from engine.measures.cuda_kernels import KernelUnavailable

log = logging.getLogger(__name__)

# device -> why the CUDA kernel cannot run there (the twin is used on it; warned once)
_KERNEL_FALLBACK: dict[str, str] = {}

# Elements of the broadcast temporary (sources x k-chunk x targets) in the torch twin: ~128 MiB in float64.
_TWIN_TEMP_ELEMENTS = 1 << 24

Relax = Callable[..., None]


def layer_sizes(weights: Sequence[torch.Tensor]) -> list[int]:
    """Neurons per layer (inputs, hidden..., outputs) of a checked weight stack."""
    return [int(weights[0].shape[-2])] + [int(w.shape[-1]) for w in weights]


def _check_weights(weights: Sequence[torch.Tensor], dtype: torch.dtype) -> list[torch.Tensor]:
    """Validate a stack of (N, n_l, n_{l+1}) weight tensors (2-D means N = 1); return them 3-D."""
    if dtype not in (torch.float32, torch.float64):
        raise EngineError(f"shortest paths support dtype float32 or float64, got {dtype}")
    if len(weights) < 2:
        raise EngineError(f"need at least 2 weight matrices (one hidden layer) to have hidden neurons, "
                          f"got {len(weights)}")
    stack = []
    for i, w in enumerate(weights):
        if not isinstance(w, torch.Tensor) or not w.is_floating_point() or w.dim() not in (2, 3):
            raise EngineError(f"weights[{i}] must be a floating tensor of shape (N, fan_in, fan_out), got "
                              f"{type(w).__name__} {tuple(getattr(w, 'shape', ()))}")
        stack.append(w if w.dim() == 3 else w.unsqueeze(0))
    n_networks, device = stack[0].shape[0], stack[0].device
    for i, w in enumerate(stack):
        if w.shape[0] != n_networks or w.device != device:
            raise EngineError(f"weights[{i}] has {w.shape[0]} networks on {w.device}; weights[0] has "
                              f"{n_networks} on {device}: all layers need the same networks and device")
        if i and w.shape[1] != stack[i - 1].shape[2]:
            raise EngineError(f"layer shapes do not chain: weights[{i - 1}] is {tuple(stack[i - 1].shape)}, "
                              f"weights[{i}] is {tuple(w.shape)} (fan_out of one must be fan_in of the next)")
    return stack


def edge_lengths(weights: Sequence[torch.Tensor], dtype: torch.dtype) -> list[torch.Tensor]:
    """Edge lengths of the positive graph per layer block: the weight where weight > 0, else +inf."""
    inf = torch.tensor(float("inf"), dtype=dtype, device=weights[0].device)
    # The edge set is decided on the original weights, before any change of precision.
    return [torch.where(w > 0, w.to(dtype), inf).contiguous() for w in weights]


def _minplus_relax_torch(dist: torch.Tensor, lengths: torch.Tensor, changed: torch.Tensor, *, a_offset: int,
                         c_offset: int) -> None:
    """Torch twin of the CUDA kernel: C <- min(C, A (x) B) on column ranges of ``dist``, in place."""
    batch, n_sources, _ = dist.shape
    n_k, n_c = lengths.shape[1:]
    a = dist[:, :, a_offset:a_offset + n_k]
    c = dist[:, :, c_offset:c_offset + n_c]
    k_chunk = max(1, _TWIN_TEMP_ELEMENTS // max(1, batch * n_sources * n_c))
    best = None
    for k0 in range(0, n_k, k_chunk):
        k1 = min(n_k, k0 + k_chunk)
        cand = (a[:, :, k0:k1, None] + lengths[:, None, k0:k1, :]).amin(dim=2)
        best = cand if best is None else torch.minimum(best, cand)
    lowered = best < c
    c.copy_(torch.where(lowered, best, c))
    changed.bitwise_or_(lowered.any().to(torch.int32))


def _relax_until_stable(dist: torch.Tensor, lengths: list[torch.Tensor], lengths_t: list[torch.Tensor],
                        offsets: list[int], relax: Relax) -> int:
    """Sweep forward and backward through the layer blocks until no distance decreases; returns sweeps."""
    changed = torch.zeros(1, dtype=torch.int32, device=dist.device)
    n_nodes = dist.shape[-1]
    # Each sweep fixes at least one more edge of every shortest path: n_nodes sweeps always suffice.
    for sweep in range(1, n_nodes + 2):
        changed.zero_()
        for l, block in enumerate(lengths):
            relax(dist, block, changed, a_offset=offsets[l], c_offset=offsets[l + 1])
        for l in reversed(range(len(lengths))):
            relax(dist, lengths_t[l], changed, a_offset=offsets[l + 1], c_offset=offsets[l])
        if not bool(changed.item()):  # the one host synchronisation per sweep
            return sweep
    raise EngineError(f"shortest paths did not converge in {n_nodes + 1} sweeps (non-finite weights?)")


def _init_sources(dist: torch.Tensor, first_node: int) -> None:
    """Distances +inf, except 0 from source s to its own node ``first_node + s``."""
    dist.fill_(float("inf"))
    idx = torch.arange(dist.shape[1], device=dist.device)
    dist[:, idx, first_node + idx] = 0


class _Prepared(NamedTuple):
    n_networks: int
    sizes: list[int]
    offsets: list[int]
    n_hidden: int
    lengths: list[torch.Tensor]
    lengths_t: list[torch.Tensor]

    @property
    def device(self) -> torch.device:
        return self.lengths[0].device


def _prepare(weights: Sequence[torch.Tensor], dtype: torch.dtype) -> _Prepared:
    stack = _check_weights(weights, dtype)
    sizes = layer_sizes(stack)
    offsets = [0]
    for n in sizes:
        offsets.append(offsets[-1] + n)
    lengths = edge_lengths(stack, dtype)
    lengths_t = [b.transpose(1, 2).contiguous() for b in lengths]
    n_hidden = sum(sizes[1:-1])
    return _Prepared(stack[0].shape[0], sizes, offsets, n_hidden, lengths, lengths_t)


def hidden_distances_twin(weights: Sequence[torch.Tensor], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Torch twin of the GPU kernel (any device): distances (N, H, n_nodes) from every hidden neuron.

    Nodes are ordered inputs, hidden layers, outputs; H = hidden neurons in layer order, so hidden
    neuron h is node ``n_inputs + h``. +inf where unreachable, 0 to itself. Chunked over sources so
    the broadcast temporaries stay bounded.
    """
    return _twin_distances(_prepare(weights, dtype))


def _twin_distances(prepared: _Prepared) -> torch.Tensor:
    n_networks, sizes, offsets, n_hidden, lengths, lengths_t = prepared
    dtype = lengths[0].dtype
    n_nodes = offsets[-1]
    out = torch.empty(n_networks, n_hidden, n_nodes, dtype=dtype, device=lengths[0].device)
    widest = max(sizes)
    source_chunk = max(1, min(n_hidden, _TWIN_TEMP_ELEMENTS // max(1, n_networks * widest * 8)))
    for s0 in range(0, n_hidden, source_chunk):
        s1 = min(n_hidden, s0 + source_chunk)
        dist = torch.empty(n_networks, s1 - s0, n_nodes, dtype=dtype, device=out.device)
        _init_sources(dist, sizes[0] + s0)
        _relax_until_stable(dist, lengths, lengths_t, offsets[:-1], _minplus_relax_torch)
        out[:, s0:s1] = dist
    return out


def _device_index(device: torch.device) -> int:
    if device.index is not None:
        return device.index
    return torch.cuda.current_device() if device.type == "cuda" else 0


def _device_key(device: torch.device) -> str:
    return f"{device.type}:{_device_index(device)}"


def _kernel_applies(device: torch.device) -> bool:
    """Whether the CUDA kernel is the one to try for tensors on ``device``."""
    return device.type == "cuda"


def _kernel_distances(prepared: _Prepared, device: torch.device) -> torch.Tensor:
    """The sweeps with the CUDA kernel; KernelUnavailable if it cannot be compiled, loaded or launched."""
    n_networks, sizes, offsets, n_hidden, lengths, lengths_t = prepared
    # Import, driver, NVRTC and module load fail here, before any work.
    cuda_kernels.load_minplus(_device_index(device))
    dist = torch.empty(n_networks, n_hidden, offsets[-1], dtype=lengths[0].dtype, device=device)
    _init_sources(dist, sizes[0])
    try:
        sweeps = _relax_until_stable(dist, lengths, lengths_t, offsets[:-1], cuda_kernels.minplus_relax)
    except cuda_kernels.launch_errors() as e:
        raise cuda_kernels.launch_failure(e) from e
    log.debug("layered min-plus shortest paths converged in %d sweeps", sweeps)
    return dist


def hidden_distances_gpu(weights: Sequence[torch.Tensor], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The CUDA-kernel version of ``hidden_distances_twin`` (CUDA tensors); no fallback: raises
    ``KernelUnavailable`` if the kernel cannot run."""
    prepared = _prepare(weights, dtype)
    device = prepared.device
    if device.type != "cuda":
        raise EngineError("hidden_distances_gpu needs CUDA tensors; use hidden_distances_twin on CPU")
    return _kernel_distances(prepared, device)


def kernel_fallback_reason(device: torch.device | str) -> str | None:
    """Why ``hidden_distances`` uses the torch twin instead of the CUDA kernel on ``device`` (None: it
    has not had to)."""
    return _KERNEL_FALLBACK.get(_device_key(torch.device(device)))


def hidden_distances(weights: Sequence[torch.Tensor], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Distances (N, H, n_nodes) from every hidden neuron to every node of the positive graph.

    Weights are the raw signed weights, a list of (N, n_l, n_{l+1}) tensors; edge length = weight
    where weight > 0. On CUDA tensors the CUDA kernel runs; where it cannot (see the module
    docstring), and on any other device, the torch twin.
    """
    prepared = _prepare(weights, dtype)
    device = prepared.device
    key = _device_key(device)
    if _kernel_applies(device) and key not in _KERNEL_FALLBACK:
        try:
            return _kernel_distances(prepared, device)
        except KernelUnavailable as e:
            _KERNEL_FALLBACK[key] = str(e)
            log.warning("the CUDA min-plus kernel cannot run on %s: %s. Shortest paths (harmonic centrality) "
                        "use its torch twin there instead (same results, slower)", key, e)
    return _twin_distances(prepared)
