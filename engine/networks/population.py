"""A population of a researcher's own model files, measured as a run measures its networks.

``measure_files(DIR or GLOB)`` reads every file (one-line reasons for those that fail), stacks the
networks of one architecture into batches and measures them with ``neuron_table`` (worker processes
on CPU, as the run's measures stage), and computes the weight-statistics and spectral baselines of
each network. The tables have a run directory's schema, so ``engine.analyze`` (with the networks'
accuracies) gives the same analysis and report as a run.
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch

from engine.errors import EngineError
from engine.networks.layers import Network

__all__ = ["measure_files", "MeasuredFiles", "write_population"]

log = logging.getLogger("engine.networks")

_BATCH_NETWORKS = 256   # networks of one architecture measured at once (bounded memory)
_FAILED_COLUMNS = ["file", "reason"]


@dataclass
class MeasuredFiles:
    """The tables of a measured population of files (what ``measure_files`` returns).

    Parameters
    ----------
    neurons : pandas.DataFrame
        One row per hidden neuron: dataset, network, epoch, layer (1 = first hidden), neuron, then one
        float64 column per measure.
    networks : pandas.DataFrame
        One row per network: dataset, network, file, index_in_file, format, layers (``"784-200-100-10"``),
        order, not_in_graph, pruned, the per-layer mean/std of each measure, the weight-statistics
        ``w_l*`` and spectral ``ww_l*`` baselines.
    failed : pandas.DataFrame
        ``file``, ``reason``: the files that could not be read, with one-line reasons.

    Examples
    --------
    >>> import pandas as pd
    >>> empty = pd.DataFrame()
    >>> MeasuredFiles(empty, empty, pd.DataFrame([("notes.txt", "not a model file")], columns=["file", "reason"])
    ...               ).failed["file"].tolist()
    ['notes.txt']
    """

    neurons: pd.DataFrame
    networks: pd.DataFrame
    failed: pd.DataFrame


def _expand(sources: str | os.PathLike | Sequence[str | os.PathLike]) -> tuple[list[Path], Path | None]:
    """The model files named by a directory (its non-hidden entries), a glob pattern or paths, sorted;
    and the directory they are named relative to (None when they share none)."""
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir() and not _is_tensorflow(p):
            files += [c for c in p.iterdir() if not c.name.startswith(".") and (c.is_file() or _is_tensorflow(c))]
        elif any(ch in str(item) for ch in "*?["):
            matched = sorted(glob.glob(str(item), recursive=True))
            if not matched:
                raise EngineError(f"{item}: no file matches this pattern")
            files += [Path(m) for m in matched if Path(m).is_file() or _is_tensorflow(Path(m))]
        else:
            files.append(p)
    files = sorted(dict.fromkeys(files), key=lambda q: str(q))
    if not files:
        raise EngineError(f"{', '.join(map(str, items))}: no model files found")
    try:
        base = Path(os.path.commonpath([str(f.parent.resolve()) for f in files]))
    except ValueError:
        base = None
    return files, base


def _is_tensorflow(path: Path) -> bool:
    from engine.networks.detect import tensorflow_kind

    return path.is_dir() and tensorflow_kind(path) is not None


def measure_files(sources: Any, measures: Sequence[str] | None = None, *, dataset: str | None = None,
                  orientation: str | None = None, layers: Any = None, key: str | None = None,
                  dtype: torch.dtype = torch.float64, log_subgraph: bool = False, backend: str = "auto",
                  progress: bool = False) -> MeasuredFiles:
    """Measure every network in a directory, a glob pattern or a list of model files.

    Parameters
    ----------
    sources : str, os.PathLike or list of them
        A directory (its files), a glob pattern (``"runs/*/model.pt"``, ``**`` for any depth) or paths.
    measures : list of str, optional
        A subset of ``engine.MEASURES`` (default: all eight).
    dataset : str, optional
        The ``dataset`` column: the population's name (default: the directory's name).
    orientation, layers, key
        As in ``engine.read_network``, for every file.
    dtype, log_subgraph, backend, progress
        As in ``engine.measure_network``.

    Returns
    -------
    MeasuredFiles
        ``neurons``, ``networks`` and ``failed`` tables; network ids 0, 1, ... follow the sorted file
        names (a file holding a stack of N networks gets N ids).

    Raises
    ------
    EngineError
        When nothing matches, or no file can be read (each failing file's reason is in the message).

    Examples
    --------
    >>> import tempfile, torch
    >>> from engine import measure_files
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for seed in range(3):
    ...         torch.manual_seed(seed) and None
    ...         net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    ...         torch.save(net.state_dict(), f"{folder}/seed{seed}.pt")
    ...     open(f"{folder}/notes.txt", "w").write("not a model") and None
    ...     measured = measure_files(folder, ["strength"], dataset="mine")
    >>> measured.networks[["network", "file", "layers"]].to_dict("records")[0]
    {'network': 0, 'file': 'seed0.pt', 'layers': '6-5-3'}
    >>> len(measured.neurons), measured.failed["file"].tolist()
    (15, ['notes.txt'])
    """
    from engine.backend import resolve_device
    from engine.networks.read import read_file

    files, base = _expand(sources)
    name = dataset or (Path(sources).name if isinstance(sources, (str, os.PathLike)) and Path(sources).is_dir()
                       else "networks")
    device = resolve_device(backend)
    failed: list[tuple[str, str]] = []
    pending: dict[tuple, list[tuple[dict, Network]]] = {}
    tables: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    next_id = 0
    from engine.progress import progress_bar

    with progress_bar(len(files), progress, "reading files", "file") as bar:
        for path in files:
            label = _label(path, base)
            try:
                net = read_file(path, orientation=orientation, layers=layers, key=key)
                if len(net.weights) < 2:
                    raise EngineError(f"{path}: a single weight matrix {tuple(net.weights[0].shape)} has no hidden "
                                      "layer, so there are no hidden neurons to measure")
            except (EngineError, OSError) as e:
                reason = str(e)
                failed.append((label, reason[len(f"{path}: "):] if reason.startswith(f"{path}: ") else reason))
                bar.update(1)
                continue
            info = {"file": label, "first_id": next_id}
            next_id += net.n_networks
            group = pending.setdefault(tuple(net.layer_sizes), [])
            group.append((info, net))
            if sum(n.n_networks for _, n in group) >= _BATCH_NETWORKS:
                tables.append(_measure_group(pending.pop(tuple(net.layer_sizes)), name, measures, dtype,
                                             log_subgraph, device, progress))
            bar.update(1)
    for group in pending.values():
        tables.append(_measure_group(group, name, measures, dtype, log_subgraph, device, progress))
    failed_df = pd.DataFrame(failed, columns=_FAILED_COLUMNS)
    if not tables:
        reasons = "; ".join(f"{f}: {r}" for f, r in failed[:3])
        raise EngineError(f"none of the {len(files)} files could be read as a fully connected network ({reasons}"
                          f"{'; ...' if len(failed) > 3 else ''})")
    neurons = pd.concat([t[0] for t in tables], ignore_index=True).sort_values(
        ["network", "layer", "neuron"], kind="stable").reset_index(drop=True)
    networks = pd.concat([t[1] for t in tables], ignore_index=True).sort_values("network").reset_index(drop=True)
    if failed:
        log.warning("%d of %d files not measured (their reasons: the failed table), e.g. %s: %s", len(failed),
                    len(files), *failed[0])
    return MeasuredFiles(neurons, networks, failed_df)


def _label(path: Path, base: Path | None) -> str:
    try:
        return str(path.resolve().relative_to(base)) if base is not None else str(path)
    except ValueError:
        return str(path)


def _measure_group(group: list[tuple[dict, Network]], dataset: str, measures, dtype, log_subgraph, device,
                   progress) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The neuron rows and network rows of networks of one architecture, measured as one batch."""
    from engine.analysis.spectral_stats import spectral_stats
    from engine.analysis.weight_stats import weight_stats
    from engine.measures import neuron_table, summarize
    from engine.networks.measure import network_epoch, network_facts

    stacks = [torch.cat([n.stacked()[l].to(torch.float64) for _, n in group]) for l in range(len(group[0][1].weights))]
    rows = []
    ids: list[int] = []
    epochs: list[int] = []
    for info, net in group:
        facts = network_facts(net)
        for k in range(net.n_networks):
            ids.append(info["first_id"] + k)
            epochs.append(network_epoch(net))
            rows.append({"dataset": dataset, "network": info["first_id"] + k, "file": info["file"], "index_in_file": k,
                         "format": facts["source_format"], "layers": "-".join(map(str, facts["layer_sizes"])),
                         "order": facts["order"], "not_in_graph": facts["not_in_graph"],
                         "pruned": ", ".join(facts["pruned"])})
    weights = [w.to(device) for w in stacks]
    neurons = []
    for epoch in sorted(set(epochs)):   # neuron_table takes one epoch: snapshots of several epochs, apart
        pick = torch.tensor([e == epoch for e in epochs])
        neurons.append(neuron_table([w[pick.to(w.device)] for w in weights], dataset=dataset, epoch=epoch,
                                    network_ids=[i for i, e in zip(ids, epochs) if e == epoch], measures=measures,
                                    orientation="in_out", dtype=dtype, log_subgraph=log_subgraph, progress=progress))
    neuron_df = pd.concat(neurons, ignore_index=True)
    nets = pd.DataFrame(rows)
    nets = nets.merge(summarize(neuron_df), on=["dataset", "network"], how="left")
    stats = pd.concat([weight_stats(weights), spectral_stats(weights)], axis=1)
    stats.insert(0, "network", ids)
    return neuron_df, nets.merge(stats, on="network", how="left")


def write_population(measured: MeasuredFiles, out_dir: str | os.PathLike, settings: dict | None = None) -> Path:
    """Write a measured population as a run directory that ``engine.analyze`` completes with accuracies.

    Parameters
    ----------
    measured : MeasuredFiles
        What ``measure_files`` returned.
    out_dir : str or os.PathLike
        The directory (made if missing); each file is written atomically.
    settings : dict, optional
        What was asked for (measures, dtype, ...), kept in inspect.json.

    Returns
    -------
    pathlib.Path
        ``out_dir``, holding neurons.parquet, networks.parquet, failed.csv and inspect.json.

    Raises
    ------
    EngineError
        If a file cannot be written (the others are left as they were).

    Examples
    --------
    >>> import tempfile, torch
    >>> from engine import measure_files, write_population
    >>> torch.manual_seed(0) and None
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     torch.save(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)).state_dict(), f"{folder}/a.pt")
    ...     out = write_population(measure_files(folder, ["strength"]), f"{folder}/measured")
    ...     print(sorted(p.name for p in out.iterdir()))
    ['failed.csv', 'inspect.json', 'networks.parquet', 'neurons.parquet']
    """
    from engine.storage import atomic_path, write_json, write_parquet

    out = Path(out_dir)
    write_parquet(measured.neurons, out / "neurons.parquet")
    write_parquet(measured.networks, out / "networks.parquet")
    with atomic_path(out / "failed.csv") as tmp:
        measured.failed.to_csv(tmp, index=False)
    write_json({"settings": settings or {}, "networks": int(len(measured.networks)),
                "files_failed": int(len(measured.failed))}, out / "inspect.json")
    return out
