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

from engine.errors import EngineError
from engine.measures import MEASURES, compute_measures, neuron_table
from engine.networks import Network, read_network
from engine.networks.accuracies import analyze
from engine.networks.measure import measure_network
from engine.networks.population import MeasuredFiles, measure_files, write_population
from engine.run_dir import RunTables, load_run

__all__ = ["EngineError", "MEASURES", "MeasuredFiles", "Network", "RunTables", "analyze", "compute_measures",
           "load_run", "measure_files", "measure_network", "neuron_table", "read_network", "write_population"]
