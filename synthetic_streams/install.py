"""Build the MediaMTX server from its Go module: ``python -m synthetic_streams.install``.

Theory of operation. ``go install github.com/bluenviron/mediamtx@VERSION`` cannot work: the
module embeds two files that its release process generates and the module zip does not hold,
``internal/core/VERSION`` and ``internal/servers/hls/hls.min.js`` (from the npm package hls.js).
So the build is done by hand, each step idempotent:

1. ``go mod download -json`` fetches the pinned module into the (read-only) module cache;
2. its tree is copied into a writable directory under ``.cache/mediamtx/<version>/``;
3. ``internal/core/VERSION`` is written, and ``hls.min.js`` is taken from ``npm pack`` of the
   pinned hls.js release, checked against its pinned npm integrity hash;
4. ``go build`` (CGO off, so the binary is static) writes ``.cache/mediamtx/<version>/mediamtx``.

Nothing of MediaMTX is committed. When the binary is already there and answers ``--version``,
nothing is done. ``CCTV_TWIN_MEDIAMTX_BIN`` points the twin at an existing binary instead (a
distribution package, or one copied out of the official container) and skips the build.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from synthetic_streams.errors import MediaServerError

__all__ = [
    "MEDIAMTX_MODULE",
    "MEDIAMTX_VERSION",
    "HLSJS_VERSION",
    "BIN_ENV_VAR",
    "default_binary_path",
    "mediamtx_binary",
    "install_mediamtx",
    "main",
]

MEDIAMTX_MODULE = "github.com/bluenviron/mediamtx"
#: Pinned MediaMTX release (October 2025).
MEDIAMTX_VERSION = "v1.15.3"
#: The hls.js release this MediaMTX expects (its internal/servers/hls/hlsjsdownloader/VERSION).
HLSJS_VERSION = "1.6.13"
#: npm's integrity hash of hls.js-1.6.13.tgz; a different tarball is refused.
HLSJS_INTEGRITY = (
    "sha512-"
    "hNEzjZNHf5bFrUNvdS4/1RjIanuJ6szpWNfTaX5I6WfGynWXGT7K/YQLYtemSvFExzeMdgdE4SsyVLJbd5PcZA=="
)
#: Environment variable naming an existing MediaMTX binary; the build is then skipped.
BIN_ENV_VAR = "CCTV_TWIN_MEDIAMTX_BIN"

_REPO_ROOT = Path(__file__).resolve().parents[1]
_CACHE_DIR = _REPO_ROOT / ".cache" / "mediamtx"


def default_binary_path(version: str = MEDIAMTX_VERSION) -> Path:
    """Where :func:`install` puts the binary: ``.cache/mediamtx/<version>/mediamtx``."""
    return _CACHE_DIR / version / "mediamtx"


def _binary_version(binary: Path) -> str | None:
    """The version the binary reports, or None when it is missing or does not run."""
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return None
    try:
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def mediamtx_binary() -> Path:
    """The MediaMTX binary to run: ``$CCTV_TWIN_MEDIAMTX_BIN`` if set, else the built one.

    Raises MediaServerError naming the path and the fix when there is none.
    """
    override = os.environ.get(BIN_ENV_VAR)
    if override:
        path = Path(override).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise MediaServerError(
                f"{BIN_ENV_VAR}={override!r} is not an executable file; expected the path of a "
                f"MediaMTX binary: fix the variable, or unset it and run `make mediamtx`"
            )
        return path
    path = default_binary_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise MediaServerError(
            f"MediaMTX binary not found at {path}; expected the {MEDIAMTX_VERSION} build: run "
            f"`make mediamtx` (or set {BIN_ENV_VAR} to an existing MediaMTX binary)"
        )
    return path


def _say(message: str) -> None:
    print(f"[mediamtx] {message}", flush=True)


def _run(cmd: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a command; on failure raise MediaServerError with the command line and its stderr."""
    try:
        done = subprocess.run(
            list(cmd), cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
    except FileNotFoundError as exc:
        raise MediaServerError(
            f"command failed: {' '.join(cmd)}\n{cmd[0]!r} is not installed or not on PATH "
            f"({exc}); install it (Go >= 1.25 and npm are needed to build MediaMTX)"
        ) from exc
    if done.returncode != 0:
        where = f" (in {cwd})" if cwd else ""
        raise MediaServerError(
            f"command failed with exit status {done.returncode}{where}: {' '.join(cmd)}\n"
            f"--- stderr ---\n{done.stderr.strip()}\n--- stdout (tail) ---\n"
            f"{done.stdout.strip()[-2000:]}"
        )
    return done.stdout


def _copy_module(module_dir: Path, dest: Path) -> None:
    """Copy the read-only module tree into a writable directory."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(module_dir, dest, copy_function=shutil.copyfile)
    for root, _dirs, files in os.walk(dest):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def _fetch_hlsjs(dest: Path) -> None:
    """Write hls.js's dist/hls.min.js, from the pinned npm tarball, to ``dest``."""
    with tempfile.TemporaryDirectory(prefix="cctv-twin-hlsjs-") as tmp:
        out = _run(
            ["npm", "pack", f"hls.js@{HLSJS_VERSION}", "--pack-destination", tmp, "--json"],
            cwd=Path(tmp),
        )
        tgz = Path(tmp) / json.loads(out)[0]["filename"]
        algo, _, want = HLSJS_INTEGRITY.partition("-")
        got = base64.b64encode(hashlib.new(algo, tgz.read_bytes()).digest()).decode()
        if got != want:
            raise MediaServerError(
                f"hls.js {HLSJS_VERSION} tarball {tgz.name} has integrity {algo}-{got}; expected "
                f"{HLSJS_INTEGRITY}: the registry served a different file, do not build with it"
            )
        with tarfile.open(tgz) as tar:
            member = tar.extractfile("package/dist/hls.min.js")
            if member is None:
                raise MediaServerError(
                    f"{tgz.name} has no package/dist/hls.min.js; expected hls.js's build output"
                )
            dest.write_bytes(member.read())


def install_mediamtx(*, force: bool = False) -> Path:
    """Build MediaMTX (or find it) and return the binary's path; idempotent.

    Raises MediaServerError, naming the failing command and its stderr, when a step fails.
    """
    override = os.environ.get(BIN_ENV_VAR)
    if override:
        binary = mediamtx_binary()
        version = _binary_version(binary)
        if version is None:
            raise MediaServerError(
                f"{BIN_ENV_VAR}={override!r} does not answer `--version`; expected a MediaMTX "
                f"binary: point the variable at one, or unset it and run `make mediamtx`"
            )
        _say(f"using {binary} ({version}) from {BIN_ENV_VAR}; not building")
        return binary

    binary = default_binary_path()
    if not force and _binary_version(binary) == MEDIAMTX_VERSION:
        _say(f"{binary} ({MEDIAMTX_VERSION}) is already built")
        return binary

    started = time.monotonic()
    work = binary.parent
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CGO_ENABLED="0")

    _say(f"downloading Go module {MEDIAMTX_MODULE}@{MEDIAMTX_VERSION}")
    info = json.loads(
        _run(
            ["go", "mod", "download", "-json", f"{MEDIAMTX_MODULE}@{MEDIAMTX_VERSION}"],
            cwd=work,
            env=env,
        )
    )
    if info.get("Error") or not info.get("Dir"):
        raise MediaServerError(
            f"go mod download of {MEDIAMTX_MODULE}@{MEDIAMTX_VERSION} gave no module directory: "
            f"{info.get('Error', info)}; check that the Go module proxy is reachable"
        )

    src = work / "src"
    _say(f"copying module source to {src}")
    _copy_module(Path(info["Dir"]), src)

    expected_hlsjs = (src / "internal/servers/hls/hlsjsdownloader/VERSION").read_text().strip()
    if expected_hlsjs.lstrip("v") != HLSJS_VERSION:
        raise MediaServerError(
            f"MediaMTX {MEDIAMTX_VERSION} expects hls.js {expected_hlsjs}, but HLSJS_VERSION is "
            f"{HLSJS_VERSION}: update HLSJS_VERSION and HLSJS_INTEGRITY in {__file__}"
        )
    (src / "internal/core/VERSION").write_text(MEDIAMTX_VERSION)
    _say(f"fetching hls.js {HLSJS_VERSION} from npm")
    _fetch_hlsjs(src / "internal/servers/hls/hls.min.js")

    _say("downloading MediaMTX's dependencies (go mod download)")
    _run(["go", "mod", "download"], cwd=src, env=env)
    _say("building (go build; about 1.5 min on 2 cores with cold Go caches)")
    partial = work / "mediamtx.partial"
    _run(["go", "build", "-trimpath", "-o", str(partial), "."], cwd=src, env=env)
    partial.replace(binary)

    version = _binary_version(binary)
    if version != MEDIAMTX_VERSION:
        raise MediaServerError(
            f"built {binary} reports version {version!r}; expected {MEDIAMTX_VERSION}: "
            f"delete {work} and run `make mediamtx` again"
        )
    _say(f"built {binary} ({version}) in {time.monotonic() - started:.0f} s")
    return binary


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m synthetic_streams.install [--force]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    unknown = [a for a in args if a != "--force"]
    if unknown:
        print(
            f"unknown argument(s) {unknown}; usage: python -m synthetic_streams.install [--force]",
            file=sys.stderr,
        )
        return 2
    try:
        install_mediamtx(force="--force" in args)
    except MediaServerError as exc:
        print(f"[mediamtx] build failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
