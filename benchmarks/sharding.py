"""Sharding overhead: 2 shards through Hydra's joblib launcher (plus the gather) vs one unsharded run.

    python benchmarks/sharding.py [--quick]

Both runs train and measure the same digits population end to end; target: within 1.3x.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine  # noqa: E402
from benchmarks.common import timed_run  # noqa: E402
from benchmarks.end_to_end import RESULTS  # noqa: E402
from engine.storage import write_json  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 networks, 10 epochs")
    a = ap.parse_args(argv)
    n, epochs = (100, 10) if a.quick else (400, 30)
    common = [f"population.size={n}", f"train.epochs={epochs}"]
    with tempfile.TemporaryDirectory() as tmp:
        whole, _, _ = timed_run(common, Path(tmp) / "whole")
        sharded, _, _ = timed_run([*common, "population.shard=0/2,1/2", "hydra/launcher=joblib",
                                   "hydra.launcher.n_jobs=2"], Path(tmp) / "sharded", multirun=True)
    out = {"benchmark": "sharding", "machine": machine(), "networks": n, "epochs": epochs,
           "unsharded_s": whole, "two_shards_joblib_s": sharded, "ratio": sharded / whole, "target_ratio": 1.3}
    write_json(out, RESULTS / f"sharding{'_quick' if a.quick else ''}.json")
    print(f"{n} networks x {epochs} epochs: unsharded {whole:.1f} s, 2 shards (joblib) + gather {sharded:.1f} s, "
          f"ratio {sharded / whole:.2f}x")
    return out


if __name__ == "__main__":
    main()
