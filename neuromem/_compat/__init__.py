"""Compatibility shims for third-party packages.

Nothing here is imported eagerly: each shim lives in its own submodule and
is only loaded by the code path that needs it.

Submodules
----------
lava311
    Makes lava-nc 0.10.0 (which declares ``Python <3.11``) importable on
    Python 3.11 through a ``sys.meta_path`` hook, without editing
    site-packages.  Use :func:`neuromem._compat.lava311.import_lava` rather
    than ``import lava`` anywhere in neuromem.
"""
