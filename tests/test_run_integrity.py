"""A run directory's integrity: parts checked before they are resumed, merged tables checked against the
plan, refused and failed runs that leave no trace, gather refusing runs of different settings."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from engine.errors import EngineError
from engine_runs import TINY, compose, run_engine

HIDDEN = 12 + 8


def snapshot(d: Path) -> dict[str, bytes | None]:
    """Every path under d with its bytes (None for directories)."""
    return {str(p.relative_to(d)): (None if p.is_dir() else p.read_bytes()) for p in sorted(d.rglob("*"))}


# --- parts: a chunk is done only when all its parts are there, intact and as long as the plan says ---------

CHUNKED = [*TINY, "population.chunk_size=2", "stages=[train,measures]"]


@pytest.fixture
def engine_run(caplog):
    """pipeline.run in this process (fast); returns (summary, the engine's log text)."""
    import logging

    from engine.pipeline import run

    def go(out: Path, *overrides):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="engine"):
            summary = run(compose(*CHUNKED, *overrides), out)
        return summary, caplog.text

    return go


def both_chunks_computed_again(engine_run, out: Path, first: str, second: str):
    """Resume ``out`` (two chunks of two networks): each chunk is computed again for the reason the log gives
    after its part's name (``first``, ``second``: 'networks.parquet is missing'), and the run is whole."""
    summary, text = engine_run(out)
    for k, why in enumerate((first, second)):
        part = f"digits_{2 * k:06d}-{2 * k + 1:06d}"
        assert f"chunk {k + 1}/2 (networks {2 * k}..{2 * k + 1}) is computed again: parts/{part}.{why}" in text, why
    assert (summary.chunks_done, summary.chunks_resumed) == (2, 0)
    check_complete(out)


def check_complete(out: Path, networks=4, snapshots=1):
    nets = pd.read_parquet(out / "networks.parquet")
    assert sorted(nets["network"]) == list(range(networks))
    assert len(pd.read_parquet(out / "curves.parquet")) == networks * 2
    assert len(pd.read_parquet(out / "neurons.parquet")) == networks * HIDDEN * snapshots


def test_missing_parts_are_computed_again(tmp_path, engine_run):
    out = tmp_path / "run"
    engine_run(out)
    parts = out / "parts"
    (parts / "digits_000000-000001.networks.parquet").unlink()
    (parts / "digits_000000-000001.curves.parquet").unlink()
    (parts / "digits_000002-000003.neurons.parquet").unlink()  # alone: its rows were lost silently
    both_chunks_computed_again(engine_run, out, "networks.parquet is missing", "neurons.parquet is missing")


def test_damaged_parts_are_computed_again(tmp_path, engine_run):
    out = tmp_path / "run"
    engine_run(out)
    parts = out / "parts"
    truncated = parts / "digits_000000-000001.neurons.parquet"
    truncated.write_bytes(truncated.read_bytes()[:200])
    garbage = parts / "digits_000002-000003.curves.parquet"
    data = bytearray(garbage.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = os.urandom(64)  # footer intact, pages damaged
    garbage.write_bytes(bytes(data))
    both_chunks_computed_again(engine_run, out, "neurons.parquet changed", "curves.parquet changed")
    summary, _ = engine_run(out)  # now everything is intact: both chunks resumed
    assert (summary.chunks_done, summary.chunks_resumed) == (0, 2)
    (parts / "digits_000000-000001.done").write_text("{not json")
    summary, text = engine_run(out)
    assert "chunk 1/2 (networks 0..1) is computed again: its marker digits_000000-000001.done is damaged" in text
    assert (summary.chunks_done, summary.chunks_resumed) == (1, 1)


def test_missing_or_damaged_weight_files_are_computed_again(tmp_path, engine_run):
    """population.save_weights: the run never reads its weight files back, so the chunk marker records
    them and resume checks them like the parts."""
    out = tmp_path / "run"
    engine_run(out, "population.save_weights=true")
    weights = out / "weights"
    first, second = weights / "digits_epoch001_000000-000001.safetensors", weights / "digits_epoch001_000002-000003.safetensors"
    from engine.weights_io import load_snapshot

    kept = [w.clone() for w in load_snapshot(second)[0]]   # (the file is memory-mapped)
    first.unlink()
    second.write_bytes(second.read_bytes()[:-8] + b"\0" * 8)
    summary, text = engine_run(out, "population.save_weights=true")
    assert ("chunk 1/2 (networks 0..1) is computed again: weights/digits_epoch001_000000-000001.safetensors is "
            "missing") in text
    assert ("chunk 2/2 (networks 2..3) is computed again: weights/digits_epoch001_000002-000003.safetensors "
            "changed since it was written") in text
    assert first.is_file()
    for a, b in zip(load_snapshot(second)[0], kept):   # the same networks, written again
        assert torch.equal(a, b)
    summary, _ = engine_run(out, "population.save_weights=true")
    assert (summary.chunks_done, summary.chunks_resumed) == (0, 2)


def test_damaged_parts_through_the_cli(tmp_path):
    out = tmp_path / "run"
    run_engine(*CHUNKED, f"hydra.run.dir={out}")
    part = out / "parts" / "digits_000000-000001.networks.parquet"
    part.write_bytes(b"garbage" * 100)
    p = run_engine(*CHUNKED, f"hydra.run.dir={out}")
    assert "Traceback" not in p.stderr and "networks.parquet changed since it was written" in p.stdout
    assert "resumed 1 finished chunk(s), ran 1" in p.stdout
    check_complete(out)


def test_markers_of_an_older_engine_are_computed_again(tmp_path, engine_run):
    """Markers without the parts' checksums (older engines) cannot vouch for their parts: computed again."""
    import json

    out = tmp_path / "run"
    engine_run(out)
    for marker in (out / "parts").glob("*.done"):
        first_last = json.loads(marker.read_text())["networks"]
        marker.write_text(json.dumps({"networks": first_last}))
    summary, text = engine_run(out)
    assert ("chunk 1/2 (networks 0..1) is computed again: its marker digits_000000-000001.done is damaged (or was "
            "written by an older engine)") in text
    assert (summary.chunks_done, summary.chunks_resumed) == (2, 0)
    check_complete(out)


def test_a_resume_may_change_how_but_not_what(tmp_path, engine_run):
    """Settings declared ``how`` in the schema (one declaration, read by resume and gather) may change on
    resume; any other is refused, naming the keys that differ."""
    from engine.config import HOW_SETTINGS
    from engine.gather import FREE

    assert set(HOW_SETTINGS) <= set(FREE) and "dataset.download" in HOW_SETTINGS
    out = tmp_path / "run"
    engine_run(out)
    summary, _ = engine_run(out, "dataset.download=false", "measures.chunk_size=1", "backend=cpu")
    assert (summary.chunks_done, summary.chunks_resumed) == (0, 2)
    # weights asked for on resume: the chunks that did not save them are computed again, not left without
    summary, text = engine_run(out, "population.save_weights=true")
    assert "is computed again: its weights were not saved (digits_epoch001_000000-000001.safetensors" in text
    assert (summary.chunks_done, summary.chunks_resumed) == (2, 0)
    assert len(list((out / "weights").glob("*.safetensors"))) == 2
    with pytest.raises(EngineError, match=r"holds a run of a different configuration \(model.activation: 'relu' "
                                          r"there, 'tanh' now; train.lr: 0.01 there, 0.5 now; recorded in "):
        engine_run(out, "train.lr=0.5", "model.activation=tanh", "dataset.download=false")


def test_a_claim_recorded_before_a_setting_existed_counts_it_at_its_default(tmp_path, engine_run):
    import json

    out = tmp_path / "run"
    engine_run(out)
    claim = out / "parts" / "config.json"
    record = json.loads(claim.read_text())
    del record["model"]["init"]["rewire"], record["population"]["compare"]
    record["dataset"]["download"] = True   # older claims recorded how-settings too
    claim.write_text(json.dumps(record))
    summary, _ = engine_run(out)
    assert (summary.chunks_done, summary.chunks_resumed) == (0, 2)
    with pytest.raises(EngineError, match=r"model.init.rewire: 'none' there, 'pa' now"):
        engine_run(out, "model.init.rewire=pa")


def test_chunks_of_a_train_only_run_are_measured_when_measures_are_added(tmp_path, engine_run):
    out = tmp_path / "run"
    engine_run(out, "stages=[train]")
    assert not (out / "neurons.parquet").exists()
    with pytest.raises(EngineError, match="skips training but chunk digits_000000-000001 is not done: "
                                          "it was computed with other stages or snapshots"):
        engine_run(out, "stages=[measures]")
    summary, text = engine_run(out)
    assert "is computed again: it was computed with other stages or snapshots (neurons 0 rows, the plan needs " \
        f"{2 * HIDDEN})" in text
    check_complete(out)


def test_merged_tables_are_checked_against_the_plan(tmp_path, monkeypatch):
    import engine.pipeline as pipeline

    real = pipeline._run_chunk

    def lossy(*args, **kwargs):  # a bug that loses a neuron row must not give a successful run
        tables = real(*args, **kwargs)
        tables["neurons"] = tables["neurons"].iloc[:-1]
        return tables

    monkeypatch.setattr(pipeline, "_run_chunk", lossy)
    cfg = compose(*CHUNKED)
    with pytest.raises(EngineError, match=r"do not match the plan \(4 networks x 20 hidden neurons x 1 snapshot"
                                          r"\(s\), 1 epoch\(s\)\): neurons: 78 rows, the plan needs 80"):
        pipeline.run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "neurons.parquet").exists() and not (tmp_path / "run" / "run.json").exists()


# --- refused and failed runs leave no trace -------------------------------------------------------------------

def test_a_refused_run_leaves_the_directory_byte_for_byte(tmp_path):
    from engine.report import load_run_config

    out = tmp_path / "run"
    run_engine(*TINY, "stages=[train]", f"hydra.run.dir={out}")
    before = snapshot(out)
    assert ".hydra/config.yaml" in before and "run.log" in before
    # a different configuration
    p = run_engine(*TINY, "stages=[train]", "train.lr=0.5", f"hydra.run.dir={out}", check=False)
    assert p.returncode == 2 and "different configuration" in p.stderr
    assert snapshot(out) == before
    assert OmegaConf.load(out / ".hydra" / "config.yaml").train.lr == 0.01
    assert "train.lr=0.5" not in (out / ".hydra" / "overrides.yaml").read_text()
    assert load_run_config(out)[0]["folds"] == 3
    # another run writing there (we hold its lock)
    with open(out / "parts" / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        p = run_engine(*TINY, "stages=[train]", "analysis.folds=5", f"hydra.run.dir={out}", check=False)
    assert p.returncode == 2 and "another run is writing" in p.stderr
    assert snapshot(out) == before
    # the same configuration resumes and records itself
    p = run_engine(*TINY, "stages=[train]", "analysis.folds=5", f"hydra.run.dir={out}")
    assert "resumed 1 finished chunk(s)" in p.stdout
    assert load_run_config(out)[0]["folds"] == 5
    assert "analysis.folds=5" in (out / ".hydra" / "overrides.yaml").read_text()
    assert (out / "run.log").read_bytes().startswith(before["run.log"])


def test_a_run_that_fails_validation_leaves_no_run_directory(tmp_path):
    p = run_engine(*TINY, "train.lr=0", cwd=tmp_path, check=False)  # default hydra.run.dir: outputs/<dataset>/<time>
    assert p.returncode == 2 and "train.lr" in p.stderr and "Traceback" not in p.stderr
    assert list(tmp_path.iterdir()) == []
    p = run_engine(*TINY, "population.size=-5", f"hydra.run.dir={tmp_path / 'a' / 'b'}", check=False)
    assert p.returncode == 2 and not (tmp_path / "a").exists()


@pytest.mark.parametrize("bad,good,refusal", [
    (["population.size=1", "population.shard=0/2"], ["population.size=2", "population.shard=0/2"],
     "population.shard='0/2': holds no network of population.size=1: use fewer shards"),
    (["dataset=mnist", "dataset.download=false", "dataset.cache_dir=CACHE"], [],
     "mnist: train-images-idx3-ubyte.gz, .* not found in .* and downloading is disabled"),
    (["train.lr=-1"], [], r"train.lr=-1: must be a finite number > 0"),
], ids=["empty-shard", "missing-data", "invalid"])
def test_nothing_is_written_before_the_run_can_start(tmp_path, bad, good, refusal):
    from engine.pipeline import run

    out = tmp_path / "run"
    out.mkdir()
    bad = [b.replace("CACHE", str(tmp_path / "empty")) for b in bad]
    with pytest.raises(EngineError, match=refusal):
        run(compose(*TINY, "stages=[train]", *bad), out)
    assert list(out.iterdir()) == [], "a run that cannot start writes nothing (no parts/config.json)"
    run(compose(*TINY, "stages=[train]", *good), out)  # the corrected command is not refused
    with pytest.raises(EngineError, match=refusal):
        run(compose(*TINY, "stages=[train]", *bad), tmp_path / "new" / "run")
    assert not (tmp_path / "new").exists(), "nor does it leave a directory it made"


# --- gather: one protocol ---------------------------------------------------------------------------------------

def fake_run(d: Path, *overrides, networks=(0, 1)) -> Path:
    """A run directory as engine.run leaves it, as far as gather reads it: its record and its tables."""
    cfg = compose(*TINY, *overrides)
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    (d / "parts").mkdir()
    pd.DataFrame({"dataset": cfg.dataset.name, "network": list(networks), "seed": list(networks),
                  "test_acc": 0.5, "diverged": False}).to_parquet(d / "networks.parquet", index=False)
    return d


def gather_cli(*args):
    from engine.gather import main

    return main([*map(str, args), "--no-analysis"])


@pytest.mark.parametrize("a,b,keys", [
    (["train.epochs=2"], ["train.epochs=3"], "train.epochs: 2 vs 3"),
    (["model.hidden=[12,8]"], ["model.hidden=[16,8]"], "model.hidden: [12, 8] vs [16, 8]"),
    (["dataset.limit_train=200"], ["dataset.limit_train=300"], "dataset.limit_train: 200 vs 300"),
    (["dataset=digits", "population.seed=0"], ["dataset=mnist1d", "population.seed=1"], "population.seed: 0 vs 1"),
])
def test_gather_refuses_runs_of_different_settings(tmp_path, capsys, a, b, keys):
    fake_run(tmp_path / "sweep" / "a", *a, "population.shard=0/2")
    fake_run(tmp_path / "sweep" / "b", *b, "population.shard=1/2", networks=(2, 3))
    assert gather_cli(tmp_path / "sweep") == 2
    err = capsys.readouterr().err
    assert "different settings" in err and keys in err and err.count("\n") == 1
    assert not (tmp_path / "sweep" / "gathered").exists()


def test_gather_merges_shards_and_benchmarks_of_one_protocol(tmp_path):
    sweep = tmp_path / "sweep"
    fake_run(sweep / "job0", "population.shard=0/2", "population.chunk_size=1", "backend=cpu")
    fake_run(sweep / "job1", "population.shard=1/2", "measures.chunk_size=3", "progress=true", "analysis.folds=5",
             "stages=[train,measures,analysis]", networks=(2, 3))
    fake_run(sweep / "job2", "dataset=mnist1d", "dataset.limit_train=300", "dataset.cache_dir=/elsewhere",
             networks=(0, 1, 2, 3))   # unsharded: all population.size=4 networks
    assert gather_cli(sweep) == 0
    nets = pd.read_parquet(sweep / "gathered" / "networks.parquet")
    assert len(nets) == 8 and set(nets["dataset"]) == {"digits", "mnist1d"}
    # a later gather of the same directory does not take the earlier gather's output for a run
    assert gather_cli(sweep, "--out", tmp_path / "again") == 0
    assert len(pd.read_parquet(tmp_path / "again" / "networks.parquet")) == 8


def test_gather_refuses_a_run_that_computed_no_measures_beside_one_that_did(tmp_path, capsys):
    fake_run(tmp_path / "a", "stages=[train,measures]")
    fake_run(tmp_path / "b", "stages=[train]", networks=(2, 3))
    assert gather_cli(tmp_path / "a", tmp_path / "b", "--out", tmp_path / "g") == 2
    assert "stages (train, measures)" in capsys.readouterr().err
