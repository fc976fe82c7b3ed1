"""Synthetic CCTV streams and the MediaMTX server they are published to.

Only synthetic video: scenes are drawn with numpy + OpenCV, never taken from real footage, and
the figures in them are faceless.

- :mod:`.scene` / :mod:`.figures`: seeded street scenes with per-frame ground truth;
- :mod:`.encode`: encode a scene once per profile to H.264 and cache the file;
- :mod:`.publish`: publish a clip over RTSP in real time, looping, reconnecting;
- :mod:`.reader`: read packets back (tests, checks);
- :mod:`.install`, :mod:`.mediamtx_config`, :mod:`.mediamtx`: MediaMTX built, configured, run.

Import from the submodules (``from synthetic_streams.scene import Scene``): the package itself
loads nothing, so ``python -m synthetic_streams.install`` does not load OpenCV, PyAV or httpx.
"""
