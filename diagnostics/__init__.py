"""Diagnostics for GAN training: equilibrium, sample quality and mode collapse.

* :mod:`diagnostics.metrics` — pure metrics of features, one module per metric
  (FID+KID, PRDC, NDB, class coverage, modes, diversity).
* :mod:`diagnostics.features` — feature extractors in a registry (classifier, inception, random-conv, raw).
* :mod:`diagnostics.metric_registry` — one description per metric (label, unit, direction, compute), read by
  evaluate, the reports, the comparison and README's metrics table.
* :mod:`diagnostics.evaluate` — every applicable score of fakes and of held-out reals (the ceiling).
* :mod:`diagnostics.comparison` — the batch-size comparison's analysis and conclusion (a typed ``Comparison``).
* :mod:`diagnostics.verdicts` — the collapse verdict and verdicts.json.
* :mod:`diagnostics.equilibrium` — the windowed D/G equilibrium verdict (live and offline).
* :mod:`diagnostics.live` — training callbacks; :mod:`diagnostics.monitor` — the equilibrium verdict for your
  own loop (``ganbench.EquilibriumMonitor``). ``ganbench diagnose`` lives in :mod:`ganbench.diagnose`.

Submodules are imported explicitly (e.g. ``from diagnostics.metrics import prdc``)
so that importing the package stays cheap and free of optional dependencies.
"""
