"""The production core: sans-IO, clock-injected logic that both engines run.

Nothing in this package reads the clock, touches files or imports SimPy or Ray: it takes
inputs and `now` (seconds, float) and returns what should happen.
"""
