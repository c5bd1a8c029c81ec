"""The batched MLP of a population: forward, loss and one SGD step, for N networks at once.

Every network sees the same data batch; only the weights differ. Weights are held transposed,
(fan_out, fan_in) as in torch.nn.Linear, and activations feature-major, (N, n, B): then every
product reads and writes contiguous memory and no layout copy is needed between layers. Layer 0
(the widest: the inputs) is one (N*n1, d) matrix, so its forward product and its weight update are
each ONE large GEMM (W0 x^T and W0 += -lr dz x) instead of N small ones; deeper layers are batched
matmuls over the stack. The update is fused into the gradient GEMM (addmm_/baddbmm_ with
alpha=-lr): no gradient tensor is ever materialised.
"""

from __future__ import annotations

from typing import Sequence

import torch

from engine.errors import EngineError

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")


def _act_(z: torch.Tensor, name: str) -> torch.Tensor:
    """The activation, in place (the pre-activation is not needed again)."""
    if name == "relu":
        return z.clamp_(min=0)
    if name == "tanh":
        return z.tanh_()
    if name == "sigmoid":
        return z.sigmoid_()
    return z


def _backprop_act_(da: torch.Tensor, a: torch.Tensor, name: str) -> torch.Tensor:
    """da * act'(z) (in place where that is cheaper), from the activation a alone (relu: a > 0 exactly where z > 0)."""
    if name == "relu":  # one fused pass (what autograd's relu backward runs)
        return torch.ops.aten.threshold_backward(da, a, 0.0)
    if name == "tanh":
        return da.mul_(1 - a * a)
    if name == "sigmoid":
        return da.mul_(a * (1 - a))
    return da


def _argmax_classes(logits: torch.Tensor) -> torch.Tensor:
    """argmax over the class dim of (N, C, B) logits, as (N, B); a contiguous copy first is ~4x faster
    than the strided reduction on CPU (ties resolve to the first class, as torch.argmax)."""
    return logits.transpose(1, 2).contiguous().argmax(-1)


class PopulationMLP:
    """N bias-free MLPs with shared layer sizes, trained together with plain SGD."""

    def __init__(self, weights: Sequence[torch.Tensor], activation: str = "relu", block_size: int | None = None):
        if activation not in ACTIVATIONS:
            raise EngineError(f"model.activation={activation!r} is unknown: use one of {ACTIVATIONS}")
        if len(weights) < 1 or any(w.ndim != 3 for w in weights):
            raise EngineError("population weights must be a non-empty list of (N, fan_in, fan_out) tensors")
        self.activation = activation
        self.n = weights[0].shape[0]
        self.sizes = [weights[0].shape[1]] + [w.shape[2] for w in weights]
        d, n1 = self.sizes[0], self.sizes[1]
        # (N, d, n1) -> (N*n1, d): row block k is network k's transposed kernel.
        self.w0 = weights[0].transpose(1, 2).reshape(self.n * n1, d).contiguous()
        self.deep = [w.transpose(1, 2).contiguous() for w in weights[1:]]  # (N, fan_out, fan_in)
        self.block_size = int(block_size) if block_size else self._auto_block()

    def _auto_block(self) -> int:
        """Networks per block: all on CUDA; on CPU as many as keep a batch-100 step's activations
        (about 3 floats per hidden/output unit per sample) within ~6 MiB of cache (16 paper-sized
        networks: measured best on a 2-core EPYC, 1.8x the unblocked rate for digits-size networks)."""
        if self.w0.device.type == "cuda":
            return self.n
        per_net = 3 * 4 * 100 * sum(self.sizes[1:])
        return max(1, min(self.n, (6 << 20) // per_net))

    @property
    def device(self) -> torch.device:
        return self.w0.device

    def weights(self) -> list[torch.Tensor]:
        """Copies of the weights, layer l as (N, fan_in, fan_out) contiguous tensors."""
        d, n1 = self.sizes[0], self.sizes[1]
        w0 = self.w0.view(self.n, n1, d).transpose(1, 2).contiguous()
        return [w0] + [w.transpose(1, 2).contiguous() for w in self.deep]

    def blocks(self) -> list[tuple[int, torch.Tensor, list[torch.Tensor]]]:
        """(first network, layer-0 rows, deeper layers) views per block of networks. On CPU a block's
        activations stay in cache through forward and backward; on CUDA one block is the whole population."""
        n1 = self.sizes[1]
        step = self.block_size
        return [(s, self.w0[s * n1:(s + step) * n1], [w[s:s + step] for w in self.deep])
                for s in range(0, self.n, step)]

    def forward(self, x: torch.Tensor, w0: torch.Tensor | None = None, deep: Sequence[torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits (n, C, B) and the hidden activations, each (n, width, B), of all networks or of a block."""
        w0 = self.w0 if w0 is None else w0
        deep = self.deep if deep is None else deep
        b = x.shape[0]
        z = (w0 @ x.t()).view(-1, self.sizes[1], b)
        acts = []
        for w in deep:
            a = _act_(z, self.activation)
            acts.append(a)
            z = torch.bmm(w, a)
        return z, acts

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.forward(x, w0, deep)[0] for _, w0, deep in self.blocks()])

    def sgd_step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on the batch for every network; returns per-network (loss, correct count)
        of the batch, measured before the update (as Keras reports running training metrics)."""
        out = [self._sgd_step_block(w0, deep, x, y, lr) for _, w0, deep in self.blocks()]
        return torch.cat([o[0] for o in out]), torch.cat([o[1] for o in out])

    def _sgd_step_block(self, w0: torch.Tensor, deep: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                        lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        logits, acts = self.forward(x, w0, deep)
        n = logits.shape[0]
        logp = torch.log_softmax(logits, dim=1)
        loss = -logp.gather(1, y.view(1, 1, b).expand(n, 1, b)).squeeze(1).mean(-1)
        correct = (_argmax_classes(logits) == y).sum(-1)
        # d(mean CE)/d logits = (softmax - onehot) / B
        dz = logp.exp_()
        dz[:, y, torch.arange(b, device=x.device)] -= 1.0
        dz /= b
        for layer in range(len(deep) - 1, -1, -1):
            w, a = deep[layer], acts[layer]
            da = torch.bmm(w.transpose(1, 2), dz)
            w.baddbmm_(dz, a.transpose(1, 2), alpha=-lr)
            dz = _backprop_act_(da, a, self.activation)
        w0.addmm_(dz.view(n * self.sizes[1], b), x, alpha=-lr)
        return loss, correct

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, max_elements: int = 2**26) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-network mean cross-entropy loss and accuracy on (x, y), in memory-bounded chunks."""
        widest = max(self.sizes[1:])
        chunk = max(1, min(x.shape[0], max_elements // max(1, self.block_size * widest)))
        loss_sum = torch.zeros(self.n, dtype=torch.float64, device=self.device)
        correct = torch.zeros(self.n, dtype=torch.int64, device=self.device)
        for first, w0, deep in self.blocks():
            rows = slice(first, first + w0.shape[0] // self.sizes[1])
            for start in range(0, x.shape[0], chunk):
                xb, yb = x[start:start + chunk], y[start:start + chunk]
                logits = self.forward(xb, w0, deep)[0]
                logp = torch.log_softmax(logits, dim=1)
                n = logits.shape[0]
                loss_sum[rows] -= logp.gather(1, yb.view(1, 1, -1).expand(n, 1, -1)).squeeze(1).sum(-1).double()
                correct[rows] += (_argmax_classes(logits) == yb).sum(-1)
        return loss_sum / x.shape[0], correct.double() / x.shape[0]

    def finite(self) -> torch.Tensor:
        """(N,) bool: all of a network's weights are finite."""
        ok = torch.isfinite(self.w0).view(self.n, -1).all(dim=1)
        for w in self.deep:
            ok &= torch.isfinite(w).flatten(1).all(dim=1)
        return ok
