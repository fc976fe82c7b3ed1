"""The README's commands run as written, and it stays a ten-minute read.

Every fenced block of README.md is taken in order, as a reader would type it, in a scratch
folder holding a copy of `scenarios/` (so the README's own files land there, not in the
repository) and the repository's `.venv`:

- a ```yaml block marked `<!-- readme-test: file PATH -->` is written to PATH (the first
  scenario, a variant as an overlay); an unmarked one must at least parse;
- a ```sh block runs command by command (a `\\` continues a line); each must exit 0, or the
  code its comment names ("(exit 1)");
- a block marked `<!-- readme-test: needs ... -->` is skipped, and the mark must name Ray or
  MediaMTX: nothing else may excuse a block from running;
- the set-up block, marked `<!-- readme-test: dry-run -->`, is checked with `make -n` (its
  commands install, and `make test` runs this very test).

The prose that quotes the twin's own words (a typo's message, the fix a failed run prints)
is checked against what the twin says.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_LINES = 200
MARK = re.compile(r"^<!-- readme-test: (.*?) -->$")


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    mark: str  # "" when unmarked
    line: int  # the fence's line in README.md


def blocks(text: str) -> list[Block]:
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = MARK.match(prev.strip())
        out.append(Block(m[1], "\n".join(body) + "\n", mark[1] if mark else "", start + 1))
        i += 1
    return out


def commands(body: str) -> list[str]:
    """Shell commands of a block, continuation lines joined, blank lines dropped."""
    out: list[str] = []
    pending = ""
    for line in body.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        cmd = (pending + line).strip()
        pending = ""
        if cmd and not cmd.startswith("#"):
            out.append(cmd)
    return out


def expected_exit(cmd: str) -> int:
    comment = cmd.partition("#")[2]
    m = re.search(r"\(exit (\d+)\)", comment)
    return int(m[1]) if m else 0


def test_the_readme_is_a_ten_minute_read():
    n = len(README.read_text().splitlines())
    assert n <= MAX_LINES, f"README.md has {n} lines; move detail to docs/ (at most {MAX_LINES})"


def test_every_skipped_block_needs_ray_or_mediamtx():
    for b in blocks(README.read_text()):
        if b.mark.startswith("needs"):
            assert re.search(r"\b(Ray|MediaMTX)\b", b.mark), (b.line, b.mark)
        else:
            assert b.mark == "" or b.mark.startswith(("file ", "dry-run")), (b.line, b.mark)


def test_every_readme_command_block_that_needs_no_ray_or_mediamtx_runs_as_written(tmp_path):
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    ran: list[str] = []
    said: dict[str, str] = {}
    for b in blocks(README.read_text()):
        if b.mark.startswith("needs"):
            continue
        if b.mark.startswith("file "):
            target = tmp_path / b.mark.removeprefix("file ").strip()
            target.write_text(b.body)
            continue
        if b.lang == "yaml":
            yaml.safe_load(b.body)  # a snippet of a scenario: still valid YAML
            continue
        if b.lang != "sh":
            continue
        for cmd in commands(b.body):
            if b.mark.startswith("dry-run"):
                assert cmd.startswith("make "), cmd
                argv, cwd, want = ["make", "-n", cmd.split()[1]], ROOT, 0
            else:
                argv, cwd, want = ["bash", "-c", cmd], tmp_path, expected_exit(cmd)
            proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
            assert proc.returncode == want, (
                f"README line {b.line}: `{cmd}` exited {proc.returncode}, expected {want}\n"
                f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            )
            assert "Traceback" not in proc.stderr, cmd
            ran.append(cmd)
            said[cmd] = proc.stdout
    assert len(ran) >= 6, ran  # the set-up, the first scenario, a comparison, a drill

    # The README quotes the twin: what the failed first run says would fix it ...
    text = " ".join(README.read_text().split())
    quoted = re.search(r'"What would fix it: (Disk: about .*?)"', text)
    assert quoted, "the README no longer quotes the first run's fix"
    first_run = next(out for cmd, out in said.items() if "(exit 1)" in cmd)
    assert quoted[1] in " ".join(first_run.split()), (quoted[1], first_run)

    # ... and what a typo in the first scenario gets
    typo = re.search(
        r"`(line \d+, column \d+: field camera_profiles\[0\]\.bitrate_mpbs: [^`]*)`", text
    )
    assert typo, "the README no longer quotes a typo's message"
    (tmp_path / "typo.yaml").write_text(
        (tmp_path / "my-first.yaml").read_text().replace("bitrate_mbps: 4", "bitrate_mpbs: 4")
    )
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "twin"), "validate", "typo.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and typo[1] in " ".join(proc.stdout.split()), proc.stdout


@pytest.mark.parametrize(
    "link",
    sorted(set(re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)(?:#[\w-]+)?\)", README.read_text()))),
)
def test_every_page_the_readme_links_exists(link):
    assert (ROOT / link).is_file(), link
