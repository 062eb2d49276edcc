"""Wires the benchmark harness (:mod:`bench.harness`) into ``pytest bench``: its options, hooks and fixtures."""

from bench.harness import (  # noqa: F401 — pytest finds hooks and fixtures by name in conftest.py
    gan_on_device,
    pytest_addoption,
    pytest_benchmark_update_machine_info,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_generate_tests,
    pytest_report_header,
    pytest_terminal_summary,
    timed_cell,
    timed_reference,
)
