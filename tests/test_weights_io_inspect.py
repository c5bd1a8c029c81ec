"""Weight files in every supported format (written here in the real formats), snapshots, bad files,
and the ``python -m engine.inspect`` CLI against the paper's golden measure values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from engine.errors import EngineError
from engine.networks import Network as LoadedModel, read_network as load_model
from engine.weights_io import load_snapshot, save_snapshot

GOLDEN = Path(os.environ.get("ENGINE_GOLDEN_DIR", Path(__file__).resolve().parent / "data" / "golden"))
REPO = Path(__file__).resolve().parents[1]
SIZES = (6, 5, 4, 3)


def keras_weights(seed=0, sizes=SIZES) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-0.9, 0.9, (a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]


def assert_weights(model: LoadedModel, expected: list[np.ndarray]):
    assert len(model.weights) == len(expected)
    for got, want in zip(model.weights, expected):
        np.testing.assert_array_equal(got.numpy(), want)


# --- Keras HDF5 -----------------------------------------------------------------------------------

def write_keras_h5(path: Path, weights, names, *, with_bias=True, layer_names_attr=True, full_model=True):
    """The layout Keras 2 writes: model_weights/<layer>/<layer>/kernel:0 (+ bias:0), with name attributes."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        root = f.create_group("model_weights") if full_model else f
        if layer_names_attr:
            root.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name, w in zip(names, weights):
            g = root.create_group(name)
            inner = g.create_group(name)
            inner.create_dataset("kernel:0", data=w)
            wnames = [f"{name}/kernel:0"]
            if with_bias:
                inner.create_dataset("bias:0", data=np.zeros(w.shape[1], np.float32))
                wnames.append(f"{name}/bias:0")
            g.attrs["weight_names"] = np.array([n.encode() for n in wnames])
        if full_model:  # optimizer state must not be mistaken for layers
            f.create_dataset("optimizer_weights/SGD/Variable:0", data=np.ones((7, 7), np.float32))


def test_keras_h5_full_model_with_biases(tmp_path):
    ws = keras_weights()
    path = tmp_path / "m.h5"
    write_keras_h5(path, ws, ["dense_1", "dense_2", "dense_3"])
    model = load_model(path)
    assert_weights(model, ws)
    assert model.layer_names == ["dense_1", "dense_2", "dense_3"]
    assert model.not_in_graph == {f"dense_{k}": ["bias"] for k in (1, 2, 3)}
    assert model.source_format == "keras-h5" and model.n_networks == 1 and model.layer_sizes == list(SIZES)


def test_keras_h5_layer_order(tmp_path):
    ws = keras_weights(sizes=(3, 4, 5, 2))
    # Without a model config the file records no order the engine trusts: these shapes fit one order.
    path = tmp_path / "attr.h5"
    write_keras_h5(path, ws, ["zeta", "alpha", "mid"])
    assert_weights(load_model(path), ws)
    # Likewise without the layer_names attribute, here in a save_weights() file (root level).
    path = tmp_path / "natural.hdf5"
    write_keras_h5(path, ws, ["dense_2", "dense_9", "dense_10"], layer_names_attr=False, full_model=False,
                   with_bias=False)
    model = load_model(path)
    assert_weights(model, ws)
    assert model.not_in_graph == {}


def test_keras3_weights_h5(tmp_path):
    ws = keras_weights()
    path = tmp_path / "m.weights.h5"
    with h5py.File(path, "w") as f:  # Keras 3 save_weights layout
        for name, w in zip(["dense", "dense_1", "dense_2"], ws):
            f.create_dataset(f"layers/{name}/vars/0", data=w)
            f.create_dataset(f"layers/{name}/vars/1", data=np.zeros(w.shape[1], np.float32))
        f.create_group("optimizer/vars")
    model = load_model(path)
    assert_weights(model, ws)
    assert model.layer_names == ["dense", "dense_1", "dense_2"] and len(model.not_in_graph) == 3


def test_golden_h5_reads():
    path = GOLDEN / "mnist_network1.h5"
    if not path.is_file():
        pytest.skip(f"golden network not found at {path} (set ENGINE_GOLDEN_DIR)")
    model = load_model(path)
    assert [tuple(w.shape) for w in model.weights] == [(784, 200), (200, 100), (100, 10)]
    assert model.layer_names == ["dense_1", "dense_2", "dense_3"] and model.weights[0].dtype == torch.float32


# --- PyTorch ----------------------------------------------------------------------------------------

def _saved_sequential(path):
    """A 6-5-4-3 nn.Sequential (seed 0) and its state_dict saved at ``path``."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4), torch.nn.ReLU(),
                              torch.nn.Linear(4, 3))
    torch.save(net.state_dict(), path)
    return net


def test_torch_state_dict_of_sequential(tmp_path):
    net = _saved_sequential(tmp_path / "m.pt")
    model = load_model(tmp_path / "m.pt")
    # nn.Linear keeps (out, in): the loader returns (fan_in, fan_out).
    assert_weights(model, [net[i].weight.detach().T.numpy() for i in (0, 2, 4)])
    assert model.layer_names == ["0", "2", "4"]
    assert model.describe_not_in_graph() == "0: bias; 2: bias; 4: bias"
    assert model.source_format == "torch"


def test_torch_named_layers_and_checkpoint_dict(tmp_path):
    ws = [torch.randn(b, a) for a, b in zip(SIZES[:-1], SIZES[1:])]  # (out, in)
    state = {"fc1.weight": ws[0], "fc1.bias": torch.zeros(5), "layers.0.weight": ws[1], "out.weight": ws[2]}
    path = tmp_path / "m.pth"
    torch.save({"epoch": 3, "state_dict": state}, path)
    model = load_model(path)
    assert_weights(model, [w.T.numpy() for w in ws])
    assert model.layer_names == ["fc1", "layers.0", "out"]


# --- safetensors ------------------------------------------------------------------------------------

def test_safetensors_per_layer_matrices(tmp_path):
    ws = keras_weights()
    path = tmp_path / "m.safetensors"
    save_file({f"layer{i + 1}": torch.from_numpy(w) for i, w in enumerate(ws)}, str(path))
    # Names that say no orientation, in a file that records no order: read backwards, the same
    # matrices transposed chain too, so the orientation must be given.
    with pytest.raises(EngineError, match="--orientation"):
        load_model(path)
    model = load_model(path, orientation="in_out")
    assert_weights(model, ws)
    assert model.source_format == "safetensors"
    # PyTorch-named tensors are (out, in), like a state_dict.
    path = tmp_path / "torch.safetensors"
    save_file({"0.weight": torch.from_numpy(ws[0].T.copy()), "0.bias": torch.zeros(5),
               "2.weight": torch.from_numpy(ws[1].T.copy()), "4.weight": torch.from_numpy(ws[2].T.copy())}, str(path))
    model = load_model(path)
    assert_weights(model, ws)
    assert model.not_in_graph == {"0": ["bias"]}


def test_snapshot_round_trip(tmp_path):
    g = torch.Generator().manual_seed(1)
    ws = [torch.rand(4, a, b, generator=g) for a, b in zip(SIZES[:-1], SIZES[1:])]
    meta = {"dataset": "digits", "epoch": 7, "seeds": [1, 2, 3, 4]}
    path = tmp_path / "snap" / "epoch7.safetensors"
    save_snapshot(path, ws, meta)
    assert sorted(p.name for p in path.parent.iterdir()) == ["epoch7.safetensors"]  # no temp file left
    got, got_meta = load_snapshot(path)
    assert got_meta == meta
    assert all(torch.equal(a, b) for a, b in zip(got, ws))
    model = load_model(path)
    assert model.source_format == "engine-snapshot" and model.n_networks == 4
    assert model.metadata["epoch"] == 7 and model.layer_names == ["layer1", "layer2", "layer3"]
    assert all(torch.equal(a, b) for a, b in zip(model.stacked(), ws))


def test_snapshot_errors(tmp_path):
    with pytest.raises(EngineError, match="do not chain"):
        save_snapshot(tmp_path / "x.safetensors", [torch.zeros(2, 3, 4), torch.zeros(2, 5, 1)], {})
    with pytest.raises(EngineError, match=r"\(N, fan_in, fan_out\)"):
        save_snapshot(tmp_path / "x.safetensors", [torch.zeros(3, 4)], {})
    other = tmp_path / "plain.safetensors"
    save_file({"layer1": torch.zeros(3, 4)}, str(other))
    with pytest.raises(EngineError, match="not an engine snapshot"):
        load_snapshot(other)
    assert not (tmp_path / "x.safetensors").exists()


# --- npz --------------------------------------------------------------------------------------------

def test_npz_layouts(tmp_path):
    ws = keras_weights()
    np.savez(tmp_path / "arr.npz", *ws)
    assert_weights(load_model(tmp_path / "arr.npz"), ws)
    np.savez(tmp_path / "w.npz", W0=ws[0], b0=np.zeros(5), W1=ws[1], b1=np.zeros(4), W2=ws[2])
    model = load_model(tmp_path / "w.npz")
    assert_weights(model, ws)
    assert model.describe_not_in_graph() == "b0, b1"
    # Listed out of order: the one order whose shapes chain; stacked 3-D populations kept 3-D. (Read
    # backwards, transposed, they would chain too: the orientation must be given.)
    ws3 = [np.stack([w, w + 1]) for w in keras_weights(sizes=(3, 4, 2))]
    np.savez(tmp_path / "stack.npz", layer10=ws3[1], layer2=ws3[0])
    with pytest.raises(EngineError, match="--orientation"):
        load_model(tmp_path / "stack.npz")
    model = load_model(tmp_path / "stack.npz", orientation="in_out")
    assert_weights(model, ws3)
    assert model.n_networks == 2


# --- bad files ----------------------------------------------------------------------------------------

def test_shapes_that_do_not_chain_list_the_contents(tmp_path):
    np.savez(tmp_path / "bad.npz", W0=np.zeros((6, 5)), W1=np.zeros((4, 3)))
    with pytest.raises(EngineError, match=r"do not chain(.|\n)*W0 \(6, 5\)(.|\n)*W1 \(4, 3\)(.|\n)*expected"):
        load_model(tmp_path / "bad.npz")


def test_not_a_fully_connected_stack(tmp_path):
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(8, 2))
    torch.save(conv.state_dict(), tmp_path / "conv.pt")
    with pytest.raises(EngineError, match=r"'0.weight' is a 4-D(.|\n)*0.weight \(2, 1, 3, 3\)"):
        load_model(tmp_path / "conv.pt")
    np.savez(tmp_path / "biases.npz", b0=np.zeros(3))
    with pytest.raises(EngineError, match="no weight matrices found(.|\n)*b0 \\(3,\\)"):
        load_model(tmp_path / "biases.npz")
    np.savez(tmp_path / "mixed.npz", W0=np.zeros((2, 3, 4)), W1=np.zeros((4, 2)))
    with pytest.raises(EngineError, match="mixes 2-D and 3-D"):
        load_model(tmp_path / "mixed.npz")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.create_dataset("something", data=np.zeros(3))
    with pytest.raises(EngineError, match="no Keras layer weights(.|\n)*something"):
        load_model(tmp_path / "empty.h5")


def test_unreadable_files(tmp_path):
    for name in ("x.h5", "x.pt", "x.safetensors", "x.npz"):
        (tmp_path / name).write_bytes(b"this is not a model file")
        with pytest.raises(EngineError, match="x\\."):
            load_model(tmp_path / name)
    with pytest.raises(EngineError, match="m.onnx: not a model file this engine reads"):
        (tmp_path / "m.onnx").write_bytes(b"")
        load_model(tmp_path / "m.onnx")
    with pytest.raises(EngineError, match="no such file"):
        load_model(tmp_path / "missing.h5")
    # A whole pickled module is read without running its code (its class is never imported).
    torch.save(torch.nn.Linear(2, 3), tmp_path / "module.pt")
    assert load_model(tmp_path / "module.pt").layer_sizes == [2, 3]


# --- the inspect CLI ------------------------------------------------------------------------------------

def _measures_or_skip():
    measures = pytest.importorskip("engine.measures")
    if not hasattr(measures, "neuron_table"):
        pytest.skip("engine.measures.neuron_table not written yet")
    return measures


def test_inspect_golden_reproduces_the_paper(tmp_path, capsys):
    path = GOLDEN / "mnist_network1.h5"
    mat = GOLDEN / "mnist_network1_measures.mat"
    if not (path.is_file() and mat.is_file()):
        pytest.skip(f"golden files not found in {GOLDEN} (set ENGINE_GOLDEN_DIR)")
    measures = _measures_or_skip()
    from scipy.io import loadmat

    from engine.inspect import main

    out = tmp_path / "x.parquet"
    assert main([str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "784-200-100-10" in printed and "harmonic_centrality" in printed
    table = pd.read_parquet(out).sort_values(["layer", "neuron"])
    assert list(table.columns) == ["dataset", "network", "epoch", "layer", "neuron", *measures.MEASURES]
    assert set(table["dataset"]) == {"mnist_network1"} and set(table["epoch"]) == {-1}
    golden = loadmat(mat)
    for layer, key in ((1, "fmap_h1"), (2, "fmap_h2")):
        got = table.loc[table["layer"] == layer, list(measures.MEASURES)].to_numpy()
        want = golden[key][30]
        assert got.shape == want.shape
        np.testing.assert_array_equal(got[:, 7], want[:, 7])  # max_cliques: exact counts
        np.testing.assert_allclose(got[:, :7], want[:, :7], rtol=1e-6)


def test_inspect_csv_subset_and_errors(tmp_path, capsys):
    measures = _measures_or_skip()
    from engine.inspect import main

    model_path = tmp_path / "tiny.pt"
    net = _saved_sequential(model_path)
    out = tmp_path / "tiny.csv"
    assert main([str(model_path), "--out", str(out), "--measures", "strength,max_cliques", "--dtype", "float32"]) == 0
    printed = capsys.readouterr().out
    assert "not part of the graph: 0: bias; 2: bias; 4: bias" in printed and "order: numeric indices" in printed
    table = pd.read_csv(out)
    assert list(table.columns) == ["dataset", "network", "epoch", "layer", "neuron", "strength", "max_cliques"]
    assert len(table) == 9 and table["layer"].tolist() == [1] * 5 + [2] * 4
    # strength of hidden neuron j in layer 1: its incoming plus outgoing weights.
    w1, w2 = net[0].weight.detach().double(), net[2].weight.detach().double()
    np.testing.assert_allclose(table["strength"][:5], (w1.sum(1) + w2.sum(0)).numpy(), rtol=1e-5)
    assert "max_cliques" in measures.MEASURES

    for argv, message in [
        ([str(model_path), "--out", str(tmp_path / "x.txt")], "use a .parquet or .csv"),
        ([str(model_path), "--measures", "strength,pagerank"], "unknown pagerank"),
        ([str(tmp_path / "missing.h5")], "no such file"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    single = tmp_path / "single.npz"
    np.savez(single, W0=np.ones((3, 2)))
    assert main([str(single)]) == 2
    assert "no hidden layer" in capsys.readouterr().err


def test_inspect_module_entry_point_error(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, W0=np.zeros((6, 5)), W1=np.zeros((4, 3)))
    proc = subprocess.run([sys.executable, "-m", "engine.inspect", str(bad)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "do not chain" in proc.stderr and "Traceback" not in proc.stderr
