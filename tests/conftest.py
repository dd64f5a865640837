"""Shared pytest configuration for the neuromem test suite.

There is deliberately no ``tests/__init__.py``: the lava-nc wheel installs a
top-level ``tests`` package into site-packages, and pytest runs with
``--import-mode=importlib`` (see pyproject.toml) so that this directory is
never confused with it.  Put shared fixtures here, not in an importable
``tests`` package.
"""

import os

# Headless plotting for every test (must be set before matplotlib is imported).
os.environ["MPLBACKEND"] = "Agg"
