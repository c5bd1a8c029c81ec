"""engine: complex-network structure of trained neural-network populations, batched on GPU or CPU.

The Python API:

* ``read_network(source)``: the network in a model file or object, as weight matrices in forward order;
* ``measure_network(source)``: the measures of its hidden neurons, as a DataFrame;
* ``measure_files(dir_or_glob)``: a population of model files measured as a run measures its networks;
* ``analyze(dir, accuracies)``: their analysis and report, as a run's;
* ``load_run(run_dir)``: a run directory's tables by name;
* ``compute_measures`` and ``neuron_table``: the batched measures of (N, fan_in, fan_out) stacks.
"""

__version__ = "0.1.0"

import sys
import types

from engine.errors import EngineError

# Each name of the API and the module that defines it, imported when first used (PEP 562): a command line
# (python -m engine.run, ...) starts without loading torch and the measures first, so that it answers
# Ctrl-C during its start-up itself (one line), and commands that need less load less.
_EXPORTS = {"MEASURES": "engine.measures", "compute_measures": "engine.measures", "neuron_table": "engine.measures",
            "Network": "engine.networks", "read_network": "engine.networks", "analyze": "engine.networks.accuracies",
            "measure_network": "engine.networks.measure", "MeasuredFiles": "engine.networks.population",
            "measure_files": "engine.networks.population", "write_population": "engine.networks.population",
            "RunTables": "engine.run_dir", "load_run": "engine.run_dir"}

__all__ = ["EngineError", "MEASURES", "MeasuredFiles", "Network", "RunTables", "analyze", "compute_measures",
           "load_run", "measure_files", "measure_network", "neuron_table", "read_network", "write_population"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


class _Package(types.ModuleType):
    """The package, whose name ``analyze`` stays the API function.

    ``engine.analyze`` names both the API function and the module behind ``python -m engine.analyze``;
    importing that module (the command, the doctest collection, tools that import every module) would
    make the import system rebind the package's ``analyze`` to the module. Neither documented name may
    change, so the package keeps the function: ``help(engine.analyze)`` and ``inspect.signature`` see it
    whatever was imported first, and the command module is still ``sys.modules["engine.analyze"]``.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name == "analyze" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
