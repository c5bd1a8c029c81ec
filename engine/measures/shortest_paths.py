"""Condensed shortest paths between hidden neurons, dense and batched over networks: the GPU path of
harmonic centrality (CUDA kernels in ``kernels/condensed_minplus.cu``) and its torch twin.

Inputs touch only hidden layer 1 and outputs only the last hidden layer, so a shortest path between
hidden neurons is a chain of hidden-hidden synapses and hops a-x-b through one leaf x (an input or
an output) of length w(x, a) + w(x, b) (``engine.measures.condensed_paths`` has the argument). Per
network, with edge length = weight where the weight is > 0:

1. ``D``: the (n, n) lengths between hidden neurons (n padded to a multiple of 32 with isolated
   nodes), 0 on the diagonal; the leaves condensed in by a min-plus product,
   D[L1, L1] = min(D[L1, L1], W1^T (x) W1) with (A (x) B)[i, j] = min_k A[i, k] + B[k, j], and the
   same through the outputs;
2. blocked Floyd-Warshall closes D: per diagonal block K of 32 nodes, the block (``fw_diag``), its
   row and column panels (``fw_panels``), then all other entries by one min-plus product of rank 32;
3. distances to the leaves are min-plus products again, d(s, x) = min_a D[s, a] + w(x, a): for
   harmonic centrality only their reciprocals' sums are kept (``minplus_reciprocal``).

About 1.2e8 min-plus operations per 784-200-100-10 network (condensing 3.1e7, closing 3.9e7, the
leaves 4.7e7) and 3.5 MB of float64, GEMM-shaped. The same driver runs the phases with the CUDA
kernels on a GPU and with torch operations (the twin) anywhere else; the distances agree bit for
bit, since every entry is the minimum of the same exact float sums, and the reciprocal sums agree
to rounding. Distances equal Dijkstra's within a few units in the last place (the additions of a
path come in another order). If the kernels cannot be compiled, loaded or launched on a GPU
(``cuda_kernels.KernelUnavailable``), the twin runs there, with one warning per device naming why.
"""

from __future__ import annotations

import logging
from typing import NamedTuple, Sequence

import torch

from engine.errors import EngineError
from engine.weight_stack import check_compute_dtype, check_weight_stack, layer_sizes
from engine.measures import cuda_kernels
from engine.measures.cuda_kernels import FW_BLOCK, KernelUnavailable

__all__ = ["harmonic_centrality", "harmonic_centrality_of_blocks", "hidden_distances",
           "kernel_fallback_reason"]

log = logging.getLogger(__name__)

_METHODS = ("kernels", "twin")

# device -> why the CUDA kernels cannot run there (the twin is used on it; warned once)
_KERNEL_FALLBACK: dict[str, str] = {}

# Elements of the broadcast temporary (batch x rows x k-chunk x columns) of the twin: ~128 MiB in float64.
_TWIN_TEMP_ELEMENTS = 1 << 24


def _checked(weights: Sequence, dtype: torch.dtype) -> list[torch.Tensor]:
    """The public functions' edge: a floating weight stack with hidden neurons, a compute dtype."""
    check_compute_dtype(dtype)
    return check_weight_stack(weights, min_layers=2, floating=True)


def _edge_lengths(weights: Sequence[torch.Tensor], dtype: torch.dtype) -> list[torch.Tensor]:
    """Edge lengths of the positive graph per layer block: the weight where weight > 0, else +inf."""
    inf = torch.tensor(float("inf"), dtype=dtype, device=weights[0].device)
    # The edge set is decided on the original weights, before any change of precision.
    return [torch.where(w > 0, w.to(dtype), inf).contiguous() for w in weights]


class _Prepared(NamedTuple):
    sizes: list[int]
    lengths: list[torch.Tensor]     # per block (N, n_l, n_{l+1}), inf where no edge
    n_hidden: int
    n_padded: int                   # n_hidden rounded up to a multiple of FW_BLOCK

    @property
    def n_networks(self) -> int:
        return self.lengths[0].shape[0]

    @property
    def out_offset(self) -> int:
        """Index of the last hidden layer's first neuron among the hidden neurons."""
        return self.n_hidden - self.sizes[-2]

    @property
    def device(self) -> torch.device:
        return self.lengths[0].device


def _prepare(stack: list[torch.Tensor], dtype: torch.dtype) -> _Prepared:
    """The lengths and sizes of a checked stack of (N, n_l, n_{l+1}) blocks."""
    sizes = layer_sizes(stack)
    n_hidden = sum(sizes[1:-1])
    return _Prepared(sizes, _edge_lengths(stack, dtype), n_hidden, -(-n_hidden // FW_BLOCK) * FW_BLOCK)


# --- the phases' operations: torch (the twin) and the CUDA kernels ----------------------------------------

class _TwinOps:
    """The kernels' operations in torch, on any device: same arguments, same results."""

    @staticmethod
    def minplus_update(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor, skip: tuple[int, int] = (0, 0)) -> None:
        best = _minplus(a, b)
        if skip[0] < skip[1]:  # rows and columns in skip keep their values
            best[:, skip[0]:skip[1], :] = float("inf")
            best[:, :, skip[0]:skip[1]] = float("inf")
        torch.minimum(c, best, out=best)
        c.copy_(best)

    @staticmethod
    def minplus_reciprocal(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d = _minplus(a, b)
        return torch.where((d > 0) & torch.isfinite(d), 1.0 / d, torch.zeros((), dtype=d.dtype, device=d.device)).sum(2)

    @staticmethod
    def fw_diag(d: torch.Tensor, k0: int) -> None:
        blk = d[:, k0:k0 + FW_BLOCK, k0:k0 + FW_BLOCK]
        for k in range(FW_BLOCK):  # row k and column k do not change at step k (d[k, k] = 0)
            blk.copy_(torch.minimum(blk, blk[:, :, k:k + 1] + blk[:, k:k + 1, :]))

    @staticmethod
    def fw_panels(d: torch.Tensor, k0: int) -> None:
        k1 = k0 + FW_BLOCK
        diag = d[:, k0:k1, k0:k1]
        for cols in (slice(0, k0), slice(k1, d.shape[2])):
            row_panel = d[:, k0:k1, cols]
            for k in range(FW_BLOCK):
                row_panel.copy_(torch.minimum(row_panel, diag[:, :, k:k + 1] + row_panel[:, k:k + 1, :]))
        for rows in (slice(0, k0), slice(k1, d.shape[1])):
            col_panel = d[:, rows, k0:k1]
            for k in range(FW_BLOCK):
                col_panel.copy_(torch.minimum(col_panel, col_panel[:, :, k:k + 1] + diag[:, k:k + 1, :]))


def _minplus(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(batch, m, n) min-plus product of a (batch, m, k) and b (batch, k, n), chunked over the
    networks and k so that the broadcast temporary stays under _TWIN_TEMP_ELEMENTS."""
    batch, m, k = a.shape
    n = b.shape[2]
    best = torch.full((batch, m, n), float("inf"), dtype=a.dtype, device=a.device)
    nets = max(1, _TWIN_TEMP_ELEMENTS // max(1, m * n))
    for b0 in range(0, batch, nets):
        b1 = min(batch, b0 + nets)
        chunk = max(1, _TWIN_TEMP_ELEMENTS // max(1, (b1 - b0) * m * n))
        for k0 in range(0, k, chunk):
            k1 = min(k, k0 + chunk)
            part = (a[b0:b1, :, k0:k1, None] + b[b0:b1, None, k0:k1, :]).amin(dim=2)
            torch.minimum(best[b0:b1], part, out=best[b0:b1])
    return best


class _KernelOps:
    """The CUDA kernels of ``kernels/condensed_minplus.cu``, launched by ``engine.measures.cuda_kernels``."""

    @staticmethod
    def minplus_update(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor, skip: tuple[int, int] = (0, 0)) -> None:
        cuda_kernels.minplus_update(c, a, b, skip)

    @staticmethod
    def minplus_reciprocal(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return cuda_kernels.minplus_reciprocal(a, b)

    @staticmethod
    def fw_diag(d: torch.Tensor, k0: int) -> None:
        cuda_kernels.fw_diag(d, k0)

    @staticmethod
    def fw_panels(d: torch.Tensor, k0: int) -> None:
        cuda_kernels.fw_panels(d, k0)


# --- the driver: the same phases whatever the ops ----------------------------------------------------------

def _closed_hidden_distances(p: _Prepared, ops, w_in_t: torch.Tensor) -> torch.Tensor:
    """(N, n_padded, n_padded) shortest-path distances between hidden neurons (phases 1 and 2);
    ``w_in_t``: the input lengths transposed, (N, layer 1, inputs), contiguous."""
    n, h, o = p.n_padded, p.n_hidden, p.out_offset
    d = torch.full((p.n_networks, n, n), float("inf"), dtype=p.lengths[0].dtype, device=p.device)
    d.diagonal(dim1=1, dim2=2).zero_()
    first = 0
    for block in p.lengths[1:-1]:  # synapses between consecutive hidden layers, both directions
        n_a, n_b = block.shape[1:]
        d[:, first:first + n_a, first + n_a:first + n_a + n_b] = block
        d[:, first + n_a:first + n_a + n_b, first:first + n_a] = block.transpose(1, 2)
        first += n_a
    w_in, w_out = p.lengths[0], p.lengths[-1]  # (N, inputs, layer 1), (N, last hidden, outputs)
    n1 = w_in.shape[2]
    ops.minplus_update(d[:, :n1, :n1], w_in_t, w_in)
    ops.minplus_update(d[:, o:h, o:h], w_out, w_out.transpose(1, 2).contiguous())
    for k0 in range(0, n, FW_BLOCK):
        ops.fw_diag(d, k0)
        ops.fw_panels(d, k0)
        ops.minplus_update(d, d[:, :, k0:k0 + FW_BLOCK], d[:, k0:k0 + FW_BLOCK, :], (k0, k0 + FW_BLOCK))
    return d


def _harmonic(p: _Prepared, ops) -> torch.Tensor:
    """(N, H) harmonic centrality: 1 / distance summed over the hidden neurons, inputs and outputs."""
    w_in, w_out = p.lengths[0], p.lengths[-1]
    w_in_t = w_in.transpose(1, 2).contiguous()
    d = _closed_hidden_distances(p, ops, w_in_t)[:, :p.n_hidden, :p.n_hidden]
    zero = torch.zeros((), dtype=d.dtype, device=d.device)
    total = torch.where((d > 0) & torch.isfinite(d), 1.0 / torch.where(d > 0, d, 1), zero).sum(2)
    total = total + ops.minplus_reciprocal(d[:, :, :w_in.shape[2]], w_in_t)
    return total + ops.minplus_reciprocal(d[:, :, p.out_offset:], w_out)


def _distances(p: _Prepared, ops) -> torch.Tensor:
    """(N, H, n_nodes) distances from every hidden neuron to every node (inputs, hidden, outputs)."""
    w_in, w_out = p.lengths[0], p.lengths[-1]
    w_in_t = w_in.transpose(1, 2).contiguous()
    d = _closed_hidden_distances(p, ops, w_in_t)[:, :p.n_hidden, :p.n_hidden]
    leaves = []
    for a, b in ((d[:, :, :w_in.shape[2]], w_in_t), (d[:, :, p.out_offset:], w_out)):
        to_leaf = torch.full((p.n_networks, p.n_hidden, b.shape[2]), float("inf"), dtype=d.dtype, device=d.device)
        ops.minplus_update(to_leaf, a, b)
        leaves.append(to_leaf)
    return torch.cat([leaves[0], d, leaves[1]], 2)


# --- dispatch: the kernels on CUDA (the twin where they cannot run), the twin elsewhere ---------------------

def _device_index(device: torch.device) -> int:
    if device.index is not None:
        return device.index
    return torch.cuda.current_device() if device.type == "cuda" else 0


def _device_key(device: torch.device) -> str:
    return f"{device.type}:{_device_index(device)}"


def _kernel_applies(device: torch.device) -> bool:
    """Whether the CUDA kernels are the ones to try for tensors on ``device``."""
    return device.type == "cuda"


def _with_kernels(p: _Prepared, phases):
    """``phases(p, _KernelOps)``; KernelUnavailable if the kernels cannot be compiled, loaded or launched."""
    cuda_kernels.load_minplus(_device_index(p.device))  # import, driver, NVRTC and module load fail here
    try:
        return phases(p, _KernelOps)
    except cuda_kernels.launch_errors() as e:
        raise cuda_kernels.launch_failure(e) from e


def _run(stack: list[torch.Tensor], dtype: torch.dtype, phases):
    p = _prepare(stack, dtype)
    key = _device_key(p.device)
    if _kernel_applies(p.device) and key not in _KERNEL_FALLBACK:
        try:
            return _with_kernels(p, phases)
        except KernelUnavailable as e:
            _KERNEL_FALLBACK[key] = str(e)
            log.warning("the CUDA min-plus kernels cannot run on %s: %s. Shortest paths (harmonic centrality) "
                        "use their torch twin there instead (same results, slower)", key, e)
    return phases(p, _TwinOps)


def _dispatch(weights: Sequence, dtype: torch.dtype, method: str | None, phases):
    """``phases`` on the checked weights by ``method``: None, the kernels on CUDA tensors (the twin
    where they cannot run, warned once) and the twin elsewhere; "twin"; "kernels", no fallback."""
    stack = _checked(weights, dtype)
    if method is None:
        return _run(stack, dtype, phases)
    if method not in _METHODS:
        raise EngineError(f"method={method!r}: use 'kernels' (CUDA), 'twin' (torch, any device) or None (the "
                          "kernels on CUDA tensors, the twin elsewhere)")
    p = _prepare(stack, dtype)
    if method == "twin":
        return phases(p, _TwinOps)
    if p.device.type != "cuda":
        raise EngineError("the CUDA kernels need CUDA tensors; use the twin on CPU")
    return _with_kernels(p, phases)


def hidden_distances(weights: Sequence[torch.Tensor], dtype: torch.dtype = torch.float64, *,
                     method: str | None = None) -> torch.Tensor:
    """Distances from every hidden neuron to every node of the positive graph, dense and batched.

    Parameters
    ----------
    weights, dtype
        As in ``harmonic_centrality``.
    method : {"kernels", "twin"} or None
        "kernels": the CUDA kernels (CUDA tensors), no fallback (``KernelUnavailable`` if they
        cannot run); "twin": their torch twin, on any device; None: the kernels on CUDA tensors
        (the twin where they cannot run, see the module docstring), the twin elsewhere.

    Returns
    -------
    torch.Tensor
        (N, H, n_nodes) shortest-path lengths (units of the weights), nodes ordered inputs, hidden
        layers, outputs; H = hidden neurons in layer order, so hidden neuron h is node
        ``n_inputs + h``. +inf where unreachable, 0 to itself.

    Raises
    ------
    EngineError
        As ``harmonic_centrality``, or for an unknown ``method``.

    Examples
    --------
    >>> w1 = torch.tensor([[1.0, 2.0]]); w2 = torch.tensor([[1.0], [-1.0]])
    >>> hidden_distances([w1, w2], method="twin")
    tensor([[[1., 0., 3., 1.],
             [2., 3., 0., 4.]]], dtype=torch.float64)
    """
    return _dispatch(weights, dtype, method, _distances)


def harmonic_centrality(weights: Sequence[torch.Tensor], dtype: torch.dtype = torch.float64, *,
                        method: str | None = None) -> torch.Tensor:
    """Harmonic centrality of the hidden neurons on the positive graph, dense and batched.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        L >= 2 raw weight blocks, block l of shape (N, n_l, n_{l+1}) (2-D: one network), all on one
        device. Edge length = weight where the weight is > 0; no edge otherwise.
    dtype : torch.dtype
        float64 (default) or float32: the precision of the distances and sums.
    method : {"kernels", "twin"} or None
        As in ``hidden_distances``.

    Returns
    -------
    torch.Tensor
        (N, H) on the weights' device: for each hidden neuron v (layer order), the sum of
        1 / d(v, u) over the other nodes u it reaches, networkx's ``harmonic_centrality`` with
        ``distance="weight"``. CUDA kernels on CUDA tensors (their torch twin where they cannot
        run, with one warning), the twin elsewhere.

    Raises
    ------
    EngineError
        If the weights are not a floating weight stack with a hidden layer
        (``engine.weight_stack.check_weight_stack``), or ``dtype`` or ``method`` is not supported.

    References
    ----------
    R. W. Floyd, "Algorithm 97: Shortest path", Comm. ACM 5 (1962) 345; G. Venkataraman, S. Sahni,
    S. Mukhopadhyaya, "A blocked all-pairs shortest-paths algorithm", J. Exp. Algorithmics 8 (2003).

    Examples
    --------
    >>> w1 = torch.tensor([[1.0, 2.0]]); w2 = torch.tensor([[1.0], [-1.0]])
    >>> harmonic_centrality([w1, w2])
    tensor([[2.3333, 1.0833]], dtype=torch.float64)
    """
    return _dispatch(weights, dtype, method, _harmonic)


def harmonic_centrality_of_blocks(blocks: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """``harmonic_centrality`` of blocks already checked at the public edge, without checking them again.

    The entry of ``engine.measures.harmonic_centrality`` on CUDA, whose ``LayeredGraph`` checked them.

    Parameters
    ----------
    blocks : list of torch.Tensor
        L >= 2 checked blocks (N, n_l, n_{l+1}), floating, on one device.
    dtype : torch.dtype
        float64 or float32: the precision of the distances and sums.

    Returns
    -------
    torch.Tensor
        (N, H) as ``harmonic_centrality``: the CUDA kernels on CUDA tensors (the torch twin where they
        cannot run, with one warning), the twin elsewhere.

    Examples
    --------
    >>> blocks = [torch.tensor([[[1.0, 2.0]]]), torch.tensor([[[1.0], [-1.0]]])]
    >>> harmonic_centrality_of_blocks(blocks, torch.float64)
    tensor([[2.3333, 1.0833]], dtype=torch.float64)
    """
    return _run(blocks, dtype, _harmonic)


def kernel_fallback_reason(device: torch.device | str) -> str | None:
    """Why the shortest paths use the torch twin instead of the CUDA kernels on ``device``.

    Parameters
    ----------
    device : torch.device or str
        A device, e.g. "cuda:0".

    Returns
    -------
    str or None
        The ``KernelUnavailable`` message that made this process fall back to the twin on that
        device; None where it has not had to (the kernels ran, or nothing ran there yet, or the
        device is not CUDA).

    Examples
    --------
    >>> kernel_fallback_reason("cpu") is None  # the twin is the CPU path, not a fallback
    True
    """
    return _KERNEL_FALLBACK.get(_device_key(torch.device(device)))
