"""Property: every broken variant of a shipped scenario is refused cleanly.

Hypothesis takes a shipped scenario and breaks it one way: a value of the wrong type, a sign
flipped, a key no section has, a key given twice, a value far past any real deployment, or
YAML that does not parse. Whatever it picks, `twin simulate` must exit 2 within seconds,
print no traceback, name the file, and leave no output folder and no temporary folder.

Each mutation is wrong by construction (the class says why), so an accepted one is a hole
in the schema, not a flaky test.
"""

from __future__ import annotations

import copy
import math
import re
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.cli.main import main
from twin.metrics import METRICS

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted(
    (ROOT / "scenarios" / "variants").glob("*.yaml")
)


def _standalone(p: Path) -> str:
    """The file's text; an overlay (a variant naming its `base:`) merged into a scenario that
    stands alone, so a mutation breaks the scenario and not merely the path to its base."""
    text = p.read_text()
    if not re.search(r"^base:", text, re.M):
        return text
    from twin.scenario.model import scenario_data

    return yaml.safe_dump(scenario_data(p)[0], sort_keys=False)


TEXTS = {p.name: _standalone(p) for p in SHIPPED}
DATA = {name: yaml.safe_load(text) for name, text in TEXTS.items()}
HUGE = (1e300, 10**40, 10**20)  # 10**20: past even the seed's 2**64


def leaves(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every scalar in a parsed scenario."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in leaves(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in leaves(v, (*path, i))]
    return [path]


def mappings(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every mapping (the top level too)."""
    out = [path] if isinstance(node, dict) else []
    if isinstance(node, dict):
        out += [p for k, v in node.items() for p in mappings(v, (*path, k))]
    elif isinstance(node, list):
        out += [p for i, v in enumerate(node) for p in mappings(v, (*path, i))]
    return out


def get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


def put(node: Any, path: tuple, value: Any) -> None:
    get(node, path[:-1])[path[-1]] = value


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def huge_is_wrong(path: tuple) -> bool:
    """A huge bound on a count (`max: 1e300` segments) is loose but means something: only a
    metric whose domain has an upper end (a share, a ratio, a flag) refuses it."""
    if path and path[0] == "targets":
        return math.isfinite(METRICS[path[1]].hi)
    return True


def key_lines(text: str) -> list[int]:
    """0-based lines that start with a mapping key (not a list item's first key, not text
    inside a scalar): duplicating one repeats a key in its mapping."""
    out = []
    lines = text.splitlines()

    def walk(n: yaml.Node) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                line = lines[k.start_mark.line]
                if len(line) - len(line.lstrip()) == k.start_mark.column:
                    out.append(k.start_mark.line)
                walk(v)
        elif isinstance(n, yaml.SequenceNode):
            for v in n.value:
                walk(v)

    walk(yaml.compose(text))
    return sorted(set(out))


@st.composite
def broken(draw) -> tuple[str, str, str]:
    """(scenario name, broken YAML text, what was done)."""
    name = draw(st.sampled_from(sorted(TEXTS)))
    data = copy.deepcopy(DATA[name])
    kind = draw(st.sampled_from(["type", "sign", "unknown_key", "duplicate_key", "huge", "yaml"]))
    if kind == "type":
        path = draw(st.sampled_from(leaves(data)))
        old = get(data, path)
        choices: list[Any] = [[1, 2], {"x": 1}]
        if isinstance(old, str):
            choices.append(-7)
        elif is_number(old):  # a bool or a quoted number is not a number either
            choices += ["abc", True, str(old)]
        else:
            choices.append("abc")
        put(data, path, draw(st.sampled_from(choices)))
    elif kind == "sign":
        paths = [p for p in leaves(data) if is_number(get(data, p)) and get(data, p) > 0]
        path = draw(st.sampled_from(paths))
        put(data, path, -get(data, path))
    elif kind == "huge":
        paths = [p for p in leaves(data) if is_number(get(data, p)) and huge_is_wrong(p)]
        path = draw(st.sampled_from(paths))
        put(data, path, draw(st.sampled_from(HUGE)))
    elif kind == "unknown_key":
        path = draw(st.sampled_from(mappings(data)))
        get(data, path)["bogus_field"] = 1
    else:
        text = TEXTS[name]
        lines = text.splitlines()
        if kind == "duplicate_key":
            i = draw(st.sampled_from(key_lines(text)))
            lines.insert(i + 1, lines[i])
        else:
            i = draw(st.integers(0, len(lines)))
            lines.insert(
                i, draw(st.sampled_from(["{broken: [", "key: 'unclosed", "\tseed: 1", "- : - :"]))
            )
        return name, "\n".join(lines) + "\n", f"{kind} at line {i + 1}"
    return name, yaml.safe_dump(data, sort_keys=False), f"{kind} at {path}"


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=broken())
def test_every_broken_shipped_scenario_is_refused_cleanly(case, tmp_path, capsys):
    name, text, what = case
    p = tmp_path / f"broken-{name}"
    p.write_text(text)
    out = tmp_path / "out"
    t0 = time.perf_counter()
    try:
        code = main(["simulate", str(p), "--out", str(out), "--quiet"])
    except SystemExit as exc:
        code = int(exc.code)
    wall = time.perf_counter() - t0
    cap = capsys.readouterr()
    said = " ".join((cap.out + cap.err).split())
    assert code == 2, f"{name}, {what}: exit {code}: {said}"
    assert "Traceback" not in said, said
    assert p.name in said, said
    assert wall < 5, f"{name}, {what}: {wall:.1f} s"
    assert not out.exists()
    assert not [q for q in tmp_path.iterdir() if ".partial-" in q.name]


def test_the_mutations_reach_every_section_of_the_shipped_scenarios():
    """The property is only as good as its corpus: it must see faults, failover, evidence,
    live, costs and targets, in files of every kind."""
    sections = {k for d in DATA.values() for k in d}
    assert {
        "faults",
        "failover",
        "evidence",
        "live",
        "costs",
        "targets",
        "city",
        "recorders",
    } <= sections
    assert len(SHIPPED) >= 15
    for text in TEXTS.values():
        assert key_lines(text)
        assert re.search(r"^\w+:", text, re.M)
