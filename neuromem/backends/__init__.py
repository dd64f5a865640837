"""Simulation backends that consume a :class:`neuromem.spec.Model`."""
