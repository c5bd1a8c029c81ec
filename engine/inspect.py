"""Inspect one trained model file: the eight measures of its hidden neurons, as a table.

    python -m engine.inspect MODEL [--out FILE.parquet|FILE.csv] [--dtype float64|float32]
                             [--measures a,b,...] [--log-subgraph] [--backend auto|cpu|gpu]

MODEL is a Keras .h5, a PyTorch state_dict (.pt/.pth), a .safetensors file (including this
project's weight snapshots) or an .npz of weight matrices (see ``engine.weights_io``). Prints the
layer sizes and, per hidden layer, the mean and standard deviation of each measure; with --out,
writes one row per hidden neuron (columns dataset, network, epoch, layer, neuron, <measures>).
Errors are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Sequence

import torch

from engine.errors import EngineError, cli_errors
from engine.schema import measure_names

OUTPUT_SUFFIXES = (".parquet", ".csv")
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.inspect",
                                description="Complex-network measures of the hidden neurons of a trained MLP.")
    p.add_argument("model", help="weight file: .h5/.hdf5 (Keras), .pt/.pth (state_dict), .safetensors, .npz")
    p.add_argument("--out", help="write the per-neuron table here (.parquet or .csv)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float64", help="compute precision (default float64)")
    p.add_argument("--measures", help="comma-separated subset of the measures (default: all eight)")
    p.add_argument("--log-subgraph", action="store_true", help="report log(subgraph_centrality) (values reach 1e89)")
    p.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto", help="device (default auto)")
    return p


def _parse_measures(text: str | None) -> list[str] | None:
    if text is None:
        return None
    try:
        return measure_names([m.strip() for m in text.split(",") if m.strip()])
    except ValueError as e:
        raise EngineError(f"--measures: {e}") from None


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.6g}"


def summary_text(model, table, measures: Sequence[str], path: Path) -> str:
    """Layer sizes, ignored biases and per-hidden-layer mean/std of each measure, as plain text."""
    lines = [f"{path.name}: {model.source_format}, {model.n_networks} network(s), layers "
             f"{'-'.join(str(n) for n in model.layer_sizes)}",
             f"biases ignored: {', '.join(model.biases_ignored) if model.biases_ignored else 'none'}"]
    layers = sorted(int(l) for l in table["layer"].unique())
    header = ["measure"] + [f"l{l} {stat}" for l in layers for stat in ("mean", "std")]
    rows = []
    for m in measures:
        row = [m]
        for l in layers:
            values = table.loc[table["layer"] == l, m].astype(float)
            row += [_fmt(values.mean()), _fmt(values.std(ddof=0))]
        rows.append(row)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    for r in [header] + rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def write_table(table, out: Path) -> Path:
    """Write the neuron table atomically, as Parquet or CSV by the file's suffix."""
    from engine.storage import atomic_path, write_parquet

    if out.suffix == ".parquet":
        return write_parquet(table, out)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    return out


def run(argv: Sequence[str] | None = None) -> int:
    """The CLI without the error handling (raises EngineError)."""
    args = _parser().parse_args(argv)
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix not in OUTPUT_SUFFIXES:
        raise EngineError(f"--out {out}: unsupported table format {out.suffix!r}; use a .parquet or .csv file name")

    from engine.backend import resolve_device
    from engine.weights_io import load_model

    model_path = Path(args.model)
    model = load_model(model_path)
    if len(model.weights) < 2:
        raise EngineError(f"{model_path}: a single weight matrix {tuple(model.weights[0].shape)} has no hidden "
                          "layer, so there are no hidden neurons to measure")
    try:
        from engine.measures import MEASURES, neuron_table
    except ImportError as e:
        raise EngineError(f"engine.measures is not available ({e})") from None
    measures = _parse_measures(args.measures)
    device = resolve_device(args.backend)
    weights = [w.to(device) for w in model.stacked()]
    try:  # snapshots record their epoch; other files are "final weights": -1
        epoch = int(model.metadata.get("epoch", -1))
    except (TypeError, ValueError):
        epoch = -1
    table = neuron_table(weights, dataset=model_path.stem, epoch=epoch, measures=measures,
                         dtype=DTYPES[args.dtype], log_subgraph=args.log_subgraph)
    print(summary_text(model, table, measures or list(MEASURES), model_path))
    if out is not None:
        write_table(table, out)
        print(f"wrote {len(table)} rows to {out}")
    return 0


@cli_errors(OSError)   # OSError: e.g. an unreadable model or output path not caught deeper
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: errors become one line on stderr and exit code 2."""
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
