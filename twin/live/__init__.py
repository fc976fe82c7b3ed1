"""The live twin: a scenario run for real on the wall clock (Ray actors, MediaMTX, PyAV).

Its scenario section is twin.scenario.live. Nothing here is imported eagerly: the modules
load Ray, PyAV or OpenCV and are imported where they are used.
"""
