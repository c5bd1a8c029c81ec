"""engine.data: embedded data sets, the IDX format, Fashion-MNIST from a directory, cached downloads, CIFAR-10.

No test touches the network: remote files are served from 127.0.0.1.
"""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
import torch

from data_fixtures import (cifar_tarball_bytes, local_server, make_cifar_batches, make_idx_arrays, md5_hex,
                           sha256_hex, write_idx_set)
from engine.data import DATASETS, Dataset, check_available, load_dataset
from engine.data import download
from engine.data.cifar10 import LUMA_601, cifar_to_inputs
from engine.data.download import RemoteFile, RemoteSource
from engine.data.idx import IDX_FILES, read_idx, write_idx
from engine.errors import EngineError


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Never use the real cache or a proxy (local server only)."""
    monkeypatch.setenv("ENGINE_DATA_DIR", str(tmp_path / "default_cache"))
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "*")


def assert_well_formed(d: Dataset, n_train: int, n_test: int, dim: int, n_classes: int = 10) -> None:
    assert d.X_train.shape == (n_train, dim) and d.X_test.shape == (n_test, dim)
    assert d.y_train.shape == (n_train,) and d.y_test.shape == (n_test,)
    assert d.X_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.X_test.dtype == torch.float32 and d.y_test.dtype == torch.int64
    assert d.input_dim == dim and d.n_classes == n_classes
    for X in (d.X_train, d.X_test):
        assert X.device.type == "cpu"
        assert float(X.min()) >= 0.0 and float(X.max()) <= 1.0


# ---------------------------------------------------------------- embedded data sets

def test_digits_shapes_classes_and_determinism():
    d = load_dataset("digits")
    assert_well_formed(d, 1347, 450, 64)
    assert d.name == "digits"
    assert float(d.X_train.max()) == 1.0 and float(d.X_train.min()) == 0.0
    # stratified: every class in both splits, in nearly the full-set proportions
    full = torch.bincount(torch.cat([d.y_train, d.y_test]), minlength=10).double()
    counts = torch.bincount(d.y_test, minlength=10).double()
    assert torch.all((counts - 0.25 * full).abs() <= 1)
    again = load_dataset("digits")
    assert torch.equal(d.X_train, again.X_train) and torch.equal(d.y_test, again.y_test)
    other = load_dataset("digits", seed=1)
    assert not torch.equal(d.y_train, other.y_train)
    small = load_dataset("digits", test_fraction=0.5, limit_train=100, limit_test=7)
    assert_well_formed(small, 100, 7, 64)


def test_mnist1d_shapes_scaling_and_determinism():
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    d = load_dataset("mnist1d")
    assert np.random.rand() == expected_next  # the generator's reseeding does not leak out
    assert_well_formed(d, 4000, 1000, 40)
    assert float(d.X_train.min()) == 0.0 and float(d.X_train.max()) == 1.0
    assert torch.bincount(d.y_train, minlength=10).min() > 300
    again = load_dataset("mnist1d", limit_train=50, limit_test=20)
    assert torch.equal(again.X_train, d.X_train[:50]) and torch.equal(again.y_test, d.y_test[:20])


def test_unknown_dataset_and_bad_limits():
    with pytest.raises(EngineError, match="known: digits, mnist1d, fashion_mnist, mnist, kmnist, cifar10"):
        load_dataset("imagenet")
    with pytest.raises(EngineError, match="unknown dataset"):
        check_available("imagenet")
    with pytest.raises(EngineError, match="limit_train"):
        load_dataset("digits", limit_train=0)
    with pytest.raises(EngineError, match="test_fraction"):
        load_dataset("digits", test_fraction=1.5)
    assert DATASETS == ("digits", "mnist1d", "fashion_mnist", "mnist", "kmnist", "cifar10")
    from engine.data.loader import canonical_name
    assert canonical_name("Fashion-MNIST") == "fashion_mnist" and canonical_name("CIFAR10") == "cifar10"


def test_dataset_rejects_bad_tensors():
    X = torch.rand(5, 3)
    y = torch.tensor([0, 1, 2, 3, 4])
    with pytest.raises(EngineError, match="labels must be in"):
        Dataset("toy", X, y, X, y, n_classes=3)
    with pytest.raises(EngineError, match="float32"):
        Dataset("toy", X.double(), y, X, y, n_classes=5)
    with pytest.raises(EngineError, match=r"\[0, 1\]"):
        Dataset("toy", X * 2, y, X, y, n_classes=5)


# ---------------------------------------------------------------- IDX format

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_round_trip(tmp_path, dtype, suffix):
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3{suffix}", array)
    raw = path.read_bytes()
    if suffix:
        assert raw[:2] == b"\x1f\x8b"
        raw = gzip.decompress(raw)
    assert raw[:2] == b"\x00\x00" and raw[3] == 3  # real IDX header: zero bytes, dtype code, ndim
    assert int.from_bytes(raw[4:8], "big") == 2
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and np.array_equal(back, array)


def test_idx_errors_name_the_file(tmp_path):
    arrays = make_idx_arrays(n_train=10, n_test=4)
    images = write_idx(tmp_path / "img-idx3-ubyte.gz", arrays["train_images"])

    truncated = tmp_path / "truncated-idx3-ubyte.gz"
    truncated.write_bytes(images.read_bytes()[:-40])
    with pytest.raises(EngineError, match="truncated-idx3-ubyte.gz.*(damaged|truncated)"):
        read_idx(truncated)

    short_raw = tmp_path / "short-idx3-ubyte"
    short_raw.write_bytes(gzip.decompress(images.read_bytes())[:-7])
    with pytest.raises(EngineError, match=r"short-idx3-ubyte is truncated.*\(10, 28, 28\).*7840 data bytes, found 7833"):
        read_idx(short_raw)

    wrong_magic = tmp_path / "wrong-magic.gz"
    wrong_magic.write_bytes(gzip.compress(b"\x12\x34\x08\x03" + bytes(100)))
    with pytest.raises(EngineError, match="wrong-magic.gz is not an IDX file"):
        read_idx(wrong_magic)

    with pytest.raises(EngineError, match="img-idx3-ubyte.gz has 3 dimensions, expected 1"):
        read_idx(images, ndim=1)

    labels = write_idx(tmp_path / "lab-idx1-ubyte.gz", arrays["train_labels"][:9])
    from engine.data.idx import read_image_label_pair
    with pytest.raises(EngineError, match="img-idx3-ubyte.gz holds 10 images but .*lab-idx1-ubyte.gz holds 9"):
        read_image_label_pair(images, labels)

    with pytest.raises(EngineError, match="does not exist"):
        read_idx(tmp_path / "nope.gz")


# ---------------------------------------------------------------- Fashion-MNIST from a directory

def test_fashion_mnist_from_directory(tmp_path):
    arrays = make_idx_arrays(n_train=30, n_test=12)
    write_idx_set(tmp_path / "fm", arrays)
    d = load_dataset("fashion_mnist", root=tmp_path / "fm")
    assert_well_formed(d, 30, 12, 784)
    assert torch.equal(d.X_train, torch.from_numpy(arrays["train_images"].reshape(30, -1)).float() / 255)
    assert torch.equal(d.y_test, torch.from_numpy(arrays["test_labels"]).long())
    limited = load_dataset("fashion_mnist", root=tmp_path / "fm", limit_train=5, limit_test=3)
    assert torch.equal(limited.X_train, d.X_train[:5]) and limited.n_test == 3
    check_available("fashion_mnist", root=tmp_path / "fm")


def test_fashion_mnist_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(EngineError, match="apt-get install dataset-fashion-mnist") as err:
        load_dataset("fashion_mnist", root=tmp_path / "absent")
    assert str(tmp_path / "absent") in str(err.value)
    arrays = make_idx_arrays()
    paths = write_idx_set(tmp_path / "partial", arrays)
    paths["test_labels"].unlink()
    with pytest.raises(EngineError, match="lacks t10k-labels-idx1-ubyte.gz.*apt-get install"):
        check_available("fashion_mnist", root=tmp_path / "partial")


# ---------------------------------------------------------------- downloads (served on 127.0.0.1)

def idx_payloads(arrays, tmp_path) -> dict[str, bytes]:
    """{standard file name: .gz bytes} for the four IDX files."""
    paths = write_idx_set(tmp_path / "payload", arrays)
    return {IDX_FILES[key]: path.read_bytes() for key, path in paths.items()}


def serve_source(monkeypatch, name: str, mirrors: list[str], payloads: dict[str, bytes],
                 checksums: dict[str, RemoteFile] | None = None) -> None:
    files = tuple(checksums[n] if checksums else RemoteFile(n, sha256=sha256_hex(b), size=len(b))
                  for n, b in payloads.items())
    monkeypatch.setitem(download.SOURCES, name, RemoteSource(name=name, mirrors=tuple(mirrors), files=files))


def test_download_falls_back_to_second_mirror_and_caches(tmp_path, monkeypatch):
    arrays = make_idx_arrays(n_train=20, n_test=10)
    payloads = idx_payloads(arrays, tmp_path)
    served = {f"/good/{name}": body for name, body in payloads.items()}
    cache = tmp_path / "cache"
    with local_server(served) as server:
        serve_source(monkeypatch, "mnist", [f"{server.url}/missing/", f"{server.url}/good/"], payloads)
        d = load_dataset("mnist", cache_dir=cache)
        assert_well_formed(d, 20, 10, 784)
        assert torch.equal(d.y_train, torch.from_numpy(arrays["train_labels"]).long())
        assert sorted(server.requests) == sorted([f"/missing/{n}" for n in payloads] + [f"/good/{n}" for n in payloads])
        assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(
            list(payloads) + [n + ".verified" for n in payloads])  # no temporary files left
        n_requests = len(server.requests)
        again = load_dataset("mnist", cache_dir=cache, limit_train=4)
        assert len(server.requests) == n_requests  # second load is served from the cache
        assert torch.equal(again.X_train, d.X_train[:4])
    # and now fully offline
    assert load_dataset("mnist", cache_dir=cache, download=False).n_train == 20


def test_md5_checksums_and_root_directory(tmp_path, monkeypatch):
    payloads = idx_payloads(make_idx_arrays(n_train=10, n_test=10), tmp_path)
    checksums = {n: RemoteFile(n, md5=md5_hex(b)) for n, b in payloads.items()}
    with local_server({f"/k/{n}": b for n, b in payloads.items()}) as server:
        serve_source(monkeypatch, "kmnist", [f"{server.url}/k"], payloads, checksums)
        d = load_dataset("kmnist", root=tmp_path / "kmnist_here")
    assert d.name == "kmnist" and d.n_train == 10
    assert (tmp_path / "kmnist_here" / "t10k-images-idx3-ubyte.gz").exists()


def test_wrong_checksum_leaves_nothing_in_cache(tmp_path, monkeypatch):
    payloads = idx_payloads(make_idx_arrays(), tmp_path)
    wrong = {n: RemoteFile(n, sha256="0" * 64) for n in payloads}
    cache = tmp_path / "cache"
    with local_server({f"/a/{n}": b for n, b in payloads.items()}) as server:
        serve_source(monkeypatch, "mnist", [f"{server.url}/a/", f"{server.url}/b/"], payloads, wrong)
        with pytest.raises(EngineError, match="could not download train-images-idx3-ubyte.gz") as err:
            load_dataset("mnist", cache_dir=cache)
    message = str(err.value)
    assert "checksum mismatch" in message and "HTTP 404" in message
    assert f"{server.url}/a/train-images-idx3-ubyte.gz" in message and f"{server.url}/b/" in message
    assert str(cache / "mnist") in message and "by hand" in message
    leftovers = list((cache / "mnist").iterdir()) if (cache / "mnist").exists() else []
    assert leftovers == []


def test_download_disabled_with_empty_cache_names_the_files(tmp_path):
    with pytest.raises(EngineError, match="not found in .* and downloading is disabled") as err:
        load_dataset("mnist", cache_dir=tmp_path / "empty", download=False)
    message = str(err.value)
    for name in IDX_FILES.values():
        assert name in message
    assert str(tmp_path / "empty" / "mnist") in message and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in message
    with pytest.raises(EngineError, match="cifar-10-python.tar.gz"):
        check_available("cifar10", cache_dir=tmp_path / "empty", download=False)
    # default cache location comes from $ENGINE_DATA_DIR
    with pytest.raises(EngineError, match=str(tmp_path / "default_cache" / "kmnist")):
        check_available("kmnist", download=False)


def test_corrupted_cached_file_is_detected(tmp_path, monkeypatch):
    payloads = idx_payloads(make_idx_arrays(), tmp_path)
    cache = tmp_path / "cache"
    with local_server({f"/{n}": b for n, b in payloads.items()}) as server:
        serve_source(monkeypatch, "mnist", [server.url], payloads)
        check_available("mnist", cache_dir=cache)  # downloads now, before any training
        assert len(server.requests) == 4
        target = cache / "mnist" / "train-labels-idx1-ubyte.gz"
        body = bytearray(target.read_bytes())
        body[-1] ^= 0xFF
        target.write_bytes(bytes(body))
        os.utime(target, ns=(1, 1))  # the marker's recorded mtime no longer matches
        with pytest.raises(EngineError, match="train-labels-idx1-ubyte.gz is not the published file"):
            load_dataset("mnist", cache_dir=cache)


def test_check_available_raises_early(tmp_path):
    check_available("digits")
    check_available("mnist1d")
    with pytest.raises(EngineError, match="apt-get install dataset-fashion-mnist"):
        check_available("fashion_mnist", root=tmp_path / "none")
    with pytest.raises(EngineError, match="downloading is disabled"):
        check_available("mnist", cache_dir=tmp_path, download=False)


def test_unreachable_mirror_reports_urls(tmp_path, monkeypatch):
    payloads = {"cifar-10-python.tar.gz": b"x"}
    serve_source(monkeypatch, "cifar10", ["http://127.0.0.1:9/"], payloads)  # port 9: nothing listens
    with pytest.raises(EngineError, match=r"http://127.0.0.1:9/cifar-10-python.tar.gz: unreachable"):
        load_dataset("cifar10", cache_dir=tmp_path)


# ---------------------------------------------------------------- CIFAR-10

@pytest.fixture
def served_cifar(tmp_path, monkeypatch):
    batches = make_cifar_batches(per_batch=4)
    tarball = cifar_tarball_bytes(batches)
    with local_server({"/cifar/cifar-10-python.tar.gz": tarball}) as server:
        serve_source(monkeypatch, "cifar10", [f"{server.url}/cifar/"], {"cifar-10-python.tar.gz": tarball},
                     {"cifar-10-python.tar.gz": RemoteFile("cifar-10-python.tar.gz", md5=md5_hex(tarball))})
        yield batches, tmp_path / "cache", server


def test_cifar10_grayscale_resized_native_and_colour(served_cifar):
    batches, cache, server = served_cifar
    d = load_dataset("cifar10", cache_dir=cache)
    assert_well_formed(d, 20, 4, 784)
    assert d.y_train.tolist() == sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    assert len(server.requests) == 1

    native = load_dataset("cifar10", cache_dir=cache, resize=None)
    assert_well_formed(native, 20, 4, 1024)
    assert torch.equal(load_dataset("cifar10", cache_dir=cache, resize=32).X_test, native.X_test)
    rgb = torch.from_numpy(batches["test_batch"][b"data"]).float().reshape(4, 3, 1024) / 255
    luma = (rgb * torch.tensor(LUMA_601).view(1, 3, 1)).sum(1)
    assert torch.allclose(native.X_test, luma, atol=1e-6)

    colour = load_dataset("cifar10", cache_dir=cache, resize=None, grayscale=False)
    assert_well_formed(colour, 20, 4, 3072)
    assert torch.equal(colour.X_test, rgb.reshape(4, -1))
    assert load_dataset("cifar10", cache_dir=cache, grayscale=False, resize=16).input_dim == 768

    limited = load_dataset("cifar10", cache_dir=cache, limit_train=6, limit_test=2)
    assert torch.equal(limited.X_train, d.X_train[:6]) and limited.n_test == 2
    assert len(server.requests) == 1  # all of the above came from the cache
    with pytest.raises(EngineError, match="resize"):
        load_dataset("cifar10", cache_dir=cache, resize=0)


def test_cifar_resize_of_a_constant_image_is_constant():
    data = np.full((2, 3072), 200, dtype=np.uint8)
    out = cifar_to_inputs(data, grayscale=True, resize=28)
    assert out.shape == (2, 784)
    assert torch.allclose(out, torch.full_like(out, 200 / 255), atol=1e-6)


def test_cifar_archive_missing_batch_is_an_error(tmp_path, monkeypatch):
    batches = make_cifar_batches(per_batch=2)
    del batches["test_batch"]
    tarball = cifar_tarball_bytes(batches)
    root = tmp_path / "cifar_root"
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(tarball)
    serve_source(monkeypatch, "cifar10", ["http://127.0.0.1:9/"], {"cifar-10-python.tar.gz": tarball})
    with pytest.raises(EngineError, match="cifar-10-python.tar.gz lacks cifar-10-batches-py/test_batch"):
        load_dataset("cifar10", root=root, download=False)


def test_mnist1d_larger_test_set_from_the_same_generator():
    from engine.data.mnist1d import STANDARD_TEST_SIZE

    from mnist1d.data import get_dataset_args, make_dataset

    from engine.data.mnist1d import _generate

    ref = make_dataset(get_dataset_args())   # the standard split, as the package makes it
    for got, want in zip(_generate(STANDARD_TEST_SIZE), (ref["x"], ref["y"], ref["x_test"], ref["y_test"])):
        np.testing.assert_array_equal(got, want)
    std = load_dataset("mnist1d")
    assert len(std.y_test) == STANDARD_TEST_SIZE and len(std.y_train) == 4000
    big = load_dataset("mnist1d", test_size=3000)
    assert len(big.y_test) == 3000 and len(big.y_train) == 4000
    assert big.X_test.shape[1] == std.X_test.shape[1] == 40
    counts = np.bincount(np.concatenate([big.y_train.numpy(), big.y_test.numpy()]), minlength=10)
    assert (counts == 700).all()   # equal classes over the 7,000 generated samples
    with pytest.raises(EngineError, match="multiple of 10"):
        load_dataset("mnist1d", test_size=1234)
    with pytest.raises(EngineError, match="test_size is for mnist1d"):
        load_dataset("digits", test_size=1000)
