"""The batched MLP of a population: forward, loss and one SGD step, for N networks at once.

Every network sees the same data batch; only the weights differ. Layer 0 (the widest: the
inputs) is stored "wide", as one (d, N*n1) matrix, so its forward product and its weight update
are each ONE large GEMM (x @ W0 and W0 += -lr x^T dz) instead of N small ones; deeper layers are
batched matmuls over the (N, a, b) stack. The update is fused into the gradient GEMM
(addmm_/baddbmm_ with alpha=-lr): no gradient tensor is ever materialised.
"""

from __future__ import annotations

from typing import Sequence

import torch

from engine.errors import EngineError

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")


def _act(z: torch.Tensor, name: str) -> torch.Tensor:
    if name == "relu":
        return torch.relu(z)
    if name == "tanh":
        return torch.tanh(z)
    if name == "sigmoid":
        return torch.sigmoid(z)
    return z


def _act_grad(z: torch.Tensor, a: torch.Tensor, name: str) -> torch.Tensor:
    """d act / d z, from the pre-activation z and the activation a."""
    if name == "relu":
        return (z > 0).to(z.dtype)
    if name == "tanh":
        return 1 - a * a
    if name == "sigmoid":
        return a * (1 - a)
    return torch.ones_like(z)


class PopulationMLP:
    """N bias-free MLPs with shared layer sizes, trained together with plain SGD."""

    def __init__(self, weights: Sequence[torch.Tensor], activation: str = "relu"):
        if activation not in ACTIVATIONS:
            raise EngineError(f"model.activation={activation!r} is unknown: use one of {ACTIVATIONS}")
        if len(weights) < 1 or any(w.ndim != 3 for w in weights):
            raise EngineError("population weights must be a non-empty list of (N, fan_in, fan_out) tensors")
        self.activation = activation
        self.n = weights[0].shape[0]
        self.sizes = [weights[0].shape[1]] + [w.shape[2] for w in weights]
        d, n1 = self.sizes[0], self.sizes[1]
        # (N, d, n1) -> wide (d, N*n1), contiguous: column block k is network k's kernel.
        self.w0_wide = weights[0].permute(1, 0, 2).reshape(d, self.n * n1).contiguous()
        self.deep = [w.contiguous() for w in weights[1:]]

    @property
    def device(self) -> torch.device:
        return self.w0_wide.device

    def weights(self) -> list[torch.Tensor]:
        """Copies of the weights, layer l as (N, fan_in, fan_out) contiguous tensors."""
        d, n1 = self.sizes[0], self.sizes[1]
        w0 = self.w0_wide.view(d, self.n, n1).permute(1, 0, 2).contiguous()
        return [w0] + [w.clone() for w in self.deep]

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Pre-activations zs and activations acts; zs[-1] are the logits (N, B, C)."""
        b = x.shape[0]
        z = (x @ self.w0_wide).view(b, self.n, self.sizes[1]).transpose(0, 1)
        zs, acts = [z], []
        for w in self.deep:
            a = _act(z, self.activation)
            acts.append(a)
            z = torch.bmm(a, w)
            zs.append(z)
        return zs, acts

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)[0][-1]

    def sgd_step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on the batch for every network; returns per-network (loss, correct count)
        of the batch, measured before the update (as Keras reports running training metrics)."""
        b = x.shape[0]
        zs, acts = self.forward(x)
        logits = zs[-1]
        logp = torch.log_softmax(logits, dim=-1)
        loss = -logp.gather(-1, y.view(1, b, 1).expand(self.n, b, 1)).squeeze(-1).mean(-1)
        correct = (logits.argmax(-1) == y).sum(-1)
        # d(mean CE)/d logits = (softmax - onehot) / B
        dz = logp.exp_()
        dz[:, torch.arange(b, device=x.device), y] -= 1.0
        dz /= b
        for layer in range(len(self.deep) - 1, -1, -1):
            w, a, z = self.deep[layer], acts[layer], zs[layer]
            da = torch.bmm(dz, w.transpose(1, 2))
            w.baddbmm_(a.transpose(1, 2), dz, alpha=-lr)
            dz = da.mul_(_act_grad(z, a, self.activation))
        dz_wide = dz.transpose(0, 1).reshape(b, self.n * self.sizes[1])
        self.w0_wide.addmm_(x.t(), dz_wide, alpha=-lr)
        return loss, correct

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, max_elements: int = 2**26) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-network mean cross-entropy loss and accuracy on (x, y), in memory-bounded chunks."""
        widest = max(self.sizes[1:])
        chunk = max(1, min(x.shape[0], max_elements // max(1, self.n * widest)))
        loss_sum = torch.zeros(self.n, dtype=torch.float64, device=self.device)
        correct = torch.zeros(self.n, dtype=torch.int64, device=self.device)
        for start in range(0, x.shape[0], chunk):
            xb, yb = x[start:start + chunk], y[start:start + chunk]
            logits = self.logits(xb)
            logp = torch.log_softmax(logits, dim=-1)
            loss_sum += -logp.gather(-1, yb.view(1, -1, 1).expand(self.n, -1, 1)).squeeze(-1).sum(-1).double()
            correct += (logits.argmax(-1) == yb).sum(-1)
        return loss_sum / x.shape[0], correct.double() / x.shape[0]

    def finite(self) -> torch.Tensor:
        """(N,) bool: all of a network's weights are finite."""
        d, n1 = self.sizes[0], self.sizes[1]
        ok = torch.isfinite(self.w0_wide.view(d, self.n, n1)).all(dim=2).all(dim=0)
        for w in self.deep:
            ok &= torch.isfinite(w).flatten(1).all(dim=1)
        return ok
