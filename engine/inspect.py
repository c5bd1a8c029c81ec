"""Measure a researcher's own trained networks: one model file, or a population of them.

    python -m engine.inspect MODEL [--out FILE.parquet|FILE.csv]
    python -m engine.inspect DIR|"GLOB"|FILE... --out OUT_DIR [--dataset NAME]
        options: [--layers a,b,c] [--orientation in_out|out_in] [--key NAME] [--dtype float64|float32]
                 [--measures a,b,...] [--log-subgraph] [--backend auto|cpu|gpu]

A file's format is told by its content: Keras ``.keras``/``.h5``/``.weights.h5``, anything
``torch.save`` wrote (a state_dict, a checkpoint dict, a Lightning ``.ckpt``), ``.safetensors`` (this
project's weight snapshots too) or ``.npz`` (``engine.networks`` says how order and orientation are
known). One file: prints its layers, how their order was known, what is not part of the graph and,
per hidden layer, the mean and std of each measure; ``--out`` writes one row per hidden neuron.
Several files: OUT_DIR gets neurons.parquet (a ``network`` id per network, with its ``file``),
networks.parquet (per network: file, layers, feature summaries, weight and spectral baselines) and
failed.csv (files that could not be read, with one-line reasons); ``python -m engine.analyze OUT_DIR
--accuracies ACC.csv`` then analyses them as a run. Errors are one line on stderr and exit code 2.
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

__all__ = ["main"]

_OUTPUT_SUFFIXES = (".parquet", ".csv")
_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.inspect",
                                description="Complex-network measures of the hidden neurons of trained MLPs.")
    p.add_argument("model", nargs="+", help="a model file; or a directory, a quoted glob pattern or several files "
                                            "(a population: needs --out DIR)")
    p.add_argument("--out", help="one file: write its per-neuron table here (.parquet or .csv); a population: the "
                                 "output directory")
    p.add_argument("--dataset", help="a population's name (the dataset column; default: the directory's name)")
    p.add_argument("--layers", help="the weight layers in forward order, comma-separated (where the file does not "
                                    "record the order)")
    p.add_argument("--orientation", choices=("in_out", "out_in"),
                   help="how matrices are stored: rows = inputs (in_out) or outputs (out_in); default: by the format "
                        "(PyTorch weight out_in, Keras kernel in_out)")
    p.add_argument("--key", help="in a checkpoint holding several dicts of tensors, the model's")
    p.add_argument("--dtype", choices=sorted(_DTYPES), default="float64", help="compute precision (default float64)")
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


def _summary_text(network, table, measures: Sequence[str], path: Path) -> str:
    """Layer sizes, how the order was known, what is not part of the graph, and per-hidden-layer
    mean/std of each measure, as plain text."""
    lines = [f"{path.name}: {network.source_format}, {network.n_networks} network(s), layers "
             f"{'-'.join(str(n) for n in network.layer_sizes)} ({', '.join(network.layer_names)})",
             f"order: {network.order}",
             f"not part of the graph: {network.describe_not_in_graph()}"]
    if network.pruned:
        lines.append(f"pruned (weight_orig * weight_mask): {', '.join(network.pruned)}")
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


def _write_table(table, out: Path) -> Path:
    """Write the neuron table atomically, as Parquet or CSV by the file's suffix."""
    from engine.storage import atomic_path, write_parquet

    if out.suffix == ".parquet":
        return write_parquet(table, out)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    return out


def _is_population(sources: list[str]) -> bool:
    from engine.networks.detect import tensorflow_kind

    if len(sources) > 1:
        return True
    p = Path(sources[0])
    return (p.is_dir() and tensorflow_kind(p) is None) or (not p.exists() and any(c in sources[0] for c in "*?["))


def _run(argv: Sequence[str] | None = None) -> int:
    """The CLI without the error handling (raises EngineError)."""
    args = _parser().parse_args(argv)
    measures = _parse_measures(args.measures)
    options = dict(orientation=args.orientation, layers=args.layers, key=args.key)
    if _is_population(args.model):
        return _run_population(args, measures, options)
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix not in _OUTPUT_SUFFIXES:
        raise EngineError(f"--out {out}: unsupported table format {out.suffix!r}; use a .parquet or .csv file name")

    from engine.measures import MEASURES
    from engine.networks import read_network
    from engine.networks.measure import measure_network

    model_path = Path(args.model[0])
    network = read_network(model_path, **options)
    table = measure_network(network, measures, name=model_path.stem, dtype=_DTYPES[args.dtype],
                            log_subgraph=args.log_subgraph, backend=args.backend)
    print(_summary_text(network, table, measures or list(MEASURES), model_path))
    if out is not None:
        _write_table(table, out)
        print(f"wrote {len(table)} rows to {out}")
    return 0


def _run_population(args, measures, options) -> int:
    from engine.networks.population import measure_files, write_population

    if not args.out:
        raise EngineError(f"{' '.join(args.model)}: a population of files needs --out DIR (the directory that gets "
                          "neurons.parquet, networks.parquet and failed.csv)")
    out = Path(args.out)
    if out.suffix in _OUTPUT_SUFFIXES or out.is_file():
        raise EngineError(f"--out {out}: a population of files is written to a directory (neurons.parquet, "
                          "networks.parquet, failed.csv), not to one table file")
    measured = measure_files(args.model if len(args.model) > 1 else args.model[0], measures, dataset=args.dataset,
                             dtype=_DTYPES[args.dtype], log_subgraph=args.log_subgraph, backend=args.backend,
                             progress=sys.stderr.isatty(), **options)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    write_population(measured, out, settings)
    nets = measured.networks
    by_arch = nets.groupby("layers").size()
    print(f"measured {len(nets)} network(s) from {nets['file'].nunique()} file(s) into {out}: "
          + ", ".join(f"{n} of {arch}" for arch, n in by_arch.items()))
    if len(measured.failed):
        print(f"{len(measured.failed)} file(s) not measured (listed in {out / 'failed.csv'}):")
        for row in measured.failed.itertuples():
            print(f"  {row.file}: {row.reason}")
    return 0


@cli_errors(OSError)   # OSError: e.g. an unreadable model or output path not caught deeper
def main(argv: Sequence[str] | None = None) -> int:
    """The command ``python -m engine.inspect MODEL|DIR|"GLOB"|FILE... [--out ...] [options]`` (see the module).

    One model file: prints its layers, how their order was known, what is not part of the graph and,
    per hidden layer, the mean and std of each measure; ``--out FILE.parquet|FILE.csv`` writes one row
    per hidden neuron. Several files (a directory, a quoted glob, a list): ``--out OUT_DIR`` gets
    neurons.parquet, networks.parquet and failed.csv.

    Parameters
    ----------
    argv : sequence of str, optional
        The model files (or a directory, a quoted glob), then the options (``--help`` lists them);
        default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 when measured; 2 for an unreadable or ambiguous file, an unknown measure, an unsupported
        ``--out``, ... (one line ``error: ...`` on stderr: ``engine.errors.cli_errors``). ``--help`` and
        malformed arguments exit through argparse (SystemExit 0 and 2).

    Examples
    --------
    >>> import contextlib, io, tempfile, torch
    >>> state = {"0.weight": torch.tensor([[1.0, -1.0, 0.5, 0.0], [0.0, 2.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]),
    ...          "2.weight": torch.tensor([[1.0, 0.5, -1.0], [2.0, 1.0, 0.0]])}   # a 4-3-2 MLP, no biases
    >>> stderr = io.StringIO()
    >>> with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(stderr):
    ...     torch.save(state, f"{tmp}/net.pt")
    ...     status = main([f"{tmp}/net.pt", "--measures", "strength,max_cliques"])
    ...     failed = main([f"{tmp}/net.pt", "--out", f"{tmp}/neurons.txt"])
    net.pt: torch, 1 network(s), layers 4-3-2 (0, 2)
    order: numeric indices in the layer names (e.g. layers.10 after layers.9)
    not part of the graph: nothing
    measure      l1 mean    l1 std
    strength           4   1.08012
    max_cliques  4.33333  0.471405
    >>> status, failed
    (0, 2)
    >>> print(stderr.getvalue())
    error: --out .../neurons.txt: unsupported table format '.txt'; use a .parquet or .csv file name
    """
    return _run(argv)


if __name__ == "__main__":
    sys.exit(main())
