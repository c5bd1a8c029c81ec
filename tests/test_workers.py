"""Worker processes for the CPU measures: the single-process results, and a broken pool is one
warning and the work done in this process."""

import logging

import pytest
import torch

from engine.measures import workers
from engine.measures.compute import compute_measures
from engine.population.init import init_population


@pytest.fixture(autouse=True)
def fresh_pool(monkeypatch):
    monkeypatch.setattr(workers, "_pool", None)
    monkeypatch.setattr(workers, "_disabled", False)
    yield
    if workers._pool is not None:
        workers._pool.shutdown()


def _weights():
    return init_population([9, 7, 5, 3], list(range(40)))


def test_worker_processes_give_the_single_process_results(monkeypatch):
    monkeypatch.setenv("ENGINE_WORKERS", "1")
    alone = compute_measures(_weights())
    assert workers.process_pool() is None
    monkeypatch.setenv("ENGINE_WORKERS", "2")
    pooled = compute_measures(_weights())
    assert workers._pool is not None          # the pool really ran
    # one thread per worker sums some float64 products in another order (current-flow closeness)
    torch.testing.assert_close(pooled, alone, rtol=1e-8, atol=0, equal_nan=True)
    monkeypatch.setenv("ENGINE_WORKERS", "3")   # spans of another size: same networks, same values
    assert torch.equal(compute_measures(_weights(), ["harmonic_centrality", "max_cliques"]),
                       alone[:, :, [5, 7]])


def test_a_broken_pool_warns_once_and_computes_here(monkeypatch, caplog):
    monkeypatch.setenv("ENGINE_WORKERS", "1")
    alone = compute_measures(_weights(), ["harmonic_centrality"])

    class Broken:
        def map(self, *a, **k):
            raise OSError("no semaphores here")

        def shutdown(self, **k):
            pass

    monkeypatch.setenv("ENGINE_WORKERS", "2")
    monkeypatch.setattr(workers, "_pool", Broken())
    with caplog.at_level(logging.WARNING, logger="engine.measures"):
        got = compute_measures(_weights(), ["harmonic_centrality"])
        again = compute_measures(_weights(), ["harmonic_centrality"])
    assert torch.equal(got, alone) and torch.equal(again, alone)
    assert sum("worker processes failed" in r.message for r in caplog.records) == 1
    assert workers.process_pool() is None     # given up for the rest of the process


def test_bad_worker_setting_falls_back_to_the_core_count(monkeypatch):
    monkeypatch.setenv("ENGINE_WORKERS", "many")
    assert workers.worker_count() >= 1


def test_only_numpy_arrays_cross_the_process_boundary(monkeypatch):
    """Pickling torch tensors runs OpenMP in the pool's feeder and manager threads; their thread teams
    outlive the call and slowed every later training epoch by 45% on 2 cores. Arguments and results
    cross as NumPy arrays."""
    import pickle

    import numpy as np

    crossed = []

    def plain(obj):
        assert not isinstance(obj, torch.Tensor), "a torch tensor would be pickled across processes"
        if isinstance(obj, (list, tuple)):
            for o in obj:
                plain(o)
        elif isinstance(obj, dict):
            for o in obj.values():
                plain(o)
        crossed.append(type(obj))

    class InProcess:  # a pool that runs here but pickles both ways, as a real one does
        def map(self, fn, *iterables):
            for args in zip(*iterables):
                plain(args)
                result = fn(*pickle.loads(pickle.dumps(args)))
                plain(result)
                yield pickle.loads(pickle.dumps(result))

        def shutdown(self, **k):
            pass

    monkeypatch.setenv("ENGINE_WORKERS", "1")
    alone = compute_measures(_weights())
    monkeypatch.setenv("ENGINE_WORKERS", "2")
    monkeypatch.setattr(workers, "_pool", InProcess())
    torch.testing.assert_close(compute_measures(_weights()), alone, rtol=1e-8, atol=0, equal_nan=True)
    assert np.ndarray in crossed
    trained = [w.clone().requires_grad_(True) for w in _weights()]   # e.g. straight from a model
    torch.testing.assert_close(compute_measures(trained), alone, rtol=1e-8, atol=0, equal_nan=True)
    assert isinstance(workers._pool, InProcess)   # computed through the pool, not given up on


def test_a_script_that_measures_as_it_is_imported_is_told_once_and_measured_once(tmp_path):
    """Without an ``if __name__ == "__main__":`` guard, each spawned worker imports the script again; it
    used to run the whole script there too (the measures three times on two workers). Each worker now
    says the fix in one line and ends; the parent measures, once."""
    import os
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text("import torch\nimport engine\n"
                      "w = [torch.rand(16, 4, 3, dtype=torch.float64), torch.rand(16, 3, 2, dtype=torch.float64)]\n"
                      "print('measured', tuple(engine.compute_measures(w, ['strength']).shape))\n")
    env = {**os.environ, "ENGINE_WORKERS": "2"}
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.count("measured (16, 3, 1)") == 1, p.stdout
    assert 'put that code under  if __name__ == "__main__":' in p.stderr
    assert "Traceback" not in p.stderr, p.stderr[-2000:]
