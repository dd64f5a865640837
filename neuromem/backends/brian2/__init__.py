"""Brian2 backend: builds an explicit ``brian2.Network`` from a spec and runs its phases."""

from neuromem.backends.brian2.simulator import (Brian2Options, simulate, default_cache_dir, default_device,
                                                make_backend, resolve_device, last_backend_description,
                                                DEVICES)
from neuromem.backends.brian2.builder import Builder, build
from neuromem.backends.brian2 import normalisation as _normalisation  # noqa: F401 (registers its build function)

__all__ = ["Brian2Options", "simulate", "default_cache_dir", "default_device", "make_backend", "resolve_device",
           "last_backend_description", "DEVICES",
           "Builder", "build"]
