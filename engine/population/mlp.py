"""The batched MLP of a population: forward, loss and one SGD step, for N networks at once.

Every network sees the same data batch; only the weights differ. Weights are held transposed,
(fan_out, fan_in) as in torch.nn.Linear, and activations feature-major, (N, n, B): then every
product reads and writes contiguous memory and no layout copy is needed between layers. Layer 0
(the widest: the inputs) is one (N*n1, d) matrix, so its forward product and its weight update are
each ONE large GEMM (W0 x^T and W0 += -lr dz x) instead of N small ones; deeper layers are batched
matmuls over the stack. The update is fused into the gradient GEMM (addmm_/baddbmm_ with
alpha=-lr): no gradient tensor is ever materialised.

Two losses (``LOSSES``), both on a softmax output:

* ``keras``: categorical cross-entropy as Keras 2.2.4 computes it on the TensorFlow backend, what
  the paper trained with: the softmax output p is renormalised (p / sum p), clipped to
  [1e-7, 1 - 1e-7] in float32, and the loss is -log p_true. The clip has zero gradient, so a sample
  whose true-class probability lies outside the clip range contributes no gradient at all
  ("silenced"), and its reported loss is capped at -log(1e-7) = 16.118. With the paper's init,
  U(-0.9, 0.9), logits are in the tens to hundreds and most samples are silenced early: this is
  where the paper's spread of accuracy comes from.
* ``cross_entropy``: torch's cross-entropy (log-softmax), every sample contributes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from engine.errors import require_choice
from engine.weight_stack import check_weight_stack, layer_sizes

__all__ = ["ACTIVATIONS", "KERAS_EPSILON", "KERAS_UPPER", "LOSSES", "per_sample_loss", "PopulationMLP"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
LOSSES = ("keras", "cross_entropy")

# Keras' epsilon and its clip range, in float32 as TensorFlow computes them (1 - 1e-7 -> 0.99999988)
KERAS_EPSILON = float(np.float32(1e-7))
KERAS_UPPER = float(np.float32(1.0) - np.float32(1e-7))


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


def _true_class(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The true class's entry of (N, C, B) per-class values, as (N, B)."""
    n, _, b = t.shape
    return t.gather(1, y.view(1, 1, b).expand(n, 1, b)).squeeze(1)


def _keras_live(p_true: torch.Tensor) -> torch.Tensor:
    """Samples the clip passes the gradient of: eps <= p_true <= 1 - eps (inclusive, as the clamp of
    TensorFlow and of torch)."""
    return (p_true >= KERAS_EPSILON) & (p_true <= KERAS_UPPER)


def _keras_probabilities(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The softmax output renormalised as Keras does (p / sum p), (N, C, B), and its true-class entry (N, B)."""
    p = torch.softmax(logits, dim=1)
    p.div_(p.sum(1, keepdim=True))
    return p, _true_class(p, y)


def _keras_loss(p_true: torch.Tensor) -> torch.Tensor:
    return -torch.log(p_true.clamp(KERAS_EPSILON, KERAS_UPPER))


def per_sample_loss(logits: torch.Tensor, y: torch.Tensor, loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of every sample for every network, and which samples the Keras clip silences.

    Parameters
    ----------
    logits : torch.Tensor
        (N, C, B) float: N networks, C classes, B samples (feature-major, as ``PopulationMLP.forward``).
    y : torch.Tensor
        (B,) int64 true classes in [0, C).
    loss : {"keras", "cross_entropy"}
        Keras 2.2.4's clipped categorical cross-entropy (the paper's) or torch's (see the module docstring).

    Returns
    -------
    loss : torch.Tensor
        (N, B), in nats; ``keras`` caps it at -log(1e-7) = 16.118.
    silenced : torch.Tensor
        (N, B) bool: the sample gives no gradient (its true-class probability is outside
        [1e-7, 1 - 1e-7] in float32); always False for cross_entropy.

    Examples
    --------
    >>> logits = torch.tensor([[[0.0, 40.0], [0.0, 0.0]]])      # 1 network, 2 classes, 2 samples
    >>> value, silenced = per_sample_loss(logits, torch.tensor([0, 1]), "keras")
    >>> value, silenced
    (tensor([[ 0.6931, 16.1181]]), tensor([[False,  True]]))
    >>> per_sample_loss(logits, torch.tensor([0, 1]), "cross_entropy")[0]
    tensor([[ 0.6931, 40.0000]])
    """
    if loss == "cross_entropy":
        value = -_true_class(torch.log_softmax(logits, dim=1), y)
        return value, torch.zeros_like(value, dtype=torch.bool)
    _, p_true = _keras_probabilities(logits, y)
    return _keras_loss(p_true), ~_keras_live(p_true)


def _loss_gradient(logits: torch.Tensor, y: torch.Tensor, loss: str, silenced_by_class: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-network mean loss of the batch (N,), its gradient w.r.t. the logits (N, C, B), and the
    number of silenced samples per network (N,): those the Keras clip gives no gradient (0 for
    cross_entropy). The gradient of the mean is (softmax - onehot) / B for every live sample.
    ``silenced_by_class``: an (N, C) int64 tensor to which each network's silenced samples are added,
    by true class (left as it is for cross_entropy)."""
    b = logits.shape[2]
    cols = torch.arange(b, device=logits.device)
    if loss == "cross_entropy":
        logp = torch.log_softmax(logits, dim=1)
        value = -_true_class(logp, y).mean(-1)
        grad = logp.exp_()
        grad[:, y, cols] -= 1.0
        return value, grad.div_(b), torch.zeros(logits.shape[0], dtype=torch.int64, device=logits.device)
    p, p_true = _keras_probabilities(logits, y)
    live = _keras_live(p_true)
    value = _keras_loss(p_true).mean(-1)
    p[:, y, cols] -= 1.0
    grad = p.mul_(live.unsqueeze(1).to(p.dtype).div_(b))
    dead = ~live
    if silenced_by_class is not None:
        silenced_by_class.scatter_add_(1, y.expand_as(dead), dead.long())
    return value, grad, dead.sum(-1)


def _own_copy(t: torch.Tensor) -> torch.Tensor:
    """A contiguous copy of ``t``, always a copy (``contiguous()`` alone would return a caller's
    (N, fan_out, fan_in) storage, passed as its transposed view, and SGD would then train it in place)."""
    return t.clone(memory_format=torch.contiguous_format)


class PopulationMLP:
    """N bias-free MLPs with shared layer sizes, trained together with plain SGD on ``loss`` (batched matmuls).

    Every network sees the same batch; weights are held transposed, (fan_out, fan_in) per network, the
    first layer of all networks as one (N*n1, d) matrix (see the module docstring).

    Parameters
    ----------
    weights : sequence of torch.Tensor
        Layer l as (N, fan_in, fan_out), floating, on the device training runs on (``init_population``);
        the layers must chain. Copied into the model's layout: the tensors passed are never trained in place.
    activation : {"relu", "tanh", "sigmoid", "linear"}, default "relu"
        The hidden layers' activation (the output is a softmax, inside the loss).
    block_size : int, optional
        Networks per block of a step; default: all on CUDA, on CPU as many as keep a batch-100 step's
        activations within ~6 MiB of cache.
    loss : {"keras", "cross_entropy"}, default "keras"
        See ``per_sample_loss``.

    Attributes
    ----------
    n : int
        N, the number of networks.
    sizes : list of int
        Layer widths, inputs first.

    Raises
    ------
    EngineError
        An unknown activation or loss; weights that are not an (N, fan_in, fan_out) floating stack that chains.

    Examples
    --------
    >>> from engine.population.init import init_population
    >>> net = PopulationMLP(init_population([4, 3, 2], seeds=[0, 1, 2]), loss="cross_entropy")
    >>> x, y = torch.rand(5, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 0, 1, 1])
    >>> loss, correct, silenced = net.sgd_step(x, y, lr=0.01)   # per network, before the update
    >>> loss.shape, correct.shape, silenced.tolist()
    (torch.Size([3]), torch.Size([3]), [0, 0, 0])
    >>> test_loss, test_acc, _ = net.evaluate(x, y)            # accuracies are fractions in [0, 1]
    >>> [tuple(w.shape) for w in net.weights()], bool(((test_acc >= 0) & (test_acc <= 1)).all())
    ([(3, 4, 3), (3, 3, 2)], True)
    """

    def __init__(self, weights: Sequence[torch.Tensor], activation: str = "relu", block_size: int | None = None,
                 loss: str = "keras"):
        require_choice("model.activation", activation, ACTIVATIONS)
        require_choice("train.loss", loss, LOSSES)
        weights = check_weight_stack(weights, one_network=False, floating=True)
        self.activation = activation
        self.loss = loss
        self.n = weights[0].shape[0]
        self.sizes = layer_sizes(weights)
        d, n1 = self.sizes[0], self.sizes[1]
        # (N, d, n1) -> (N*n1, d): row block k is network k's transposed kernel.
        self.w0 = _own_copy(weights[0].transpose(1, 2)).view(self.n * n1, d)
        self.deep = [_own_copy(w.transpose(1, 2)) for w in weights[1:]]  # (N, fan_out, fan_in)
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

    def sgd_step(self, x: torch.Tensor, y: torch.Tensor, lr: float, silenced_by_class: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One SGD step on the batch for every network; returns per-network (loss, correct count,
        silenced count) of the batch, measured before the update (as Keras reports running training
        metrics). ``silenced_by_class``: an (N, C) int64 tensor to which the silenced samples are
        added, by true class (see ``_loss_gradient``)."""
        n1 = self.sizes[1]
        out = [self._sgd_step_block(w0, deep, x, y, lr, None if silenced_by_class is None
                                    else silenced_by_class[first:first + w0.shape[0] // n1])
               for first, w0, deep in self.blocks()]
        return tuple(torch.cat([o[k] for o in out]) for k in range(3))

    def _sgd_step_block(self, w0: torch.Tensor, deep: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                        lr: float, silenced_by_class: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        logits, acts = self.forward(x, w0, deep)
        n = logits.shape[0]
        correct = (_argmax_classes(logits) == y).sum(-1)
        loss, dz, silenced = _loss_gradient(logits, y, self.loss, silenced_by_class)
        for layer in range(len(deep) - 1, -1, -1):
            w, a = deep[layer], acts[layer]
            da = torch.bmm(w.transpose(1, 2), dz)
            w.baddbmm_(dz, a.transpose(1, 2), alpha=-lr)
            dz = _backprop_act_(da, a, self.activation)
        w0.addmm_(dz.view(n * self.sizes[1], b), x, alpha=-lr)
        return loss, correct, silenced

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, max_elements: int = 2**26,
                 class_counts: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-network mean loss (the training loss, as Keras' evaluate reports it), accuracy, and
        share of silenced samples (no gradient under the Keras clip) on (x, y), in memory-bounded chunks.

        ``class_counts``: a (2, N, C) int64 tensor on the device to which the predictions are added,
        exactly: ``[0, k, c]`` the samples network k predicts as class c, ``[1, k, c]`` the samples of
        class c it predicts correctly (one scatter-add each per chunk, beside the forward pass)."""
        widest = max(self.sizes[1:])
        chunk = max(1, min(x.shape[0], max_elements // max(1, self.block_size * widest)))
        sums = torch.zeros(3, self.n, dtype=torch.float64, device=self.device)
        for first, w0, deep in self.blocks():
            rows = slice(first, first + w0.shape[0] // self.sizes[1])
            for start in range(0, x.shape[0], chunk):
                xb, yb = x[start:start + chunk], y[start:start + chunk]
                logits = self.forward(xb, w0, deep)[0]
                loss, silenced = per_sample_loss(logits, yb, self.loss)
                pred = _argmax_classes(logits)
                hit = pred == yb
                sums[0, rows] += loss.sum(-1).double()
                sums[1, rows] += hit.sum(-1).double()
                sums[2, rows] += silenced.sum(-1).double()
                if class_counts is not None:
                    class_counts[0, rows].scatter_add_(1, pred, torch.ones_like(pred))
                    class_counts[1, rows].scatter_add_(1, yb.expand_as(pred), hit.long())
        return tuple(sums / x.shape[0])

    def finite(self) -> torch.Tensor:
        """(N,) bool: all of a network's weights are finite."""
        ok = torch.isfinite(self.w0).view(self.n, -1).all(dim=1)
        for w in self.deep:
            ok &= torch.isfinite(w).flatten(1).all(dim=1)
        return ok
