"""Download data files once into a cache, from a list of mirrors, with published checksums verified.

Every file is checked against its published checksum after download and again on every load;
the second check is cheap because a ``<file>.verified`` marker records the size and mtime the file
had when its hash last matched. Downloads go to a temporary file renamed into place only when the
checksum matches, so the cache never holds a partial or wrong file.

``SOURCES`` is the table of remote data sets; tests swap entries in it to serve files from 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.errors import EngineError
from engine.paths import path_problem
from engine.storage import atomic_path

__all__ = ["DOWNLOAD_TIMEOUT_S", "fetch", "RemoteFile", "RemoteSource", "SOURCES"]

DOWNLOAD_TIMEOUT_S = 60.0  # per network operation (connect, each read), not for the whole file
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One file as published: its name and checksum (SHA-256 preferred, MD5 where only that is published).

    Parameters
    ----------
    name : str
        The file name (appended to each mirror's URL; also its name in the cache).
    md5, sha256 : str, optional
        Published hex digests; at least one is required (SHA-256 is used when both are given).
    size : int, optional
        Size in bytes, where known: a cheap first check.

    Attributes
    ----------
    checksum : tuple of (str, str)
        (algorithm, expected lower-case hex digest).

    Raises
    ------
    ValueError
        Neither ``md5`` nor ``sha256`` is given (a table entry is code, not user input).

    Examples
    --------
    >>> RemoteFile("t10k-labels-idx1-ubyte.gz", md5="EC29112DD5AFA0611CE80D1B7F02629C").checksum
    ('md5', 'ec29112dd5afa0611ce80d1b7f02629c')
    """

    name: str
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None  # bytes, where known: a cheap first check

    def __post_init__(self) -> None:
        if self.md5 is None and self.sha256 is None:
            raise ValueError(f"RemoteFile {self.name}: a checksum (md5 or sha256) is required")

    @property
    def checksum(self) -> tuple[str, str]:
        """(algorithm, expected hex digest)."""
        return ("sha256", self.sha256.lower()) if self.sha256 else ("md5", self.md5.lower())  # type: ignore[union-attr]


@dataclass(frozen=True)
class RemoteSource:
    """A data set's files and the mirrors that serve them (a file's URL = mirror + file name).

    Parameters
    ----------
    name : str
        The data set's name, also its subdirectory of the cache.
    mirrors : tuple of str
        Base URLs, tried in turn.
    files : tuple of RemoteFile
        The files that make up the data set.
    homepage : str, optional
        Where a person can read about it (named in the instructions for placing files by hand).

    Examples
    --------
    >>> source = SOURCES["cifar10"]
    >>> source.mirrors[0] + source.files[0].name, source.files[0].size
    ('https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz', 170498071)
    """

    name: str  # also the cache subdirectory
    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    homepage: str = ""


# Published checksums: MNIST and KMNIST as listed by torchvision (MD5 is all that is published);
# CIFAR-10's archive MD5 is the one on https://www.cs.toronto.edu/~kriz/cifar.html.
SOURCES: dict[str, RemoteSource] = {
    "mnist": RemoteSource(
        name="mnist",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", md5="f68b3c2dcbeaaa9fbdd348bbdeb94873", size=9912422),
            RemoteFile("train-labels-idx1-ubyte.gz", md5="d53e105ee54ea40749a09fcbcd1e9432", size=28881),
            RemoteFile("t10k-images-idx3-ubyte.gz", md5="9fb629c4189551a2d022fa330f9573f3", size=1648877),
            RemoteFile("t10k-labels-idx1-ubyte.gz", md5="ec29112dd5afa0611ce80d1b7f02629c", size=4542),
        ),
        homepage="http://yann.lecun.com/exdb/mnist/",
    ),
    "kmnist": RemoteSource(
        name="kmnist",
        mirrors=("https://codh.rois.ac.jp/kmnist/dataset/kmnist/", "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"),
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", md5="bdb82020997e1d708af4cf47b453dcf7"),
            RemoteFile("train-labels-idx1-ubyte.gz", md5="e144d726b3acfaa3e44228e80efcd344"),
            RemoteFile("t10k-images-idx3-ubyte.gz", md5="5c965bf0a639b31b8f53240b1b52f4d7"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", md5="7320c461ea6c1c855c0b718fb2a4b134"),
        ),
        homepage="https://github.com/rois-codh/kmnist",
    ),
    "cifar10": RemoteSource(
        name="cifar10",
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files=(RemoteFile("cifar-10-python.tar.gz", md5="c58f30108f718f92721af3b95e74349a", size=170498071),),
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
}


def _default_cache_dir() -> Path:
    """``$ENGINE_DATA_DIR`` if set, else ``~/.cache/engine/data``."""
    env = os.environ.get("ENGINE_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "engine" / "data"


def _source_directory(source: RemoteSource, *, root: str | os.PathLike | None = None,
                     cache_dir: str | os.PathLike | None = None) -> Path:
    """Where a source's files live: ``root`` itself when given, else ``<cache_dir>/<source name>``."""
    if root is not None:
        return Path(root).expanduser()
    base = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    return base / source.name


def fetch(name: str, *, root: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
          download: bool = True, sources: Mapping[str, RemoteSource] | None = None) -> dict[str, Path]:
    """Make every file of source ``name`` present and verified, downloading the missing ones; return their paths.

    Files already there are checked against their published checksum (cheaply after the first time:
    a ``<file>.verified`` marker records the size and mtime the file had when its hash last matched).
    A download goes to a temporary file, renamed into place only when its checksum matches.

    Parameters
    ----------
    name : str
        A key of ``sources`` (``"mnist"``, ``"kmnist"``, ``"cifar10"``).
    root : str or os.PathLike, optional
        A directory holding the files, used as is (no ``<name>`` subdirectory).
    cache_dir : str or os.PathLike, optional
        The cache; files go to ``<cache_dir>/<name>``. Default ``$ENGINE_DATA_DIR`` or ~/.cache/engine/data.
    download : bool, default True
        Download missing files; False raises instead, naming them with their checksums and URLs.
    sources : Mapping of str to RemoteSource, optional
        The table to look ``name`` up in (default ``SOURCES``).

    Returns
    -------
    dict of str to pathlib.Path
        {file name: its verified path}.

    Raises
    ------
    EngineError
        An unknown name; ``root``/``cache_dir`` not a usable directory; a file present with the wrong
        checksum or size; files missing and ``download`` false; no mirror delivering a good copy
        (every mirror's failure listed, with how to place the files by hand).

    Examples
    --------
    A file already in ``root`` with its published checksum is verified, nothing is downloaded:

    >>> import hashlib, tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = Path(d, "notes.txt").write_bytes(b"hello")
    ...     toy = RemoteSource("toy", mirrors=("https://example.invalid/",),
    ...                        files=(RemoteFile("notes.txt", md5=hashlib.md5(b"hello").hexdigest(), size=5),))
    ...     paths = fetch("toy", root=d, download=False, sources={"toy": toy})
    ...     print(paths["notes.txt"].name, sorted(p.name for p in Path(d).iterdir()))
    notes.txt ['notes.txt', 'notes.txt.verified']
    >>> with tempfile.TemporaryDirectory() as d:
    ...     fetch("cifar10", cache_dir=d, download=False)
    Traceback (most recent call last):
    ...
    engine.errors.EngineError: cifar10: cifar-10-python.tar.gz not found in .../cifar10 and downloading is disabled. ...
    """
    table = SOURCES if sources is None else sources
    if name not in table:
        raise EngineError(f"no download source named {name!r}; known: {', '.join(sorted(table))}")
    source = table[name]
    directory = _source_directory(source, root=root, cache_dir=cache_dir)
    given = ("dataset.root", root) if root is not None else ("dataset.cache_dir", cache_dir)
    for where in (directory, directory.parent) if root is None else (directory,):
        problem = path_problem(where)
        if problem and problem != "does not exist":   # a file where a directory belongs, a link loop, ...
            raise EngineError(f"{name}: {where} {problem}: set {given[0]} to a directory that holds (or may receive) "
                              f"the {name} files" + (" or leave it null for the default cache" if given[1] else ""))
    paths = {f.name: directory / f.name for f in source.files}
    missing = [f for f in source.files if not paths[f.name].exists()]
    for f in source.files:
        if f not in missing:
            _verify_file(paths[f.name], f)
    if missing and not download:
        raise EngineError(
            f"{name}: {', '.join(f.name for f in missing)} not found in {directory} and downloading is disabled. "
            f"Enable it (dataset.download=true), or place the files there by hand:\n"
            + _manual_instructions(source, missing, directory))
    for f in missing:
        _download(source, f, paths[f.name])
    return paths


def _verify_file(path: Path, remote: RemoteFile) -> None:
    """Raise an EngineError unless ``path`` has the published checksum (skipped when its marker is current)."""
    algorithm, expected = remote.checksum
    stat = path.stat()
    marker = _marker_path(path)
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, algorithm: expected}
    try:
        if json.loads(marker.read_text()) == record:
            return
    except (OSError, ValueError):
        pass  # no marker or an unreadable one: hash the file
    problem = _checksum_problem(path, remote)
    if problem:
        raise EngineError(f"{path} is not the published file: {problem}. Delete it (it will be downloaded "
                          f"again) or replace it with the right file.")
    try:
        marker.write_text(json.dumps(record))
    except OSError:
        pass  # read-only data directory: the file is simply hashed again next time


def _file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm, usedforsecurity=False)  # integrity check, not security
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _checksum_problem(path: Path, remote: RemoteFile) -> str | None:
    """None when ``path`` matches the published size and checksum, else what differs."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        return f"size {size} bytes, expected {remote.size}"
    algorithm, expected = remote.checksum
    found = _file_digest(path, algorithm)
    if found != expected:
        return f"{algorithm} {found}, expected {expected}"
    return None


def _marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


class _MirrorFailed(Exception):
    """One mirror could not deliver a good copy (kept apart from OSError so atomic_path does not rewrap it)."""


def _download(source: RemoteSource, remote: RemoteFile, dest: Path) -> None:
    """Try each mirror in turn; the first good copy is renamed into ``dest``."""
    failures: list[str] = []
    for mirror in source.mirrors:
        url = mirror.rstrip("/") + "/" + remote.name
        try:
            with atomic_path(dest) as tmp:
                _stream(url, tmp, remote.name)
                problem = _checksum_problem(tmp, remote)
                if problem:
                    raise _MirrorFailed(f"checksum mismatch: {problem}")
        except _MirrorFailed as e:
            failures.append(f"  {url}: {e}")
            continue
        _marker_path(dest).write_text(json.dumps({"size": dest.stat().st_size,
                                                  "mtime_ns": dest.stat().st_mtime_ns,
                                                  remote.checksum[0]: remote.checksum[1]}))
        return
    raise EngineError(
        f"{source.name}: could not download {remote.name} from any mirror:\n" + "\n".join(failures)
        + f"\nCache directory: {dest.parent}. Without network access, place the file there by hand:\n"
        + _manual_instructions(source, [remote], dest.parent))


def _stream(url: str, tmp: Path, label: str) -> None:
    """Copy ``url`` into ``tmp`` with a progress bar; any transfer problem becomes _MirrorFailed."""
    from tqdm.auto import tqdm

    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {label}", leave=False,
                      disable=None) as bar:
                received = 0
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if total is not None and received != total:
                raise _MirrorFailed(f"transfer cut short: {received} of {total} bytes")
    except urllib.error.HTTPError as e:
        raise _MirrorFailed(f"HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise _MirrorFailed(f"unreachable ({e.reason})") from e
    except (OSError, http.client.HTTPException, ValueError) as e:
        raise _MirrorFailed(f"{type(e).__name__}: {e}") from e


def _manual_instructions(source: RemoteSource, files: list[RemoteFile], directory: Path) -> str:
    lines = []
    for f in files:
        algorithm, expected = f.checksum
        lines.append(f"  {directory / f.name}  ({algorithm} {expected}; from "
                     + " or ".join(m.rstrip("/") + "/" + f.name for m in source.mirrors) + ")")
    hint = f"  e.g. curl -fL --create-dirs -o {directory / files[0].name} {source.mirrors[0].rstrip('/')}/{files[0].name}"
    where = f"\n  Homepage: {source.homepage}" if source.homepage else ""
    return "\n".join(lines) + "\n" + hint + where + "\n  (or set dataset.root to a directory that holds them)"
