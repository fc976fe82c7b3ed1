"""A real headless Chromium (Debian's `chromium`, installed by `make tools`) opening a
report.html offline: a screenshot of the first screen, and what the page itself says about
its images and where its verdict line sits once loaded.

The page is opened from a copy with a small probe script appended (the shipped report has
none of it): on `load` the script writes, into a <pre id="probe">, the images that did not
load (`complete && naturalWidth > 0` is false, inline SVGs without a size) and the verdict
line's box; `--dump-dom` prints the DOM after that. Host resolution is blocked, so a page
that needed the network would show broken images here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["Rendered", "render", "chromium", "WIDTH", "HEIGHT"]

#: A laptop's first screen.
WIDTH, HEIGHT = 1366, 768
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    f"--window-size={WIDTH},{HEIGHT}",
    "--virtual-time-budget=10000",
)

PROBE = """
<pre id="probe"></pre>
<script>
window.addEventListener("load", function () {
  var broken = [], imgs = Array.from(document.images);
  imgs.forEach(function (im) {
    if (!(im.complete && im.naturalWidth > 0)) broken.push(im.alt || im.src.slice(0, 60));
  });
  var svgs = Array.from(document.querySelectorAll("svg"));
  svgs.forEach(function (s) {
    var r = s.getBoundingClientRect();
    if (!(r.width > 0 && r.height > 0)) broken.push("svg " + (s.id || ""));
  });
  var v = document.getElementById("verdict"), box = v ? v.getBoundingClientRect() : null;
  var boxes = {};
  Array.from(document.querySelectorAll("section[id], figure[id], table[id], li[id]")).forEach(
    function (e) { var b = e.getBoundingClientRect(); boxes[e.id] = [b.top, b.bottom]; });
  document.getElementById("probe").textContent = JSON.stringify({
    images: imgs.length, svgs: svgs.length, broken: broken,
    verdict: v ? v.textContent.trim() : null,
    verdict_top: box ? box.top : null, verdict_bottom: box ? box.bottom : null,
    viewport_height: window.innerHeight, boxes: boxes,
    external: Array.from(document.querySelectorAll("[src],link[href]")).map(function (e) {
      return e.getAttribute("src") || e.getAttribute("href"); }).filter(function (u) {
      return !/^data:/.test(u); })
  });
});
</script>
"""


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:  # `make test` installs it; a bare `pytest` on a new machine may not have
        pytest.fail("headless Chromium is missing: run `make tools` (apt package `chromium`)")
    return path


@dataclass(frozen=True, slots=True)
class Rendered:
    screenshot: Path
    images: int
    svgs: int
    broken: list[str]
    verdict: str | None
    verdict_bottom: float | None
    viewport_height: float
    external: list[str]
    dom: str
    boxes: dict[str, list[float]]  # id -> [top, bottom] of each section, figure, table, li

    def starts_on_first_screen(self, element_id: str) -> bool:
        """The element with this id begins within the first screen (no scrolling)."""
        top = self.boxes[element_id][0]
        return 0 <= top < self.viewport_height

    @property
    def verdict_on_first_screen(self) -> bool:
        return self.verdict_bottom is not None and 0 < self.verdict_bottom <= self.viewport_height


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def render(html: Path, out: Path, name: str | None = None) -> Rendered:
    """Open `html` in headless Chromium; the screenshot is kept in `out` (the test's output)."""
    out.mkdir(parents=True, exist_ok=True)
    name = name or html.parent.name
    text = html.read_text(encoding="utf-8")
    probe = html.with_name(f".probe-{html.name}")
    probe.write_text(text.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
    shot = out / f"{name}.png"
    try:
        r = _run([f"--screenshot={shot}", html.resolve().as_uri()], out / f".chromium-{name}-1")
        assert shot.exists(), f"no screenshot of {html}: {r.stderr[-2000:]}"
        d = _run(["--dump-dom", probe.resolve().as_uri()], out / f".chromium-{name}-2")
    finally:
        probe.unlink(missing_ok=True)
        for p in out.glob(f".chromium-{name}-*"):
            shutil.rmtree(p, ignore_errors=True)
    start = d.stdout.find('<pre id="probe">')
    assert start >= 0, f"Chromium printed no DOM for {html}: {d.stderr[-2000:]}"
    body = d.stdout[start + len('<pre id="probe">') : d.stdout.index("</pre>", start)]
    import html as h

    facts = json.loads(h.unescape(body)) if body.strip() else None
    assert facts, f"the probe did not run in {html} (no load event?)"
    return Rendered(
        shot,
        facts["images"],
        facts["svgs"],
        facts["broken"],
        facts["verdict"],
        facts["verdict_bottom"],
        facts["viewport_height"],
        facts["external"],
        d.stdout,
        facts["boxes"],
    )
