"""Overlays: a scenario that names a base and says only what differs from it.

Theory of operation
-------------------
A scenario file with a top-level `base: PATH` (relative to the file) is an overlay. Its base
is read first (itself perhaps an overlay: chains of bases work), then the overlay is merged
into it, and the merged scenario is validated whole, as if it had been written out in full.
`base:` itself never reaches the model, so the merged scenario's canonical JSON (and its
SHA-256 in results.json) is that of the same scenario written out in full.

The merge rule, the one place it is written down (docs/scenarios-overlays.md quotes it):

1. A section (mapping) merges key by key: a key the overlay gives replaces the base's value,
   or, when both are sections or lists, merges into it by these rules; a key the overlay
   does not give keeps the base's value.
2. A list of named things (every item of the base's list a mapping with a `name:`, or for
   faults a `label:`: districts, camera profiles, recorder pools, workloads, fault groups)
   merges by name: an overlay item with the name of a base item merges into that item (so
   `- {name: Wan Chai, sets: 250}` changes one field of one district), an item with a new
   name is added at the end, and `- !delete Wan Chai` removes the base's item of that name;
   an item named `*` merges into every item (`- {name: '*', disk_tb: 262}`: every pool).
   Any other list (a pool's districts, roll-out steps, unlabelled faults) is replaced whole.
3. `key: !delete` removes the base's field; `key: !replace ...` gives a list or section whole
   instead of merging it (one central pool in place of eighteen district pools).
4. A path in a base (`calibration:`) stays relative to the base's file: it is rewritten
   relative to the overlay's folder as the base is merged, so the merged scenario names the
   same file.

A missing base, a loop of bases, `!delete` of something the base does not have and an
overlay item without a name in a named list are errors naming the file, the field and the
fix (exit 2). `--set PATH=VALUE` (`apply_sets`) changes one field of the merged scenario
for one run; a path the scenario schema does not have is refused with the nearest one it has.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel

from twin.errors import ScenarioError
from twin.scenario.loader import Delete, Replace, loads_yaml, read_yaml

__all__ = [
    "BASE_KEY",
    "MAX_BASES",
    "Composed",
    "compose",
    "merge",
    "apply_sets",
    "set_source",
    "flatten",
    "differences",
    "show_yaml",
]

BASE_KEY = "base"
#: Longest chain of bases: a deployment, its variant, a variant of that... 16 is past any use.
MAX_BASES = 16
#: Fields that relate a scenario to its own file: rewritten relative to an overlay's folder.
PATH_FIELDS = ("calibration",)


@dataclass(frozen=True, slots=True)
class Composed:
    """A scenario file's data with its bases merged in (plain data, not validated)."""

    data: Any
    files: tuple[Path, ...]  # the file itself first, then its base, its base's base...

    @property
    def source(self) -> str:
        """The file, and its bases when it has any: what an error message names."""
        if len(self.files) == 1:
            return str(self.files[0])
        return f"{self.files[0]} (an overlay of " + " over ".join(map(str, self.files[1:])) + ")"


def _ident(item: Any) -> str | None:
    """The name an item of a named list goes by: `name:`, else (faults) `label:`."""
    if not isinstance(item, dict):
        return None
    for key in ("name", "label"):
        v = item.get(key)
        if isinstance(v, str) and v:
            return v
    return None


def _is_named(items: list[Any]) -> bool:
    names = [_ident(i) for i in items]
    return bool(items) and None not in names and len(set(names)) == len(names)


def _loc(path: str) -> str:
    return path or "(top level)"


def _plain(value: Any, path: str, source: str) -> Any:
    """`value` with every marker resolved where nothing is merged: `!replace` is its value,
    `!delete` is an error (there is nothing to remove)."""
    if isinstance(value, Replace):
        return _plain(value.value, path, source)
    if isinstance(value, Delete):
        raise ScenarioError(
            f"{source}: field {_loc(path)}: !delete removes a field or named item of the base, "
            "but there is none here to remove; remove the line (or name the base with "
            f"`{BASE_KEY}:` if this file is meant to be an overlay)"
        )
    if isinstance(value, dict):
        return {k: _plain(v, f"{path}.{k}" if path else str(k), source) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, f"{path}[{i}]", source) for i, v in enumerate(value)]
    return value


def merge(base: Any, over: Any, path: str = "", source: str = "<overlay>") -> Any:
    """`over` merged into `base` by the rule of the module doc; neither is changed."""
    if isinstance(over, Replace):
        return _plain(over.value, path, source)
    if isinstance(over, dict) and isinstance(base, dict):
        out = dict(base)
        for key, value in over.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(value, Delete):
                if value.name is not None:
                    raise ScenarioError(
                        f"{source}: field {here}: `!delete {value.name}` names an item, which "
                        f"only a list has; write `{key}: !delete` to remove the field"
                    )
                if key not in out:
                    close = difflib.get_close_matches(str(key), [str(k) for k in out], n=1)
                    raise ScenarioError(
                        f"{source}: field {here}: !delete of a field the base does not have"
                        + (
                            f"; did you mean {close[0]!r}?"
                            if close
                            else f"; the base has {sorted(map(str, out))}"
                        )
                    )
                del out[key]
            elif key in out:
                out[key] = merge(out[key], value, here, source)
            else:
                out[key] = _plain(value, here, source)
        return out
    if isinstance(over, list) and isinstance(base, list) and _is_named(base):
        return _merge_named(base, over, path, source)
    return _plain(over, path, source)


def _merge_named(base: list[Any], over: list[Any], path: str, source: str) -> list[Any]:
    out = list(base)
    names = [_ident(i) for i in base]
    for j, item in enumerate(over):
        here = f"{path}[{j}]"
        if isinstance(item, Delete):
            if item.name is None or item.name not in names:
                raise ScenarioError(
                    f"{source}: field {here}: `!delete {item.name or ''}` names no item of the "
                    f"base's {path}; expected one of {[n for n in names if n is not None]}"
                )
            i = names.index(item.name)
            del out[i], names[i]
            continue
        if isinstance(item, Replace):
            item = item.value
        name = _ident(item)
        if name == "*":  # every item of the base's list
            key = "name" if item.get("name") == "*" else "label"
            change = {k: v for k, v in item.items() if k != key}
            out = [merge(x, change, f"{path}.{n}", source) for x, n in zip(out, names)]
            continue
        if name is None:
            raise ScenarioError(
                f"{source}: field {here}: the base's {path} is a list of named items, merged "
                "by name, and this item has no name: (or label:); give it the name of the item "
                f"it changes or adds, or write `{path.rsplit('.', 1)[-1]}: !replace [...]` to "
                "give the whole list"
            )
        if name in names:
            i = names.index(name)
            out[i] = merge(out[i], item, f"{path}.{name}", source)
        else:
            out.append(_plain(item, f"{path}.{name}", source))
            names.append(name)
    return out


def _rebase(data: dict[str, Any], base_dir: Path, into: Path) -> None:
    """Rewrite the base's own file paths relative to the overlay's folder, in place."""
    for key in PATH_FIELDS:
        v = data.get(key)
        if isinstance(v, str) and v and not Path(v).is_absolute():
            data[key] = Path(os.path.relpath(base_dir / v, into)).as_posix()


def compose(path: str | Path) -> Composed:
    """Read a scenario file and merge in its chain of bases (bounded, strict YAML each)."""
    return _compose(Path(path), ())


def _compose(p: Path, seen: tuple[Path, ...]) -> Composed:
    data = read_yaml(p)
    if not isinstance(data, dict) or BASE_KEY not in data:
        return Composed(_plain(data, "", str(p)), (p,))
    data = dict(data)
    ref = data.pop(BASE_KEY)
    if not isinstance(ref, str) or not ref.strip():
        raise ScenarioError(
            f"{p}: field {BASE_KEY}: got {json.dumps(ref, default=str)}: "
            f"expected the path of the base scenario file, relative to {p}, "
            f"e.g. `{BASE_KEY}: ../city-7000.yaml`"
        )
    bpath = Path(os.path.normpath(p.parent / ref))
    chain = (*seen, p)
    here = [os.path.realpath(f) for f in chain]
    if os.path.realpath(bpath) in here:
        loop = " -> ".join(str(f) for f in (*chain[here.index(os.path.realpath(bpath)) :], bpath))
        raise ScenarioError(
            f"{p}: field {BASE_KEY}: {ref} makes a loop of bases ({loop}); a "
            f"scenario cannot be its own base: point {p}'s {BASE_KEY}: at a full "
            "scenario, or remove it"
        )
    if len(chain) > MAX_BASES:
        raise ScenarioError(
            f"{p}: field {BASE_KEY}: more than {MAX_BASES} bases in a chain "
            f"({' -> '.join(map(str, chain))}); merge some of them into one file"
        )
    if not bpath.is_file():
        raise ScenarioError(
            f"{p}: field {BASE_KEY}: {ref}: no such base scenario ({bpath} does "
            f"not exist); give the base's path relative to {p.parent}/, e.g. "
            f"`{BASE_KEY}: ../city-7000.yaml`"
        )
    try:
        below = _compose(bpath, chain)
    except ScenarioError as err:
        if str(err).startswith(str(bpath)):  # the base's own error: say whose base it is
            raise ScenarioError(f"{err}\n(the base of {p})") from None
        raise
    if not isinstance(below.data, dict):
        raise ScenarioError(f"{bpath}: expected a mapping at the top level (the base of {p})")
    base = dict(below.data)
    _rebase(base, bpath.parent, p.parent)
    return Composed(merge(base, data, "", str(p)), (p, *below.files))


# ---------------------------------------------------------------- --set PATH=VALUE
def _models(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation can hold (through Optional, list, dict, Annotated, Union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        out += _models(arg)
    return out


def _container(annotation: Any) -> str | None:
    """'list' or 'dict' when a value of `annotation` may be one (its items are indexed by
    name, index or key, not by field), else None."""
    origin = get_origin(annotation)
    if origin in (list, dict):
        return "list" if origin is list else "dict"
    for arg in get_args(annotation) if origin is not None else ():
        kind = _container(arg)
        if kind is not None:
            return kind
    return None


def _fields(models: list[type[BaseModel]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in models:
        for k, f in m.model_fields.items():
            out.setdefault(k, f.annotation)
    return out


def apply_sets(
    data: dict[str, Any], sets: Sequence[str], source: str, root: type[BaseModel]
) -> dict[str, Any]:
    """A copy of `data` with each `PATH=VALUE` set (VALUE read as YAML, so `80` is a number
    and `h265` a string). A path must be one the schema of `root` has (list items by index
    or name); one it does not have is refused with the nearest path it does."""
    out = copy.deepcopy(data)
    for text in sets:
        path, sep, raw = text.partition("=")
        path = path.strip()
        if not sep or not path:
            raise ScenarioError(
                f"--set {text!r}: expected PATH=VALUE, e.g. --set "
                "recorders.pools.central.recorders=80"
            )
        value = loads_yaml(raw, f"--set {path}") if raw.strip() else None
        value = _plain(value, path, f"--set {path}")  # `!delete` is for an overlay file
        _set_one(out, path, value, source, root)
    return out


def set_source(path: str | Path, sets: Sequence[str] = ()) -> str:
    """The source a run of `path` with `--set` changes names in its results: the file, then
    after `#` (as a sweep point's) the changes, so no one takes it for the file as it is."""
    return str(path) + ("#set " + "; ".join(s.strip() for s in sets) if sets else "")


def _refuse(fix: str, done: str, part: str, options: Iterable[str], what: str) -> ScenarioError:
    """No `part` under `done`: the nearest path there is, else what there is."""
    opts = sorted(set(options))
    close = difflib.get_close_matches(part, opts, n=1, cutoff=0.6)
    hint = (
        f"did you mean {done + '.' if done else ''}{close[0]}?"
        if close
        else f"{what} there: {opts}"
    )
    return ScenarioError(f"{fix}: {done or '(top level)'} has no {part!r}; {hint}")


def _set_one(
    data: dict[str, Any], path: str, value: Any, source: str, root: type[BaseModel]
) -> None:
    parts = path.split(".")
    node: Any = data
    models: list[type[BaseModel]] = [root]
    kind: str | None = None  # the node is the value of a list or dict field: items, not fields
    for depth, part in enumerate(parts):
        done = ".".join(parts[:depth])
        last = depth == len(parts) - 1
        where = done or "(top level)"
        fix = f"{source}: --set {path}"

        if isinstance(node, list):
            names = [_ident(i) for i in node]
            if re.fullmatch(r"\d+", part) and int(part) < len(node):
                i = int(part)
            elif part in names:
                i = names.index(part)
            else:
                raise _refuse(
                    fix,
                    done,
                    part,
                    [n for n in names if n] + [str(k) for k in range(len(node))],
                    "the items",
                )
            if last:
                node[i] = value
                return
            node, kind = node[i], None
            continue
        if not isinstance(node, dict):
            raise ScenarioError(
                f"{source}: --set {path}: {where} is a value "
                f"({json.dumps(node, default=str)}), not a section; end the "
                f"path at {where}"
            )
        if kind == "dict":  # a key of a dict field (a target's metric): the model judges it
            ann: Any = None
        else:
            fields = _fields(models)
            if part not in fields:
                raise _refuse(fix, done, part, fields, "the fields")
            ann = fields[part]
        if last:
            node[part] = value
            return
        if ann is None:
            kind = None  # the dict's value: its models stay those of the dict field
        else:
            models, kind = _models(ann), _container(ann)
        if node.get(part) is None:
            if kind == "list":
                raise ScenarioError(
                    f"{source}: --set {path}: {done + '.' if done else ''}{part} "
                    "is an empty list; set it whole, e.g. --set "
                    f"'{done + '.' if done else ''}{part}=[...]'"
                )
            node[part] = {}
        node = node[part]


# ---------------------------------------------------------------- input differences
def flatten(data: Any, path: str = "") -> dict[str, Any]:
    """Leaf values by path (`recorders.pools.central.recorders`): a list of named items by
    name, any other list by index, an empty list or section as itself."""
    out: dict[str, Any] = {}
    if isinstance(data, dict) and data:
        for k, v in data.items():
            out.update(flatten(v, f"{path}.{k}" if path else str(k)))
    elif isinstance(data, list) and data:
        named = _is_named(data)
        for i, v in enumerate(data):
            out.update(flatten(v, f"{path}.{_ident(v) if named else i}"))
    else:
        out[path] = data
    return out


#: Labels, not inputs: two variants always differ in them.
LABEL_FIELDS = ("name", "description")


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(path, value in a, value in b) of every input that differs, labels left out; a value
    one side does not have is None there."""
    fa, fb = flatten(a), flatten(b)
    # An item present on one side only is one row, not a row per field inside it.
    out: list[tuple[str, Any, Any]] = []
    skipped: list[str] = []
    for path in sorted(set(fa) | set(fb), key=_path_key(fa, fb)):
        if path in LABEL_FIELDS or any(path.startswith(s + ".") for s in skipped):
            continue
        va, vb = fa.get(path), fb.get(path)
        if va == vb and (path in fa) == (path in fb):
            continue
        whole = _whole_item(path, a, b)
        if whole is not None:
            p, xa, xb = whole
            if p not in skipped:
                skipped.append(p)
                out.append((p, xa, xb))
            continue
        out.append((path, va, vb))
    return out


def _path_key(fa: dict[str, Any], fb: dict[str, Any]) -> Any:
    order = {p: i for i, p in enumerate([*fa, *[p for p in fb if p not in fa]])}
    return lambda p: order[p]


def _whole_item(path: str, a: dict[str, Any], b: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """When `path` lies in a section or named item only one side has: that item's path and
    both sides' values (None where absent)."""
    parts = path.split(".")
    for n in range(1, len(parts)):
        prefix = parts[:n]
        xa, xb = _get(a, prefix), _get(b, prefix)
        if (xa is None) != (xb is None):
            return ".".join(prefix), xa, xb
    return None


def _get(data: Any, parts: list[str]) -> Any:
    node = data
    for part in parts:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list):
            if _is_named(node):
                node = next((i for i in node if _ident(i) == part), None)
            elif part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        else:
            return None
        if node is None:
            return None
    return node


def show_yaml(data: Any) -> str:
    """The merged scenario as YAML, keys in the order given (what `twin validate --show`
    prints: a full scenario that validates to the same canonical JSON)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
