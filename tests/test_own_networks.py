"""Every layout a researcher brings is read as the network its owner trained, or refused in one line.

Each file is written by the real library where it installs (Keras 3 with the torch backend, PyTorch,
Lightning, safetensors, NumPy) or byte for byte as the library writes it (Keras 2 HDF5, TensorFlow
SavedModel folders and checkpoints), with layers of equal width, so that a wrong order or orientation
still chains; every measure is checked against networkx on the true network.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
from collections import OrderedDict
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from engine.errors import EngineError
from engine.measures import compute_measures
from engine.networks import read_network
from engine.networks.measure import measure_network
from own_networks import WIDTH, assert_measures_true, assert_read_true, true_weights

os.environ.setdefault("KERAS_BACKEND", "torch")


def check(source, weights, **kw):
    """Read and measure ``source``: the true weights, every measure equal to networkx."""
    net = read_network(source, **kw)
    assert_read_true(net, weights)
    assert_measures_true(measure_network(net), weights)
    return net


def torch_mlp(weights, cls=torch.nn.Sequential, bn=False) -> torch.nn.Module:
    layers = []
    for k, w in enumerate(weights):
        lin = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T))
            lin.bias.uniform_(-1, 1)
        layers.append(lin)
        if k < len(weights) - 1:
            if bn:
                layers.append(torch.nn.BatchNorm1d(w.shape[1]))
            layers.append(torch.nn.ReLU())
    return cls(*layers)


# --- Keras 3 (the real library, torch backend) -----------------------------------------------------------

@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _set(layer, w):
    layer.set_weights([w, np.linspace(-1, 1, w.shape[1]).astype(np.float32)])


def keras_nested(keras, ws):
    """A functional model whose first two Dense layers are in a nested, partly frozen Sequential block;
    names chosen so that alphabetical order is wrong (zz_first, aa_second, head)."""
    inp = keras.Input((WIDTH,))
    base = keras.Sequential([keras.layers.Dense(WIDTH, activation="relu", name="zz_first"),
                             keras.layers.BatchNormalization(name="bn"),
                             keras.layers.Dense(WIDTH, activation="relu", name="aa_second")], name="base")
    x = keras.layers.Dropout(0.1)(base(inp))
    head = keras.layers.Dense(WIDTH, name="head")
    model = keras.Model(inp, head(x))
    _set(base.layers[0], ws[0])
    _set(base.layers[2], ws[1])
    _set(head, ws[2])
    base.layers[0].trainable = False   # a frozen layer: legacy .h5 lists trainable weights first
    return model


def test_keras3_archive_with_a_nested_block(keras, tmp_path):
    ws = true_weights()
    keras_nested(keras, ws).save(tmp_path / "m.keras")
    net = check(tmp_path / "m.keras", ws)
    assert net.source_format == "keras" and net.order == "the model's config (config.json)"
    assert net.layer_names == ["base/zz_first", "base/aa_second", "head"]
    assert net.not_in_graph["base/bn"] == ["gamma", "beta", "moving_mean", "moving_variance"]


def test_keras3_legacy_h5_with_a_frozen_nested_block(keras, tmp_path):
    ws = true_weights(seed=1)
    keras_nested(keras, ws).save(tmp_path / "m.h5")
    net = check(tmp_path / "m.h5", ws)
    assert net.order == "the model's config (model_config)"


def test_keras3_sequential_with_batch_normalization(keras, tmp_path):
    ws = true_weights(seed=2)
    dense = [keras.layers.Dense(WIDTH) for _ in ws]
    model = keras.Sequential([keras.Input((WIDTH,)), dense[0], keras.layers.BatchNormalization(), dense[1],
                              keras.layers.BatchNormalization(), dense[2]])
    for d, w in zip(dense, ws):
        _set(d, w)
    model.save(tmp_path / "m.keras")
    net = check(tmp_path / "m.keras", ws)
    assert "batch_normalization: gamma, beta, moving_mean, moving_variance" in net.describe_not_in_graph()
    # the weights-only file of the same model records no order: several fit, so it is refused ...
    model.save_weights(tmp_path / "m.weights.h5")
    with pytest.raises(EngineError, match=r"does not record the order.*--layers .*layers=\[...\] in Python"):
        read_network(tmp_path / "m.weights.h5")
    # ... and read when the order is given
    names = [d.name for d in dense]
    check(tmp_path / "m.weights.h5", ws, layers=",".join(names))


def test_keras3_weights_file_whose_shapes_fix_the_order(keras, tmp_path):
    ws = true_weights(sizes=[7, 6, 5, 4])
    dense = [keras.layers.Dense(w.shape[1], name=n) for w, n in zip(ws, ["c", "a", "b"])]
    model = keras.Sequential([keras.Input((7,)), *dense])
    for d, w in zip(dense, ws):
        _set(d, w)
    model.save_weights(tmp_path / "m.weights.h5")
    net = check(tmp_path / "m.weights.h5", ws)
    assert net.order.startswith("the only order whose shapes chain")


def test_keras3_subclassed_model(keras, tmp_path):
    ws = true_weights(seed=3)

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.out_layer = keras.layers.Dense(WIDTH)   # defined first, called last
            self.hidden = [keras.layers.Dense(WIDTH), keras.layers.Dense(WIDTH)]

        def call(self, x):
            for h in self.hidden:
                x = h(x)
            return self.out_layer(x)

    model = Net()
    model(np.zeros((1, WIDTH), np.float32))
    for d, w in zip([*model.hidden, model.out_layer], ws):
        _set(d, w)
    model.save(tmp_path / "sub.keras")
    with pytest.raises(EngineError, match="does not record the order"):
        read_network(tmp_path / "sub.keras")
    order = [model.hidden[0].name, model.hidden[1].name, model.out_layer.name]
    check(tmp_path / "sub.keras", ws, layers=order)


# --- Keras 2 HDF5, written as tf-keras' hdf5_format.py writes it ------------------------------------------

def _dense_cfg(name, units):
    return {"class_name": "Dense", "config": {"name": name, "trainable": True, "units": units, "activation": "relu",
                                              "use_bias": True}}


def write_keras2_nested_h5(path: Path, ws):
    """model.save('m.h5') in Keras 2.x of the nested model above: model_config with Keras 2's inbound
    node lists, and the nested block's weight_names with trainable weights first."""
    base = {"class_name": "Sequential", "name": "base", "inbound_nodes": [[["input_1", 0, 0, {}]]],
            "config": {"name": "base", "layers": [
                {"class_name": "InputLayer", "config": {"batch_input_shape": [None, WIDTH], "name": "zz_first_input"}},
                _dense_cfg("zz_first", WIDTH),
                {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": [1]}},
                _dense_cfg("aa_second", WIDTH)]}}
    layers = [{"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
               "config": {"batch_input_shape": [None, WIDTH], "name": "input_1"}},
              base,
              {"class_name": "Dropout", "name": "dropout", "inbound_nodes": [[["base", 0, 0, {}]]],
               "config": {"name": "dropout", "rate": 0.1}},
              dict(_dense_cfg("head", WIDTH), name="head", inbound_nodes=[[["dropout", 0, 0, {}]]])]
    config = {"class_name": "Functional", "config": {"name": "model", "layers": layers,
                                                     "input_layers": [["input_1", 0, 0]],
                                                     "output_layers": [["head", 0, 0]]}}
    bias = lambda n: np.linspace(-1, 1, n).astype(np.float32)  # noqa: E731
    base_weights = [("bn/gamma:0", np.ones(WIDTH, np.float32)), ("bn/beta:0", np.zeros(WIDTH, np.float32)),
                    ("aa_second/kernel:0", ws[1]), ("aa_second/bias:0", bias(WIDTH)),
                    ("zz_first/kernel:0", ws[0]), ("zz_first/bias:0", bias(WIDTH)),   # frozen: listed after
                    ("bn/moving_mean:0", np.zeros(WIDTH, np.float32)),
                    ("bn/moving_variance:0", np.ones(WIDTH, np.float32))]
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.4.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"input_1", b"base", b"dropout", b"head"])
        for name, weights in (("input_1", []), ("base", base_weights), ("dropout", []),
                              ("head", [("head/kernel:0", ws[2]), ("head/bias:0", bias(WIDTH))])):
            g = mw.create_group(name)
            g.attrs["weight_names"] = np.array([n.encode() for n, _ in weights]) if weights else np.array([])
            for n, v in weights:
                g.create_dataset(n, data=v)
        f.create_dataset("optimizer_weights/SGD/iterations:0", data=np.int64(3))


def test_keras2_h5_with_a_frozen_nested_block(tmp_path):
    ws = true_weights(seed=4)
    write_keras2_nested_h5(tmp_path / "k2.h5", ws)
    net = check(tmp_path / "k2.h5", ws)
    assert net.layer_names == ["base/zz_first", "base/aa_second", "head"]
    assert net.not_in_graph["base/bn"] == ["gamma", "beta", "moving_mean", "moving_variance"]


def test_keras2_save_weights_records_no_order(tmp_path):
    ws = true_weights(seed=5)
    with h5py.File(tmp_path / "w.h5", "w") as f:   # save_weights(): layer_names in tracking order, no config
        f.attrs["layer_names"] = np.array([b"out", b"fc1", b"fc2"])
        for name, w in (("out", ws[2]), ("fc1", ws[0]), ("fc2", ws[1])):
            f.create_group(name).attrs["weight_names"] = np.array([f"{name}/kernel:0".encode()])
            f[name].create_dataset(f"{name}/kernel:0", data=w)
    with pytest.raises(EngineError, match="--layers out,fc1,fc2"):
        read_network(tmp_path / "w.h5")
    check(tmp_path / "w.h5", ws, layers=["fc1", "fc2", "out"])


# --- PyTorch --------------------------------------------------------------------------------------------

def test_torch_batchnorm_state_dict(tmp_path):
    ws = true_weights(seed=6)
    model = torch_mlp(ws, bn=True)
    torch.save(model.state_dict(), tmp_path / "bn.pt")
    net = check(tmp_path / "bn.pt", ws)
    assert net.not_in_graph["1"] == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    check(model, ws)   # the module itself: the same network


def test_pytorch_examples_checkpoint_with_data_parallel_prefixes(tmp_path):
    ws = true_weights(seed=7)
    state = {f"module.{k}": v for k, v in torch_mlp(ws).state_dict().items()}
    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 90, "arch": "mlp", "state_dict": state, "best_acc1": torch.tensor(0.9),
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}}, path)
    net = check(path, ws)
    assert net.layer_names == ["module.0", "module.2", "module.4"] and net.metadata["state_dict_key"] == "state_dict"


def test_lightning_checkpoint_without_running_its_code(tmp_path):
    pl = pytest.importorskip("pytorch_lightning")
    import argparse

    ws = true_weights(seed=8)

    class Lit(pl.LightningModule):
        def __init__(self, hparams_obj):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch_mlp(ws)

        def forward(self, x):
            return self.net(x)

    lit = Lit(argparse.Namespace(lr=0.1, activation=torch.nn.ReLU))
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, max_epochs=0)
    trainer.strategy.connect(lit)
    trainer.save_checkpoint(tmp_path / "epoch=0.ckpt")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):   # pickled hyper-parameters
        torch.load(tmp_path / "epoch=0.ckpt", weights_only=True)
    net = check(tmp_path / "epoch=0.ckpt", ws)
    assert net.layer_names == ["net.0", "net.2", "net.4"]


def test_sorted_state_dict_with_ten_and_more_layers_follows_the_indices(tmp_path):
    ws = true_weights(n_layers=12, seed=9)
    model = torch_mlp(ws)
    state = dict(sorted((f"layers.{k}", v) for k, v in model.state_dict().items()))   # layers.10 before layers.2
    assert list(state)[:3] == ["layers.0.bias", "layers.0.weight", "layers.10.bias"]
    torch.save(state, tmp_path / "pytorch_model.bin")
    net = check(tmp_path / "pytorch_model.bin", ws)
    assert net.order.startswith("numeric indices")


def test_pruned_weights_are_the_masked_weights(tmp_path):
    import torch.nn.utils.prune as prune

    ws = true_weights(seed=10)
    model = torch_mlp(ws)
    prune.l1_unstructured(model[0], "weight", amount=0.4)
    masked = [model[0].weight.detach().numpy().T.copy(), ws[1], ws[2]]
    assert (masked[0] == 0).sum() == 10
    torch.save(model.state_dict(), tmp_path / "pruned.pt")
    net = check(tmp_path / "pruned.pt", masked)
    assert net.pruned == ["0"]
    check(model, masked)


def test_whole_pickled_module_is_read_without_its_code(tmp_path):
    ws = true_weights(seed=11)
    torch.save(torch_mlp(ws), tmp_path / "model.pth")
    check(tmp_path / "model.pth", ws)


def test_checkpoint_with_two_weight_dicts_asks_which(tmp_path):
    ws, ema = true_weights(seed=12), true_weights(seed=13)
    torch.save({"model": torch_mlp(ws).state_dict(), "ema": torch_mlp(ema).state_dict()}, tmp_path / "c.pt")
    with pytest.raises(EngineError, match=r"several dicts of tensors \('model', 'ema'\).*--key"):
        read_network(tmp_path / "c.pt")
    check(tmp_path / "c.pt", ema, key="ema")


class Defined(torch.nn.Module):
    """Layers defined in another order than the forward pass calls them."""

    def __init__(self, ws):
        super().__init__()
        self.out = torch.nn.Linear(WIDTH, WIDTH)
        self.fc1 = torch.nn.Linear(WIDTH, WIDTH)
        self.fc2 = torch.nn.Linear(WIDTH, WIDTH)
        with torch.no_grad():
            for lin, w in zip((self.fc1, self.fc2, self.out), ws):
                lin.weight.copy_(torch.from_numpy(w.T))

    def forward(self, x):
        return self.out(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def test_module_in_memory_follows_its_forward_pass(tmp_path):
    ws = true_weights(seed=14)
    model = Defined(ws)
    net = check(model, ws)
    assert net.layer_names == ["fc1", "fc2", "out"] and net.order.startswith("the order the forward pass")
    assert model.training   # its mode is restored
    torch.save(model.state_dict(), tmp_path / "m.pt")   # a state_dict records the registration order
    assert read_network(tmp_path / "m.pt").layer_names == ["out", "fc1", "fc2"]
    check(tmp_path / "m.pt", ws, layers="fc1,fc2,out")


# --- safetensors and npz ----------------------------------------------------------------------------------

def test_safetensors_of_a_state_dict(tmp_path):
    ws = true_weights(seed=15)
    state = OrderedDict((k.replace("0.", "fc1.").replace("2.", "fc2.").replace("4.", "out."), v)
                        for k, v in torch_mlp(ws).state_dict().items())
    save_file(dict(state), tmp_path / "named.safetensors")   # sorted by name in the file
    with pytest.raises(EngineError, match="fit their shapes .*--layers"):
        read_network(tmp_path / "named.safetensors")
    check(tmp_path / "named.safetensors", ws, layers=["fc1", "fc2", "out"])
    save_file(dict(torch_mlp(ws).state_dict()), tmp_path / "indexed.safetensors")   # 0., 2., 4.: indices
    check(tmp_path / "indexed.safetensors", ws)


def test_npz_of_a_state_dict_is_not_transposed(tmp_path):
    ws = true_weights(seed=16)
    np.savez(tmp_path / "sd.npz", **{k: v.numpy() for k, v in torch_mlp(ws).state_dict().items()})
    check(tmp_path / "sd.npz", ws)


def test_arrays_whose_names_do_not_say_their_orientation(tmp_path):
    ws = true_weights(seed=17)
    np.savez(tmp_path / "plain.npz", *ws)
    with pytest.raises(EngineError, match="chain both as .*--orientation in_out"):
        read_network(tmp_path / "plain.npz")
    check(tmp_path / "plain.npz", ws, orientation="in_out")
    np.savez(tmp_path / "torchlike.npz", *[w.T for w in ws])
    check(tmp_path / "torchlike.npz", ws, orientation="out_in")


# --- TensorFlow: one line saying how to re-save ----------------------------------------------------------

def _tf_index(path: Path):
    """A tensor_bundle .index: a LevelDB-style table whose 48-byte footer ends in its magic number."""
    block = b"\x00" * 5   # an empty data block and its trailer
    footer = bytes([0, 0, 0, 0]).ljust(40, b"\x00") + struct.pack("<Q", 0xDB4775248B80FB57)
    path.write_bytes(block + footer)


def test_tensorflow_saved_model_and_checkpoint_are_refused_with_the_way_out(tmp_path):
    saved = tmp_path / "export"
    (saved / "variables").mkdir(parents=True)
    (saved / "saved_model.pb").write_bytes(b"\x08\x01\x12\x00")
    _tf_index(saved / "variables" / "variables.index")
    (saved / "variables" / "variables.data-00000-of-00001").write_bytes(b"\x00" * 64)
    with pytest.raises(EngineError, match=r"export: a TensorFlow SavedModel folder.*model.save\('model.keras'\)"):
        read_network(saved)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    _tf_index(ckpt / "ckpt-3.index")
    (ckpt / "ckpt-3.data-00000-of-00001").write_bytes(b"\x00" * 64)
    (ckpt / "checkpoint").write_text('model_checkpoint_path: "ckpt-3"\n')
    for path in (ckpt, ckpt / "ckpt-3.index", ckpt / "ckpt-3", ckpt / "ckpt-3.data-00000-of-00001"):
        with pytest.raises(EngineError, match="a TensorFlow checkpoint .*restore it"):
            read_network(path)


# --- Python: lists of matrices must say their orientation where it matters ---------------------------------

def test_lists_of_matrices_and_compute_measures_orientation():
    ws = true_weights(seed=18)
    linear = [torch.from_numpy(w.T.copy()) for w in ws]   # nn.Linear.weight: (out, in), square
    for call in (lambda: compute_measures(linear), lambda: measure_network(linear)):
        with pytest.raises(EngineError, match="orientation"):
            call()
    assert_measures_true(measure_network(linear, orientation="out_in"), ws)
    values = compute_measures(linear, orientation="out_in")
    np.testing.assert_allclose(values[0].numpy(), compute_measures(ws, orientation="in_out")[0].numpy())
    unequal = true_weights(sizes=[6, 5, 4, 3])
    with pytest.raises(EngineError, match="only as PyTorch's \\(out, in\\).*orientation='out_in'"):
        compute_measures([torch.from_numpy(w.T.copy()) for w in unequal])
    assert_measures_true(measure_network(unequal), unequal)   # unambiguous: (fan_in, fan_out)
