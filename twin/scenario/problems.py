"""A scenario's validation errors, said the way a user fixes them.

Theory of operation
-------------------
pydantic reports what its model saw: a typo `bitrate_mpbs` is two errors, "Field required"
(with the whole profile as the input) and "Extra inputs are not permitted", and neither says
where in the file. Here each error becomes one line a user can act on:

- its place in the file: the YAML is composed again (only when there are errors, so a valid
  scenario costs nothing) and the error's path walked through the nodes, giving the line and
  column of the value (of the key, for an unknown field; of the mapping that lacks it, for a
  missing one). A path the file does not hold (a field an overlay's base gave) gets none;
- its field path as written in the file: pydantic's discriminator tags (`recorder_crash`,
  `balanced`...), union members (`list[str]`) and `[key]` are dropped;
- an unknown field is matched against the fields its section has (twin.suggest): "did you
  mean bitrate_mbps?", and the "missing" error of that same field is folded into it, so a
  typo is one problem, not two. Without a near name the section's fields are listed;
- a missing field is named with its description, never with the mapping dumped;
- a value outside its range carries the field's description (it says the range and why);
  a wrong tag or literal (`type: n_plus1`, `codec: h256`) gets the near valid one.

The walk goes down the model classes beside the YAML nodes, so it needs the root model
(`Scenario`), given by the caller: this module imports no other part of the schema.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from twin.suggest import closest, did_you_mean

__all__ = ["format_problems"]

Loc = tuple[int | str, ...]

_RANGE_ERRORS = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "finite_number",
}
# Parts pydantic puts in a path that are not in the file: a union member's type, a dict key's
# own check.
_TYPE_TAG = re.compile(r"^(\[key\]|[a-z-]+\[.*\]|str|int|float|bool|none|date|list|dict)$")


def _members(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation can hold (through Optional, list, dict, Annotated, Union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        out += _members(arg)
    return out


class _Step:
    """One part of an error path, read against the model: what it is and what it means."""

    __slots__ = ("part", "shown", "models", "description")

    def __init__(
        self, part: int | str, shown: bool, models: list[type[BaseModel]], description: str | None
    ) -> None:
        self.part = part
        self.shown = shown  # a field, an index or a dict key: in the file and in the message
        self.models = models  # the models the value at this part may be
        self.description = description  # the field's description, if the part is a field


def _walk(root: type[BaseModel], loc: Loc) -> list[_Step]:
    models: list[type[BaseModel]] = [root]
    steps: list[_Step] = []
    for part in loc:
        if isinstance(part, int):
            steps.append(_Step(part, True, models, None))
            continue
        tagged = [
            m for m in models if "type" in m.model_fields and m.model_fields["type"].default == part
        ]
        if tagged:  # a discriminated union's tag: pydantic's, not the file's
            models = tagged
            steps.append(_Step(part, False, models, None))
            continue
        hit = next((m.model_fields[part] for m in models if part in m.model_fields), None)
        if hit is not None:
            models = _members(hit.annotation)
            steps.append(_Step(part, True, models, hit.description))
        elif _TYPE_TAG.match(part):
            steps.append(_Step(part, False, models, None))
        else:  # a dict key (a district, a metric, a site kind): the value's models stay
            steps.append(_Step(part, True, models, None))
    return steps


def _path_text(parts: list[int | str]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _fields(models: list[type[BaseModel]]) -> list[str]:
    return sorted({f for m in models for f in m.model_fields})


# -- where in the file ---------------------------------------------------------------------------
def _compose(source: str) -> yaml.Node | None:
    """The file's YAML node tree (positions only, nothing constructed), or None if `source`
    is not a readable file (a scenario built in memory, an overlay's merged data)."""
    # `source` names the file, perhaps with more after it: a sweep's point (`#...`), an
    # overlay's base ("x.yaml (an overlay of ...)"); a field the base gave has no line here.
    named = re.match(r"^(.*?\.ya?ml)(?=$|[#\s])", source)
    path = Path(named[1] if named else source.partition("#")[0])
    try:
        if not path.is_file() or path.stat().st_size > 1_000_000:
            return None
        text = path.read_text(encoding="utf-8")
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return None


def _find(
    root: yaml.Node | None, parts: list[int | str]
) -> tuple[yaml.Node | None, yaml.Node | None]:
    """(key node, value node) at `parts` in the tree; (None, None) if the file lacks it."""
    node, key = root, None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            pair = next(
                (
                    (k, v)
                    for k, v in node.value
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part)
                ),
                None,
            )
            if pair is None:
                return None, None
            key, node = pair
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            key, node = None, node.value[part]
        else:
            return None, None
    return key, node


def _at(node: yaml.Node | None) -> str:
    if node is None:
        return ""
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}: "


_INDEX = re.compile(r"\[\d+\]")


def _fold_items(lines: list[str]) -> list[str]:
    """One line for a problem repeated in every item of a list (an overlay's `name: '*'`
    gives every pool the same typo): the first, and how many more items have it."""
    groups: dict[str, list[str]] = {}
    for line in lines:
        key = _INDEX.sub("[]", _PLACE.sub("  - ", line))
        groups.setdefault(key, []).append(line)
    out = []
    for same in groups.values():
        more = len(same) - 1
        out.append(
            same[0] + (f" (the same in {more} more item{'s' if more > 1 else ''})" if more else "")
        )
    return out


_NAMED = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\]|\.[A-Za-z_]\w*)*)[: ]")


def _parse_path(text: str) -> list[int | str]:
    """'faults[0].recorder' -> ['faults', 0, 'recorder']."""
    return [int(p) if p.isdigit() else p for p in re.findall(r"[A-Za-z_]\w*|\d+", text)]


_PLACE = re.compile(r"^  - line (\d+), column (\d+): ")


def _line_order(line: str) -> tuple[float, float]:
    m = _PLACE.match(line)
    return (int(m[1]), int(m[2])) if m else (float("inf"), 0)


# -- the message ---------------------------------------------------------------------------------
def _value(v: Any) -> str:
    shown = json.dumps(v, default=str)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _first_sentence(text: str | None) -> str:
    if not text:
        return ""
    head = re.split(r"(?<=[a-z)])\. ", text.strip(), maxsplit=1)[0].rstrip(".")
    return f" ({head})"


def _options(expected: str) -> list[str]:
    return re.findall(r"'([^']*)'", expected)


def format_problems(source: str, err: ValidationError, root: type[BaseModel]) -> str:
    """One line per problem, each with its place in the file, its field path and the fix."""
    tree = _compose(source)
    errors = err.errors()
    # A typo is an unknown field beside a missing one of a near name: one problem, said once.
    missing = {tuple(e["loc"]) for e in errors if e["type"] == "missing"}
    folded: set[tuple[int | str, ...]] = set()
    for e in errors:
        if e["type"] == "extra_forbidden" and isinstance(e["loc"][-1], str):
            parent = tuple(e["loc"][:-1])
            near = closest(e["loc"][-1], [str(m[-1]) for m in missing if m[:-1] == parent])
            if near is not None:
                folded.add((*parent, near))
    lines: list[str] = []
    for e in errors:
        loc: Loc = tuple(e["loc"])
        if e["type"] == "missing" and loc in folded:
            continue
        value = e.get("input")
        steps = _walk(root, loc)
        shown = [s.part for s in steps if s.shown]
        file_parts = list(shown)
        if e["type"] == "not_a_number":  # a model-level check: it names the field it found
            sub = str(e["ctx"]["field"])
            shown.append(sub)
            file_parts += [int(p) if p.isdigit() else p for p in sub.split(".")]
            value = e["ctx"]["value"]
        name = _path_text(shown)
        if e["type"] == "missing":
            key, node = _find(tree, file_parts[:-1])
            lines.append(
                f"  - {_at(node)}field {name}: missing; add it"
                f"{_first_sentence(steps[-1].description)}"
            )
        elif e["type"] == "extra_forbidden":
            key, node = _find(tree, file_parts)
            typo = str(loc[-1])
            known = _fields(steps[-2].models if len(steps) > 1 else [root])
            near = closest(typo, known)
            if near is not None:
                fix = f"did you mean {near}?"
                if (*loc[:-1], near) in folded:
                    fix += f" ({near} is required and not given)"
            else:
                fix = f"expected one of: {', '.join(known)}"
            lines.append(f"  - {_at(key)}field {name}: unknown field; {fix}")
        elif loc and loc[-1] == "[key]":  # a dict key refused on its own (a target's metric name)
            key, node = _find(tree, file_parts)
            lines.append(f"  - {_at(key)}field {name}: {e['msg']}")
        elif e["type"] == "value_error" and isinstance(value, (dict, list)):
            # A check of a whole section: its message names what is wrong; the section
            # itself is not dumped. At the top level, the field the message starts with
            # (`faults[0].recorder: ...`) gives the place in the file.
            msg = str(e["msg"]).removeprefix("Value error, ")
            named = _NAMED.match(msg)
            key, node = _find(tree, _parse_path(named[1]) if named and not shown else file_parts)
            lines.append(f"  - {_at(node)}" + (f"field {name}: " if shown else "") + msg)
        else:
            key, node = _find(tree, file_parts)
            line = f"  - {_at(node)}field {name}: got {_value(value)}: {e['msg']}"
            if e["type"] in _RANGE_ERRORS:
                why = next((s.description for s in reversed(steps) if s.description), None)
                if why:
                    line += f" ({why.rstrip('.')})"
            elif e["type"] == "union_tag_invalid":
                line += did_you_mean(str(e["ctx"]["tag"]), _options(str(e["ctx"]["expected_tags"])))
            elif e["type"] == "literal_error" and isinstance(value, str):
                line += did_you_mean(value, _options(str(e["ctx"]["expected"])))
            lines.append(line)
    lines = _fold_items(lines)
    # In the order of the file, as an editor shows it; problems with no place in it last.
    lines.sort(key=_line_order)
    head = f"{source}: {len(lines)} problem(s) in the scenario:"
    return "\n".join(
        [
            head,
            *lines,
            "Fix the fields named above; `twin schema` prints the JSON Schema for editors.",
        ]
    )
