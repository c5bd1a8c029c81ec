"""Report stage: JSON metrics, PNG figures and one self-contained HTML page per run directory.

``write_report(run_dir, result=None, cfg=None)`` (``writer.py``) writes, all atomically:
``analysis/summary.json`` and one ``analysis/<part>.json`` per part, ``figures/*.png``
(``figures.py``), ``report.html`` (``sections.py``, one function per section; ``html.py``), and
``neurons.parquet`` again with a ``neuron_type`` column. ``python -m engine.report RUN_DIR`` runs it
on a finished run. ``load_run`` and ``load_run_config`` live in ``engine.run_dir`` and are
re-exported here.
"""

from engine.report.writer import write_report
from engine.run_dir import load_run, load_run_config

__all__ = ["load_run", "load_run_config", "write_report"]
