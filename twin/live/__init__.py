"""The live twin: a scenario run for real on the wall clock (Ray actors, MediaMTX, PyAV).

Only :mod:`.settings` is imported eagerly (twin.scenario needs it); everything else loads
Ray, PyAV or OpenCV and is imported where it is used.
"""
