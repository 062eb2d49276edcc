"""Self-contained HTML reports built only from files: run directories, sweep results, ``.benchmarks``.

* :mod:`reports.run_report` — ``ganbench report RUN_DIR``: one run (config, losses with the
  equilibrium reference, D outputs with verdict bands, quality with the real-data ceiling,
  sample grids, verdicts, timing).
* :mod:`reports.compare` — ``ganbench compare-batch``'s page: renders the comparison at equal epochs and
  equal wall time that :mod:`diagnostics.comparison` computes from the runs.
* :mod:`reports.bench_report` — ``ganbench bench-report``: pytest-benchmark history and sweeps.
* :mod:`reports.html` (page, tables, index), :mod:`reports.plots` (matplotlib Agg),
  :mod:`reports.load` (tolerant readers); the headless Chromium check and hand-written inputs in the
  documented formats are test helpers (``tests/helpers/browser.py``, ``tests/helpers/reports.py``).

Submodules are imported explicitly so that ``import reports`` stays cheap.
"""
