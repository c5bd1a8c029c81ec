"""The default run end to end (`python -m engine.run`: train, measures, analysis, report), timed per stage.

    python benchmarks/end_to_end.py [--quick] [--networks N]

Target (issues 2 and 4): the default 1,000 digits networks in under 5 minutes on a 2-core CPU.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine, networks_from_args, timed_run  # noqa: E402
from engine.storage import write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> dict:
    a, n = networks_from_args(argv, __doc__, quick=200, full=1000)
    with tempfile.TemporaryDirectory() as tmp:
        wall, stats, _ = timed_run([f"population.size={n}"], Path(tmp) / "run")
        summary = json.loads((Path(tmp) / "run" / "analysis" / "summary.json").read_text())
    # what the default run found (README: "What structure says about performance")
    findings = {k: summary.get(k) for k in ("counts", "predictability", "early_prediction", "subgraph_verdict",
                                            "best_classifier", "regression", "conclusion")}
    out = {"benchmark": "end_to_end", "machine": machine(), "networks": n, "wall_s": wall,
           "stages_s": stats.get("seconds", {}), "device": stats.get("device"), "target_s": 300 if n == 1000 else None,
           "findings": findings}
    write_json(out, RESULTS / f"end_to_end{'_quick' if a.quick else ''}.json")
    print(f"python -m engine.run population.size={n}: {wall:.1f} s wall; stages: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in out["stages_s"].items()))
    return out


if __name__ == "__main__":
    main()
