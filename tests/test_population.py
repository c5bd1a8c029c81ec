"""Population training equals independent one-network training (the oracle), and is reproducible."""

import numpy as np
import pytest
import torch

from engine.data.dataset import Dataset
from engine.errors import EngineError
from engine.population import (InitConfig, ModelConfig, TrainConfig, TrainSettings, init_network, snapshot_epochs,
                               train_population)
from engine.population.reference import as_arrays, train_one
from engine.population.train import class_metrics, lost_class_metrics, silenced_columns


def toy_data(n_train=230, n_test=70, d=12, classes=4, seed=0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    centers = torch.rand(classes, d, generator=g)
    def split(n):
        y = torch.randint(0, classes, (n,), generator=g)
        x = (centers[y] + 0.25 * torch.rand(n, d, generator=g)).clamp(0, 1)
        return x.float(), y
    xtr, ytr = split(n_train)
    xte, yte = split(n_test)
    return Dataset("toy", xtr, ytr, xte, yte, classes)


SETTINGS = TrainSettings(ModelConfig(hidden=[9, 7]), TrainConfig(epochs=3, batch_size=32, lr=0.05))


def collect():
    snaps = {}
    def on_snapshot(epoch, ids, weights):
        snaps.setdefault(epoch, []).append((list(ids), [w.clone() for w in weights]))
    return snaps, on_snapshot


# keras with a wide init: logits in the tens, so the clip silences part of the samples (checked below)
@pytest.mark.parametrize("activation,streams,loss,init", [("relu", "shared", "keras", 4.0),
                                                          ("relu", "shared", "cross_entropy", 0.9),
                                                          ("tanh", "independent", "keras", 0.9)])
def test_population_equals_independent_training(activation, streams, loss, init):
    """Tolerance: float32 arithmetic in a different order; 1e-4 absolute on weights after 3 epochs."""
    data = toy_data()
    s = TrainSettings(ModelConfig(hidden=[9, 7], activation=activation,
                                  init=InitConfig(low=-init, high=init, layer_streams=streams)),
                      TrainConfig(epochs=3, batch_size=32, lr=0.05, loss=loss))
    ids = [0, 1, 2, 3, 4]
    snaps, cb = collect()
    res = train_population(data, s, ids, base_seed=100, snapshots="last", on_snapshot=cb, progress=False)
    (got_ids, weights), = snaps[s.train.epochs]
    assert got_ids == ids
    for k, nid in enumerate(ids):
        ref_w, hist = train_one(data, s, seed=100 + nid)
        hist = as_arrays(hist)
        for layer, w in enumerate(ref_w):
            torch.testing.assert_close(weights[layer][k], w, atol=1e-4, rtol=1e-4)
        for m in ("train_loss", "test_loss"):
            np.testing.assert_allclose(res.curves[m][k], hist[m], rtol=1e-4, atol=1e-5)
        for m in ("train_acc", "test_acc", "train_silenced"):
            np.testing.assert_allclose(res.curves[m][k], hist[m], atol=1.5 / 70)
    # per class, from the test predictions: the oracle counts one class at a time, by the definitions
    for k, nid in enumerate(ids):
        hist = as_arrays(train_one(data, s, seed=100 + nid)[1])
        for m in class_metrics(data.n_classes):
            np.testing.assert_array_equal(res.curves[m][k], hist[m], err_msg=m)
        np.testing.assert_allclose(res.silenced_first_epoch[k],
                                   [hist[c][0] for c in silenced_columns(data.n_classes)], rtol=1e-12)
    assert (res.curves["test_lost"] > 0).any()   # classes are lost here: the comparison is not vacuous
    silenced = res.curves["train_silenced"][:, 1]
    if loss == "cross_entropy":
        assert (silenced == 0).all()
    elif init > 1:
        assert 0.1 < silenced.mean() < 0.9, silenced  # the clip is exercised, not vacuous


def _one_network(w1: torch.Tensor, w2: torch.Tensor, loss: str = "keras"):
    from engine.population.mlp import PopulationMLP

    return PopulationMLP([w1[None].clone(), w2[None].clone()], "linear", loss=loss)


def test_keras_loss_gives_a_saturated_sample_no_gradient():
    """Built by hand: a linear 2-2-3 network whose logits for sample 'wrong' put p_true near e^-60
    (below the 1e-7 clip) and for sample 'right' near 1 - e^-60 (above 1 - 1e-7): neither moves a
    weight, and each reports the capped loss. A moderate sample does train, alone or beside them."""
    from engine.population.mlp import KERAS_EPSILON, KERAS_UPPER

    w1 = torch.eye(2)
    w2 = torch.tensor([[30.0, -30.0, 0.0], [0.0, 0.0, 0.0]])   # logits (30 x0, -30 x0, 0)
    x = torch.tensor([[2.0, 0.0], [2.0, 0.0], [0.05, 1.0]])
    y = torch.tensor([1, 0, 0])                                   # wrong, right, moderate
    for rows, moves in (([0], False), ([1], False), ([0, 1], False), ([2], True)):
        net = _one_network(w1, w2)
        loss, _, silenced = net.sgd_step(x[rows], y[rows], lr=0.1)
        changed = any(not torch.equal(a[0], b) for a, b in zip(net.weights(), (w1, w2)))
        assert changed == moves, rows
        assert int(silenced) == (0 if moves else len(rows))
    net = _one_network(w1, w2)
    loss, _, _ = net.sgd_step(x[:2], y[:2], lr=0.1)
    expected = (-np.log(np.float32(KERAS_EPSILON)) - np.log(np.float32(KERAS_UPPER))) / 2
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
    # beside the saturated samples the moderate one trains at 1/B of its own gradient
    alone, mixed = _one_network(w1, w2), _one_network(w1, w2)
    alone.sgd_step(x[2:], y[2:], lr=0.1 / 3)
    mixed.sgd_step(x, y, lr=0.1)
    for a, b in zip(alone.weights(), mixed.weights()):
        torch.testing.assert_close(a, b)
    # torch's cross-entropy has no clip: the same wrong sample trains
    ce = _one_network(w1, w2, "cross_entropy")
    ce.sgd_step(x[:1], y[:1], lr=0.1)
    assert not torch.equal(ce.weights()[1][0], w2)


def test_keras_loss_value_matches_its_definition():
    """Reported (and evaluated) loss = -log(clip(softmax(z)_true, 1e-7, 1 - 1e-7)), capped at -log(1e-7)."""
    from engine.population.mlp import per_sample_loss

    logits = torch.tensor([[[0.0, 50.0, 1.0], [1.0, -50.0, 1.0], [2.0, 0.0, 1.0]]])  # (N=1, C=3, B=3)
    y = torch.tensor([0, 1, 2])   # sample 1: p_true = e^-100, below the clip
    loss, silenced = per_sample_loss(logits, y, "keras")
    p = torch.softmax(logits[0].t().double(), 1)
    want = -torch.log(p[torch.arange(3), y].clamp(1e-7, 1 - 1e-7))
    torch.testing.assert_close(loss[0].double(), want, rtol=1e-6, atol=1e-6)
    assert silenced[0].tolist() == [False, True, False]
    assert float(loss.max()) == pytest.approx(-np.log(1e-7), rel=1e-6)


def test_chunking_and_subsets_give_the_same_networks():
    data = toy_data()
    a_snaps, a_cb = collect()
    train_population(data, SETTINGS, range(6), on_snapshot=a_cb, progress=False)
    b_snaps, b_cb = collect()
    train_population(data, SETTINGS, [4, 5], chunk_size=1, on_snapshot=b_cb, progress=False)
    full = a_snaps[SETTINGS.train.epochs][0][1]
    for (ids, weights) in b_snaps[SETTINGS.train.epochs]:
        for layer in range(3):
            torch.testing.assert_close(weights[layer][0], full[layer][ids[0]], atol=1e-5, rtol=1e-5)


def test_fixed_seed_reproduces_the_run():
    data = toy_data()
    r1 = train_population(data, SETTINGS, range(3), progress=False)
    r2 = train_population(data, SETTINGS, range(3), progress=False)
    for m in r1.curves:
        np.testing.assert_array_equal(r1.curves[m], r2.curves[m])


def test_shared_layer_streams_imitate_keras_seeding():
    w = init_network([4, 3, 2], seed=7, layer_streams="shared")
    # every layer starts the same uniform stream: layer 2's values are layer 1's first values
    assert torch.equal(w[1].flatten(), w[0].flatten()[:6])
    w_ind = init_network([4, 3, 2], seed=7, layer_streams="independent")
    assert torch.equal(w_ind[0], w[0]) and not torch.equal(w_ind[1].flatten(), w[0].flatten()[:6])
    assert float(w[0].min()) >= -0.9 and float(w[0].max()) <= 0.9


def test_divergence_is_flagged_not_a_crash(monkeypatch, caplog):
    """One network of four diverges (a NaN in its init): it alone is flagged, the warning counts it, its
    measures are NaN, and the other three train exactly as they do without it."""
    from engine.measures.compute import compute_measures
    from engine.population import train as train_module
    from engine.population.init import network_seed

    def init_with_a_nan(sizes, seeds, **kwargs):
        init = train_module_init(sizes, seeds, **kwargs)
        if network_seed(0, 2) in seeds:
            init[0][list(seeds).index(network_seed(0, 2)), 0, 0] = float("nan")
        return init

    train_module_init = train_module.init_population
    data = toy_data()
    snaps, on_snapshot = collect()
    monkeypatch.setattr(train_module, "init_population", init_with_a_nan)
    with caplog.at_level("WARNING", logger="engine"):
        res = train_population(data, SETTINGS, range(4), on_snapshot=on_snapshot, progress=False)
    assert res.diverged.tolist() == [False, False, True, False]
    assert "1 of 4 networks diverged" in caplog.text
    assert np.isnan(res.curves["test_loss"][2]).all() and np.isfinite(res.curves["test_loss"][[0, 1, 3]]).all()
    monkeypatch.undo()
    alone = train_population(data, SETTINGS, [0, 1, 3], progress=False)
    for metric in ("train_loss", "test_loss", "test_acc"):
        assert np.array_equal(res.curves[metric][[0, 1, 3]], alone.curves[metric]), metric
    caplog.clear()
    with caplog.at_level("WARNING", logger="engine"):
        values = compute_measures(snaps[SETTINGS.train.epochs][0][1], ["strength"], progress=False)
    assert torch.isnan(values[2]).all() and torch.isfinite(values[[0, 1, 3]]).all()
    assert "1 of 4 networks have non-finite weights" in caplog.text


def test_all_networks_diverging_is_flagged_not_a_crash(caplog):
    data = toy_data()
    s = TrainSettings(ModelConfig(hidden=[9, 7]), TrainConfig(epochs=2, batch_size=32, lr=1e30))
    with caplog.at_level("WARNING", logger="engine"):
        res = train_population(data, s, range(3), progress=False)
    assert res.diverged.all() and "3 of 3 networks diverged" in caplog.text
    assert np.isfinite(res.curves["test_acc"][:, 0]).all()   # the untrained networks' results are kept


def test_snapshots_all_epochs_and_bad_settings():
    data = toy_data()
    snaps, cb = collect()
    train_population(data, SETTINGS, range(2), snapshots="all", on_snapshot=cb, progress=False)
    assert sorted(snaps) == [0, 1, 2, 3]
    assert snapshot_epochs("early", 30) == [0, 1, 30] and snapshot_epochs("early", 0) == [0]
    with pytest.raises(EngineError, match="train.lr"):
        train_population(data, TrainSettings(train=TrainConfig(lr=-1.0)), range(2), progress=False)
    with pytest.raises(EngineError, match="snapshots"):
        train_population(data, SETTINGS, range(2), snapshots=[99], progress=False)


def test_cache_blocks_of_networks_change_nothing():
    """Blocked steps (CPU cache blocking) give the unblocked population's weights and metrics."""
    from engine.population.init import init_population
    from engine.population.mlp import PopulationMLP

    data = toy_data()
    init = init_population([12, 9, 7, 4], list(range(5)))
    nets = [PopulationMLP([w.clone() for w in init], block_size=bs) for bs in (5, 2)]
    assert len(nets[1].blocks()) == 3
    for start in range(0, 96, 32):
        x, y = data.X_train[start:start + 32], data.y_train[start:start + 32]
        (l0, c0, s0), (l1, c1, s1) = (n.sgd_step(x, y, 0.05) for n in nets)
        torch.testing.assert_close(l0, l1)
        assert torch.equal(c0, c1) and torch.equal(s0, s1)
    for a, b in zip(nets[0].weights(), nets[1].weights()):
        torch.testing.assert_close(a, b)
    counts = [torch.zeros(2, 5, 4, dtype=torch.int64) for _ in nets]
    for a, b in zip(*(n.evaluate(data.X_test, data.y_test, class_counts=c) for n, c in zip(nets, counts))):
        torch.testing.assert_close(a, b)
    assert torch.equal(counts[0], counts[1]) and int(counts[0][0].sum()) == 5 * len(data.y_test)
    by_class = [torch.zeros(5, 4, dtype=torch.int64) for _ in nets]
    for n, c in zip(nets, by_class):
        n.sgd_step(data.X_train[:32], data.y_train[:32], 0.05, silenced_by_class=c)
    assert torch.equal(by_class[0], by_class[1])


def test_training_never_writes_into_the_weights_passed():
    """Weights passed as transposed views of (N, fan_out, fan_in) storage (contiguous once transposed
    back) were trained in place: the model held the caller's storage. It trains copies."""
    from engine.population.mlp import PopulationMLP

    data = toy_data()
    storage = [torch.rand(3, 9, 12, generator=torch.Generator().manual_seed(0)) - 0.5,
               torch.rand(3, 4, 9, generator=torch.Generator().manual_seed(1)) - 0.5]
    before = [s.clone() for s in storage]
    net = PopulationMLP([s.transpose(1, 2) for s in storage], loss="cross_entropy")
    net.sgd_step(data.X_train[:32], data.y_train[:32], 0.5)
    assert all(torch.equal(s, b) for s, b in zip(storage, before))
    assert not torch.equal(net.weights()[0], before[0].transpose(1, 2))   # the model's copy did train


def test_lost_classes_of_a_hand_built_network():
    """A linear 3-3 network that predicts the argmax of its input: inputs chosen so that it predicts
    class 0 for three samples, class 2 for two and class 1 never, against labels 0 0 1 1 2 (sizes 2, 2, 1).
    Lost: class 1 (mask 0b010 = 2); accuracy on the predicted classes 0 and 2: 3 of their 3 samples;
    per class: 2/2, 0/2, 1/1. A second network (the negated identity: the argmin, ties to the first
    class) predicts 1 1 2 0 0: every class, none correctly."""
    from engine.population.mlp import PopulationMLP

    x = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [1.0, 0.5, 0], [0, 0, 1.0], [0, 0, 1.0]])
    y = torch.tensor([0, 0, 1, 1, 2])
    w = torch.stack([torch.eye(3), -torch.eye(3)])
    net = PopulationMLP([w], "linear")
    counts = torch.zeros(2, 2, 3, dtype=torch.int64)
    _, acc, _ = net.evaluate(x, y, class_counts=counts)
    assert counts[0].tolist() == [[3, 0, 2], [2, 2, 1]]
    assert counts[1].tolist() == [[2, 0, 1], [0, 0, 0]]
    m = lost_class_metrics(counts.numpy(), np.array([2, 2, 1]))
    assert m["test_lost"].tolist() == [1, 0] and m["test_lost_classes"].tolist() == [2, 0]
    assert m["test_acc_predicted"].tolist() == [1.0, 0.0]
    assert [m[f"test_acc_c{k}"].tolist() for k in range(3)] == [[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]]
    np.testing.assert_allclose(acc.numpy(), [3 / 5, 0.0])
    # a class absent from the test set is never lost; with no test sample its accuracy is NaN
    m = lost_class_metrics(np.array([[[5, 0, 0, 0]], [[4, 0, 0, 0]]]), np.array([4, 1, 0, 0]))
    assert m["test_lost"].tolist() == [1] and m["test_lost_classes"].tolist() == [2]
    assert m["test_acc_predicted"].tolist() == [1.0] and np.isnan(m["test_acc_c2"][0])
    # predicting only classes the test set lacks: every present class lost, nothing to count
    m = lost_class_metrics(np.array([[[0, 0, 5]], [[0, 0, 0]]]), np.array([3, 2, 0]))
    assert m["test_lost"].tolist() == [2] and m["test_lost_classes"].tolist() == [3]
    assert np.isnan(m["test_acc_predicted"][0])
    # more classes than the mask has bits: -1, the count and per-class accuracies still there
    big = lost_class_metrics(np.zeros((2, 1, 70), dtype=np.int64), np.ones(70, dtype=np.int64))
    assert big["test_lost"].tolist() == [70] and big["test_lost_classes"].tolist() == [-1]


def test_silenced_samples_are_counted_by_class():
    """The hand-built saturated samples of the test above: 'wrong' (class 1) and 'right' (class 0) are
    silenced, the moderate one (class 0) is not; per class, silenced counts [1, 1, 0]; cross_entropy
    silences nothing. Over a population's first epoch, per class shares equal the oracle's."""
    w1 = torch.eye(2)
    w2 = torch.tensor([[30.0, -30.0, 0.0], [0.0, 0.0, 0.0]])
    x = torch.tensor([[2.0, 0.0], [2.0, 0.0], [0.05, 1.0]])
    y = torch.tensor([1, 0, 0])
    for loss, want in (("keras", [1, 1, 0]), ("cross_entropy", [0, 0, 0])):
        by_class = torch.zeros(1, 3, dtype=torch.int64)
        _, _, silenced = _one_network(w1, w2, loss).sgd_step(x, y, 0.1, silenced_by_class=by_class)
        assert by_class.tolist() == [want] and int(silenced) == sum(want)
