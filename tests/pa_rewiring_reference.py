"""Test-only: the published PA rewiring rule transcribed one kernel at a time, in NumPy.

``rewiring_np`` and ``PA_rewiring_np`` follow ``weight_rewiring.py`` of github.com/scabini/PArewiring_weights
(Scabini, De Baets & Bruno; MIT) line by line. The one line that draws the targets,
``rng.choice(a=range(n), replace=False, size=n, p=P)``, is a parameter: ``published_choice`` is that
line itself (tests compare its law with the engine's), ``race_choice`` consumes a given block of
exponentials (the engine's stream) so that the engine's batched version can be compared output for
output.
"""

from __future__ import annotations

import numpy as np


def published_choice(rng: np.random.Generator):
    """The authors' draw: ``rng.choice`` without replacement with probabilities P."""
    def choose(P: np.ndarray, row: int) -> np.ndarray:
        return rng.choice(a=[i for i in range(len(P))], replace=False, size=len(P), p=P)
    return choose


def race_choice(exponentials: np.ndarray):
    """Successive draws proportional to P from the exponential race: order of E / P ascending, with
    row ``neuron - 1`` of ``exponentials`` for neuron ``neuron``."""
    def choose(P: np.ndarray, row: int) -> np.ndarray:
        return np.argsort(exponentials[row - 1] / P, kind="stable")
    return choose


def rewiring_np(weights: np.ndarray, choose) -> np.ndarray:
    """The authors' ``rewiring_np`` (in place on ``weights``, rows = the neurons looped over)."""
    dimensions = weights.shape
    st = np.zeros(dimensions[1])
    for neuron in range(1, dimensions[0]):        # loops over output neurons from 2 to n-1
        st = st + weights[neuron - 1]             # the temporary strength
        P = st + np.abs(np.min(st)) + 1           # positive, no null probability
        P = P / np.sum(P)
        targets = choose(P, neuron)
        edges_to_rewire = np.argsort(weights[neuron])
        weights[neuron, targets] = weights[neuron, edges_to_rewire]
    return weights


def pa_rewiring_np(kernel: np.ndarray, choose_first, choose_second) -> np.ndarray:
    """The authors' ``PA_rewiring_np`` on an engine kernel (fan_in, fan_out): their torch weight is its
    transpose (out, in); rewire it, then its transpose (a view: in place), and return the kernel."""
    weights_out = np.array(kernel, dtype=np.float32).T.copy()   # torch layout (out, in), float32 as theirs
    rewiring_np(weights_out, choose_first)                      # rewire input neurons
    rewiring_np(np.transpose(weights_out), choose_second)       # rewire output neurons
    return weights_out.T.copy()
