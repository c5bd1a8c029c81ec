"""The engine's shared modules (storage, paths, weights_io, ...): refusals in one line where the operating
system answers with an exception that ``pathlib`` does not expect."""

from __future__ import annotations

import pytest
import torch

from engine.errors import EngineError


def test_a_name_too_long_is_one_line_not_a_traceback(tmp_path):
    """Path.exists/is_dir raise OSError (ENAMETOOLONG) on Python 3.11: writing or reading such a path was an
    OSError traceback instead of the engine's one-line error."""
    from engine.storage import write_json
    from engine.weights_io import load_snapshot, save_snapshot

    long = tmp_path / ("x" * 300) / "a.json"
    with pytest.raises(EngineError, match=r"cannot write .*: the path has a name too long for the file system"):
        write_json({}, long)
    with pytest.raises(EngineError, match=r"snapshot .* has a name too long for the file system"):
        load_snapshot(tmp_path / ("x" * 300))
    with pytest.raises(EngineError, match=r"has a name too long"):
        save_snapshot(tmp_path / ("x" * 300), [torch.ones(1, 2, 2), torch.ones(1, 2, 1)], {})


def test_a_snapshot_path_that_is_not_a_file_is_named(tmp_path):
    from engine.weights_io import load_snapshot

    with pytest.raises(EngineError, match=r": no such snapshot file$"):
        load_snapshot(tmp_path / "none.safetensors")
    with pytest.raises(EngineError, match=r"is a directory, not a file$"):
        load_snapshot(tmp_path)
