"""Malformed model files and unwritable outputs for ``python -m engine.inspect``: one line saying what
was found, never a traceback, never a wrong cause."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from engine.errors import EngineError
from engine.networks import read_network as load_model


def inspect(capsys, *argv) -> str:
    """Run the CLI; it must fail with exit code 2 and one line on stderr. Returns that line."""
    from engine.inspect import main

    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def keras_h5(path: Path, mutate=None) -> Path:
    """A Keras 2 full-model file of a 4-3-2 MLP (model_weights/<layer>/<layer>/kernel:0), then ``mutate(f)``."""
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = np.array([b"dense_1", b"dense_2"])
        for name, shape in (("dense_1", (4, 3)), ("dense_2", (3, 2))):
            inner = root.create_group(name).create_group(name)
            inner.create_dataset("kernel:0", data=np.ones(shape, np.float32))
            root[name].attrs["weight_names"] = np.array([f"{name}/kernel:0".encode()])
        if mutate is not None:
            mutate(f)
    return path


def test_npz_with_a_string_array(tmp_path, capsys):
    path = tmp_path / "s.npz"
    np.savez(path, W0=np.array(["relu", "softmax"]), W1=np.ones((3, 2)))
    err = inspect(capsys, path)
    assert "'W0' is a 1-D array of strings (<U7), not a weight matrix" in err and "W1 (3, 2)" in err


def test_h5_weight_names_pointing_at_a_missing_dataset(tmp_path, capsys):
    def mutate(f):
        f["model_weights/dense_2"].attrs["weight_names"] = np.array([b"dense_2/kernel:0", b"dense_2/bias:0"])

    err = inspect(capsys, keras_h5(tmp_path / "m.h5", mutate))
    assert "layer model_weights/dense_2 lists weight 'dense_2/bias:0' in its weight_names, but " \
           "model_weights/dense_2/dense_2/bias:0 is missing" in err


def test_h5_model_weights_that_is_a_dataset(tmp_path, capsys):
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("model_weights", data=np.ones((3, 3)))
    assert "'model_weights' is a dataset (3, 3) float64, not a group of layers" in inspect(capsys, path)


def test_h5_layer_name_pointing_at_a_dataset(tmp_path, capsys):
    def mutate(f):
        del f["model_weights/dense_2"]
        f["model_weights"].create_dataset("dense_2", data=np.ones((3, 2)))

    err = inspect(capsys, keras_h5(tmp_path / "m.h5", mutate))
    assert "layer model_weights/dense_2 is a dataset (3, 2) float64, not a group of weights" in err


@pytest.mark.parametrize("data,dtype,found", [
    (np.array([b"ab", b"cd"]), None, "a 1-D array of strings (|S2)"),
    (["ab", "cd"], "vlen", "a 1-D array of strings"),
    ("a string", "vlen", "a string"),
], ids=["fixed", "variable-length", "scalar"])
def test_h5_string_datasets(tmp_path, capsys, data, dtype, found):
    def mutate(f):
        g = f["model_weights/dense_2/dense_2"]
        del g["kernel:0"]
        g.create_dataset("kernel:0", data=data, dtype=h5py.string_dtype() if dtype == "vlen" else None)

    err = inspect(capsys, keras_h5(tmp_path / "m.h5", mutate))
    assert f"'dense_2/dense_2/kernel:0' is {found}, not a weight matrix" in err


def test_h5_weight_name_pointing_at_a_group(tmp_path, capsys):
    def mutate(f):
        g = f["model_weights/dense_2/dense_2"]
        del g["kernel:0"]
        g.create_group("kernel:0")

    assert "model_weights/dense_2/dense_2/kernel:0 is a group, not a dataset" in inspect(
        capsys, keras_h5(tmp_path / "m.h5", mutate))


def test_torch_files_that_are_not_torch_files(tmp_path, capsys):
    import torch

    rand = tmp_path / "random.pt"
    rand.write_bytes(np.random.default_rng(0).bytes(4096))
    err = inspect(capsys, rand)
    assert "not a readable torch file: neither a zip archive nor a pickle stream" in err
    assert "pickled" not in err
    truncated = tmp_path / "truncated.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), tmp_path / "ok.pt")
    truncated.write_bytes((tmp_path / "ok.pt").read_bytes()[:300])
    assert "a damaged or truncated zip archive" in inspect(capsys, truncated)
    other_zip = tmp_path / "arrays.pt"   # formats by content: an .npz named .pt is read as one
    np.savez(tmp_path / "arrays.npz", W0=np.ones((3, 2)))
    other_zip.write_bytes((tmp_path / "arrays.npz").read_bytes())
    assert "(3, 2) has no hidden layer" in inspect(capsys, other_zip)
    other_zip.write_bytes(b"PK\x05\x06" + b"\x00" * 18)   # an empty zip archive
    assert "a zip archive, but not one written by torch.save" in inspect(capsys, other_zip)
    module = tmp_path / "module.pt"  # a pickled module is read without its code: one layer, no hidden neurons
    torch.save(torch.nn.Linear(2, 2), module)
    assert "has no hidden layer" in inspect(capsys, module)


def test_a_directory_is_not_reported_missing(tmp_path, capsys):
    d = tmp_path / "model.h5"
    d.mkdir()
    with pytest.raises(EngineError, match=f"{d}: is a directory, not a model file"):
        load_model(d)
    assert "a population of files needs --out DIR" in inspect(capsys, d)   # a directory is a population
    assert f"{d}: no model files found" in inspect(capsys, d, "--out", tmp_path / "out")
    assert "no such file" in inspect(capsys, tmp_path / "missing.h5")


# --- write errors say what is true -------------------------------------------------------------------------

@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "tiny.npz"
    np.savez(path, W0=np.random.default_rng(0).random((4, 3)), W1=np.random.default_rng(1).random((3, 2)))
    return path


def test_output_into_a_read_only_directory(tmp_path, capsys, model, monkeypatch):
    import tempfile

    def refuse(*args, dir=None, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(Path(dir) / ".x.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    err = inspect(capsys, model, "--out", tmp_path / "ro" / "x.parquet")
    assert f"cannot write {tmp_path / 'ro' / 'x.parquet'}: Read-only file system in {tmp_path / 'ro'}" in err
    assert "hydra" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_output_into_a_directory_without_write_permission(tmp_path, capsys, model):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        err = inspect(capsys, model, "--out", ro / "x.csv")
    finally:
        ro.chmod(0o755)
    assert "Permission denied" in err and "hydra" not in err


def test_output_below_a_file_or_onto_a_directory(tmp_path, capsys, model):
    (tmp_path / "afile").write_text("x")
    err = inspect(capsys, model, "--out", tmp_path / "afile" / "sub" / "x.csv")
    assert f"{tmp_path / 'afile'} is a file, not a directory" in err and "hydra" not in err
    (tmp_path / "out.csv").mkdir()
    err = inspect(capsys, model, "--out", tmp_path / "out.csv")
    assert f"{tmp_path / 'out.csv'} is a directory" in err and "disk full" not in err


def test_load_model_errors_are_engine_errors(tmp_path):
    np.savez(tmp_path / "o.npz", W0=np.array([{"a": 1}], dtype=object))
    with pytest.raises(EngineError, match="o.npz"):
        load_model(tmp_path / "o.npz")
