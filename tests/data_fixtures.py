"""Small data files in the real formats (IDX .gz, CIFAR-10 python tarball) and a local HTTP server for tests."""

from __future__ import annotations

import hashlib
import http.server
import io
import pickle
import tarfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.data.idx import IDX_FILES, write_idx


def make_idx_arrays(n_train: int = 30, n_test: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """Random 28x28 uint8 images and labels 0..9 (every class present), keyed as in IDX_FILES."""
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_idx_set(directory: Path, arrays: dict[str, np.ndarray]) -> dict[str, Path]:
    """Write the four standard IDX .gz files into ``directory``; return {key: path}."""
    return {key: write_idx(Path(directory) / IDX_FILES[key], arrays[key]) for key in IDX_FILES}


def make_cifar_batches(per_batch: int = 4, seed: int = 0) -> dict[str, dict[bytes, object]]:
    """Six tiny CIFAR-10 batches (five train, one test) as the real pickles hold them."""
    rng = np.random.default_rng(seed)
    batches = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        batches[name] = {
            b"batch_label": name.encode(),
            b"labels": [int((b + i) % 10) for i in range(per_batch)],
            b"data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"img_{b}_{i}.png".encode() for i in range(per_batch)],
        }
    return batches


def cifar_tarball_bytes(batches: dict[str, dict[bytes, object]]) -> bytes:
    """A ``cifar-10-python.tar.gz`` with the batches pickled under ``cifar-10-batches-py/``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, batch in batches.items():
            payload = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalServer:
    """Serves ``files`` ({url path: bytes}) on 127.0.0.1; anything else is a 404. Counts GET requests."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep test output quiet
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "LocalServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def local_server(files: dict[str, bytes]) -> Iterator[LocalServer]:
    with LocalServer(files) as server:
        yield server
