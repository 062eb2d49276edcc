"""The ``ganbench`` command: the top floor, a thin shell over ``gans``, ``diagnostics``, ``bench`` and ``reports``."""
