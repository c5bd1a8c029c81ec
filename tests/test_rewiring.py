"""PA rewiring of the initial weights (engine.population.rewire): the published rule, output for output
against a one-kernel NumPy transcription of the authors' code on the same random stream, and in law
against their own draw; values kept, strength variance lowered, reproducible per network."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from scipy.stats import chi2_contingency

from engine.population import InitConfig, ModelConfig, TrainConfig, TrainSettings, train_population
from engine.population.init import init_network, init_population
from engine.population.reference import train_one
from engine.population.rewire import RewiringStream, pa_rewire, strength_variance
from tests.pa_rewiring_reference import pa_rewiring_np, published_choice, race_choice, rewiring_np
from tests.test_population import toy_data

SHAPES = [(5, 4), (3, 3), (1, 4), (6, 1), (12, 9), (2, 2)]


def kernels(n, shapes, seed=0, low=-0.9, high=0.9):
    g = torch.Generator().manual_seed(seed)
    return [low + (high - low) * torch.rand(n, a, b, generator=g) for a, b in shapes]


def reference(layers: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """The transcription, layer after layer, fed the network's stream in the engine's order."""
    stream = RewiringStream(seed)
    out = []
    for k in layers:
        fan_in, fan_out = k.shape
        first, second = stream.next(fan_out, fan_in), stream.next(fan_in, fan_out)
        out.append(pa_rewiring_np(k, race_choice(first), race_choice(second)))
    return out


def test_batched_rewiring_equals_the_transcription_on_the_same_stream():
    w = kernels(4, SHAPES)
    seeds = [3, 0, 17, 2**40]
    got = pa_rewire(w, seeds)
    for k, seed in enumerate(seeds):
        want = reference([layer[k].numpy() for layer in w], seed)
        for layer, (g, r) in enumerate(zip(got, want)):
            np.testing.assert_array_equal(g[k].numpy(), r, err_msg=f"network {k}, layer {layer}")
        assert not np.array_equal(want[4], w[4][k].numpy()), "the (12, 9) kernel is rewired"


def test_the_rule_moves_the_smallest_weights_to_the_strongest_targets():
    """A hand-checkable pass: row 0 gives the inputs strengths -50, 50, 150, shifted to P = 1, 101, 201;
    with exponentials (1, 1, 1) the race draws inputs 2, 1, 0, which get row 1's weights smallest first."""
    from engine.population.rewire import _pa_pass_numpy, _pa_pass_torch

    torch_layout = np.array([[-50.0, 50.0, 150.0], [0.3, -0.2, 0.1]], dtype=np.float32)   # (out, in)
    want = np.array([[-50.0, 50.0, 150.0], [0.3, 0.1, -0.2]], dtype=np.float32)
    np.testing.assert_array_equal(rewiring_np(torch_layout.copy(), race_choice(np.ones((1, 3)))), want)
    a = torch_layout.copy()[None]
    _pa_pass_numpy(a, np.ones((1, 1, 3)))
    np.testing.assert_array_equal(a[0], want)
    t = torch.from_numpy(torch_layout.copy())[None]
    _pa_pass_torch(t, torch.ones(1, 1, 3, dtype=torch.float64))
    np.testing.assert_array_equal(t[0].numpy(), want)


def test_the_torch_twin_equals_the_numpy_pass():
    """The GPU runs the torch twin; here it runs on the CPU against the NumPy pass the CPU runs."""
    from engine.population.rewire import _rewire_layer

    w = kernels(5, [(30, 20), (20, 7)], seed=4)
    for layer in w:
        seeds = [1, 2, 3, 4, 5]
        a = _rewire_layer(layer, [RewiringStream(s) for s in seeds], use_torch=False)
        b = _rewire_layer(layer, [RewiringStream(s) for s in seeds], use_torch=True)
        assert torch.equal(a, b)


def test_every_layer_keeps_its_values_and_the_strength_variance_drops():
    w = kernels(6, [(64, 200), (200, 100), (100, 10)], seed=1)
    got = pa_rewire(w, list(range(6)))
    for a, b in zip(w, got):
        assert torch.equal(a.flatten(1).sort(dim=1).values, b.flatten(1).sort(dim=1).values)
        assert not torch.equal(a, b)
    before, after = strength_variance(w), strength_variance(got)
    assert (after < 0.2 * before).all(), (before, after)
    assert torch.equal(w[0], kernels(6, [(64, 200)], seed=1)[0]), "the input is not modified"


def test_a_network_is_rewired_the_same_in_any_chunk_order_or_group(monkeypatch):
    import engine.population.rewire as rw

    w = kernels(5, [(7, 6), (6, 3)], seed=2)
    seeds = [10, 11, 12, 13, 14]
    whole = pa_rewire(w, seeds)
    order = [3, 0, 4]
    part = pa_rewire([x[order] for x in w], [seeds[i] for i in order])
    for a, b in zip(whole, part):
        assert torch.equal(a[order], b)
    monkeypatch.setattr(rw, "_STREAM_BUDGET", 8)   # one network per group
    for a, b in zip(whole, pa_rewire(w, seeds)):
        assert torch.equal(a, b)
    other = pa_rewire(w, [s + 100 for s in seeds])
    assert not torch.equal(other[0], whole[0])


def test_init_population_rewires_as_init_network_and_the_init_stream_is_untouched():
    sizes, seeds = [6, 5, 4], [0, 1, 2]
    plain = init_population(sizes, seeds)
    pa = init_population(sizes, seeds, rewire="pa")
    for layer in range(2):
        for k, s in enumerate(seeds):
            assert torch.equal(pa[layer][k], init_network(sizes, s, rewire="pa")[layer])
            assert torch.equal(plain[layer][k], init_network(sizes, s)[layer])
        assert torch.equal(pa[layer], pa_rewire(plain, seeds)[layer])


def test_training_a_rewired_population_equals_training_each_network_alone():
    data = toy_data()
    s = TrainSettings(ModelConfig(hidden=[9, 7], init=InitConfig(rewire="pa")),
                      TrainConfig(epochs=2, batch_size=32, lr=0.05, loss="cross_entropy"))
    snaps = {}
    res = train_population(data, s, [0, 1, 2], base_seed=5, snapshots=[0, 2], progress=False,
                           on_snapshot=lambda e, ids, w: snaps.__setitem__(e, [x.clone() for x in w]))
    for k in range(3):
        assert torch.equal(snaps[0][0][k], init_network([12, 9, 7, 4], 5 + k, rewire="pa")[0])
        ref, _ = train_one(data, s, seed=5 + k)
        for layer, w in enumerate(ref):
            torch.testing.assert_close(snaps[2][layer][k], w, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(res.init_strength_var, strength_variance(snaps[0]).numpy())
    plain = train_population(data, TrainSettings(s.model.__class__(hidden=[9, 7]), s.train), [0, 1, 2],
                             base_seed=5, snapshots="none", progress=False)
    assert (res.init_strength_var < plain.init_strength_var).all()


# --- the exponential race has the law of the authors' draw -------------------------------------------

def _chi2_same_law(a: list, b: list) -> float:
    keys = sorted(set(a) | set(b))
    ca, cb = Counter(a), Counter(b)
    return chi2_contingency(np.array([[ca[k] for k in keys], [cb[k] for k in keys]])).pvalue


def test_the_race_draws_as_numpy_choice_without_replacement():
    P = np.array([0.1, 0.2, 0.3, 0.4])
    n = 12000
    rng = np.random.default_rng(0)
    choose = published_choice(rng)
    published = [tuple(choose(P, 1)) for _ in range(n)]
    e = -np.log1p(-np.random.default_rng(1).random((n, 4)))
    race = [tuple(np.argsort(row / P, kind="stable")) for row in e]
    assert _chi2_same_law(published, race) > 1e-3
    # and both match the Plackett-Luce probabilities of the most likely order
    best = (3, 2, 1, 0)
    exact = 0.4 * 0.3 / 0.6 * 0.2 / 0.3
    for sample in (published, race):
        assert abs(sample.count(best) / n - exact) < 4 * np.sqrt(exact * (1 - exact) / n)


def test_the_whole_rule_has_the_law_of_the_published_code():
    """A (3, 2) kernel has 24 possible rewirings: the engine's (many seeds) and the authors' own
    (rng.choice, many seeds) are drawn with the same frequencies."""
    kernel = np.array([[0.5, -0.7], [0.1, 0.8], [-0.3, 0.2]], dtype=np.float32)
    n = 3000
    w = torch.from_numpy(kernel)[None].expand(n, 3, 2).contiguous()
    ours = pa_rewire([w], list(range(n)))[0]
    ours = [tuple(k.flatten().tolist()) for k in ours]
    theirs = []
    for s in range(n):
        rng = np.random.default_rng(10_000 + s)   # one unseeded-like stream per pass, as their default
        out = pa_rewiring_np(kernel, published_choice(rng), published_choice(np.random.default_rng(50_000 + s)))
        theirs.append(tuple(out.flatten().tolist()))
    assert len(set(theirs)) > 12
    assert _chi2_same_law(ours, theirs) > 1e-3


@pytest.mark.gpu
def test_rewiring_on_the_gpu_equals_the_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    w = kernels(8, [(64, 200), (200, 100), (100, 10)], seed=3)
    cpu = pa_rewire(w, list(range(8)))
    gpu = pa_rewire([x.cuda() for x in w], list(range(8)))
    for a, b in zip(cpu, gpu):
        assert torch.equal(a, b.cpu())
