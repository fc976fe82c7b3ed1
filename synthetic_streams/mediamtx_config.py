"""MediaMTX configuration for a set of camera paths: endpoints, per-role credentials, YAML.

Pure functions and value objects; nothing here starts a process. The policy the config encodes:

- RTSP only (over TCP), on 127.0.0.1; RTMP, HLS, WebRTC, SRT and playback are off.
- The Control API and Prometheus metrics listen on 127.0.0.1 only.
- ``authMethod: internal``; no anonymous user at all. Each camera has its own publisher user
  that may publish to its own path and nothing else; ``recorder`` and ``analyser`` may only
  read (and the recorder may use playback); ``admin`` may use the API and metrics, from
  127.0.0.1 only.
- Only the configured camera paths exist: a publish to any other path is refused.
- A path in use cannot be taken over: ``overridePublisher: false``, so a second publisher (even
  with the camera's own login) is refused while the first is live.

Passwords are generated per run with :func:`secrets.token_hex` and never appear in a repr,
nor in the configuration: it stores ``sha256:<base64 of SHA-256(password)>``, which MediaMTX
checks a login against (``conf.Credential``), so neither the file nor the Control API
(``/v3/config/global/get``) shows a password. A fast hash is enough here: each password is
128 random bits, so there is nothing to guess from its hash (a chosen password would need a
slow KDF, e.g. MediaMTX's ``argon2:``).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import secrets
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from synthetic_streams.errors import MediaServerError

__all__ = [
    "Login",
    "Credentials",
    "Endpoints",
    "make_credentials",
    "free_ports",
    "hashed_credential",
    "build_config",
    "render_config",
]

_PATH_RE = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")
_LOCALHOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Login:
    """A user name and password; the password is left out of repr so it is never logged."""

    user: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Every login of one MediaMTX run: one publisher per camera path, plus the roles."""

    publishers: tuple[tuple[str, Login], ...]
    recorder: Login
    analyser: Login
    admin: Login

    def publisher(self, path: str) -> Login:
        """The publisher login of camera ``path``; MediaServerError if there is none."""
        for name, login in self.publishers:
            if name == path:
                return login
        raise MediaServerError(
            f"no publisher credentials for camera path {path!r}; expected one of "
            f"{[name for name, _ in self.publishers]}: add the path when building the server"
        )

    @property
    def paths(self) -> tuple[str, ...]:
        """The camera paths, in the order they were given."""
        return tuple(name for name, _ in self.publishers)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a MediaMTX server listens: one host, RTSP, Control API and metrics ports."""

    host: str
    rtsp_port: int
    api_port: int
    metrics_port: int
    #: Where the Control API and metrics listen: loopback for a server the twin starts (only
    #: a process on the server's own machine administers it), even when RTSP listens on the
    #: node's address for the cameras and recorders of other machines.
    api_host: str = _LOCALHOST

    @property
    def api_url(self) -> str:
        """Base URL of the Control API, e.g. ``http://127.0.0.1:9997``."""
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def metrics_url(self) -> str:
        """URL of the Prometheus metrics page."""
        return f"http://{self.api_host}:{self.metrics_port}/metrics"

    def rtsp_url(self, path: str, login: Login | None = None) -> str:
        """``rtsp://[user:password@]host:port/path`` for ``path``."""
        userinfo = f"{login.user}:{login.password}@" if login else ""
        return f"rtsp://{userinfo}{self.host}:{self.rtsp_port}/{path}"


def _check_paths(paths: Sequence[str]) -> None:
    if not paths:
        raise MediaServerError("no camera paths given; expected at least one path name")
    for path in paths:
        if not isinstance(path, str) or not _PATH_RE.match(path):
            raise MediaServerError(
                f"camera path {path!r} is not a valid MediaMTX path name; expected letters, "
                f"digits, '_', '.', '-' and inner '/', like 'set0001/cam1'"
            )
    dupes = sorted(p for p, n in Counter(paths).items() if n > 1)
    if dupes:
        raise MediaServerError(f"camera paths {dupes} are given more than once; expected unique")


def _publisher_user(path: str) -> str:
    return "pub_" + re.sub(r"[^A-Za-z0-9]", "_", path)


def make_credentials(
    paths: Sequence[str], token: Callable[[], str] = lambda: secrets.token_hex(16)
) -> Credentials:
    """Fresh credentials for ``paths``: one publisher per path, recorder, analyser, admin.

    ``token`` makes passwords (``secrets.token_hex(16)`` by default); tests may pass their own.
    """
    _check_paths(paths)
    users = [_publisher_user(p) for p in paths]
    clash = sorted(u for u, n in Counter(users).items() if n > 1)
    if clash:
        raise MediaServerError(
            f"camera paths {sorted(p for p in paths if _publisher_user(p) in clash)} map to the "
            f"same publisher user name(s) {clash}; expected names that differ in more than "
            f"punctuation: rename one of them"
        )
    reserved = {"recorder", "analyser", "admin"} & set(users)
    if reserved:  # impossible with the pub_ prefix, kept as a guard for future renames
        raise MediaServerError(f"publisher user names {sorted(reserved)} clash with role names")
    return Credentials(
        publishers=tuple((p, Login(u, token())) for p, u in zip(paths, users, strict=True)),
        recorder=Login("recorder", token()),
        analyser=Login("analyser", token()),
        admin=Login("admin", token()),
    )


def free_ports(count: int, host: str = _LOCALHOST) -> tuple[int, ...]:
    """``count`` distinct TCP ports that are free on ``host`` right now (the OS picks them).

    All sockets are held open until every port is chosen, so the ports differ; another process
    could still take one before MediaMTX binds it, which the start-up check then reports.
    """
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return tuple(s.getsockname()[1] for s in socks)
    finally:
        for s in socks:
            s.close()


def hashed_credential(secret: str) -> str:
    """``sha256:`` + base64(SHA-256(secret)): the hashed form MediaMTX accepts for a login."""
    return "sha256:" + base64.b64encode(hashlib.sha256(secret.encode("utf-8")).digest()).decode()


def _user(
    login: Login, permissions: Iterable[dict[str, str]], ips: list[str], hashed: bool
) -> dict[str, Any]:
    return {
        "user": login.user,
        "pass": hashed_credential(login.password) if hashed else login.password,
        "ips": ips,
        "permissions": list(permissions),
    }


def build_config(
    credentials: Credentials,
    endpoints: Endpoints,
    *,
    log_level: str = "info",
    hashed: bool = True,
) -> dict[str, Any]:
    """The MediaMTX configuration (as a dict) for ``credentials.paths`` at ``endpoints``.

    Passwords are stored hashed; ``hashed=False`` writes them in plain text, only for the
    config of an external server whose logins the twin reads back from it
    (``live.mediamtx.config``): keep such a file 0600 and outside any run folder."""
    if not _node_address(endpoints.host):
        raise MediaServerError(
            f"host {endpoints.host!r} is not allowed for a server the twin starts; expected "
            f"{_LOCALHOST!r} or the IPv4 address of the node it runs on (never 0.0.0.0: RTSP "
            f"listens on one address only)"
        )
    if not endpoints.api_host.startswith("127."):
        raise MediaServerError(
            f"API host {endpoints.api_host!r} is not allowed for a server the twin starts; "
            f"expected a loopback address (the Control API and metrics answer only on the "
            f"server's own machine)"
        )
    h = endpoints.api_host
    users = [
        _user(login, [{"action": "publish", "path": path}], [], hashed)
        for path, login in credentials.publishers
    ]
    users.append(
        _user(
            credentials.recorder,
            [{"action": "read", "path": ""}, {"action": "playback", "path": ""}],
            [],
            hashed,
        )
    )
    users.append(_user(credentials.analyser, [{"action": "read", "path": ""}], [], hashed))
    users.append(_user(credentials.admin, [{"action": "api"}, {"action": "metrics"}], [h], hashed))
    return {
        "logLevel": log_level,
        "logDestinations": ["stdout"],
        "authMethod": "internal",
        "authInternalUsers": users,
        "api": True,
        "apiAddress": f"{h}:{endpoints.api_port}",
        "metrics": True,
        "metricsAddress": f"{h}:{endpoints.metrics_port}",
        "pprof": False,
        "playback": False,
        "rtsp": True,
        "rtspTransports": ["tcp"],
        "rtspEncryption": "no",
        "rtspAddress": f"{endpoints.host}:{endpoints.rtsp_port}",
        "rtspAuthMethods": ["basic"],
        "rtmp": False,
        "hls": False,
        "webrtc": False,
        "srt": False,
        "pathDefaults": {"source": "publisher", "overridePublisher": False, "record": False},
        "paths": {path: {} for path in credentials.paths},
    }


def _node_address(host: str) -> bool:
    """An IPv4 address one interface can hold (loopback 127.x.x.x, or a node's address)."""
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return not (
        ip.is_unspecified or ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255")
    )


def render_config(config: dict[str, Any]) -> str:
    """YAML text of a config from :func:`build_config` (password hashes only; still 0600)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
