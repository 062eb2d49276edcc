"""Diagnostics for GAN training: sample-quality and mode-collapse metrics.

Submodules are imported explicitly (e.g. ``from diagnostics.metrics import prdc``)
so that importing the package stays cheap and free of optional dependencies.
"""
