"""Reading a scenario file: bounded, strict YAML in, plain data out (no validation here).

Theory of operation
-------------------
Everything a YAML file can do to the twin before pydantic sees it is refused here, fast and
with the file named:

- size: a file over MAX_FILE_BYTES is refused from its `stat`, before it is read (the
  largest shipped scenario is ~12 kB; a city of a thousand districts is well under 1 MB);
- encoding: a file with NUL bytes is binary, and a file that is not UTF-8 is refused with
  the byte offset of the first bad byte;
- duplicate keys: PyYAML lets the last one win silently; here a key given twice in one
  mapping is an error naming both lines;
- aliases: `&a [*a, *a, ...]` chains expand exponentially when validated (a "billion
  laughs" file of 1 kB is 10^9 nodes). The composed node graph is counted as the tree it
  expands to, memoised by node so the count itself is linear, and a tree of more than
  MAX_NODES nodes, or a recursive alias, is refused before anything is constructed;
- nesting deeper than Python's recursion allows is refused, not a RecursionError.

The loader is `yaml.SafeLoader` with one override (mappings), so only plain YAML types are
ever built, and two tags of its own for overlays (twin/scenario/overlay.py): `!delete`
(remove a field, or a named list item, of the base) and `!replace` (give a list or section
whole instead of merging it into the base's). Each becomes a marker object that only the
overlay merge understands; a marker left where nothing is merged is refused there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from twin.errors import ScenarioError
from twin.suggest import closest

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "StrictSafeLoader",
    "Delete",
    "Replace",
    "read_yaml",
    "loads_yaml",
]

MAX_FILE_BYTES = 1_000_000
# A 7,000-set scenario is ~600 nodes; a 1 MB file written out in full is under 200,000.
MAX_NODES = 200_000


class StrictSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (naming both lines)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader's own message says so below
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is given twice in one mapping, on line {first} and on line "
                    f"{line}; keep one of them (YAML would silently use the last)",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


class Delete:
    """`!delete` in an overlay: remove this field of the base (`key: !delete`), or, as a list
    item, the base's item of that name (`- !delete Wan Chai`)."""

    __slots__ = ("name",)

    def __init__(self, name: str | None) -> None:
        self.name = name

    def __repr__(self) -> str:
        return "!delete" + (f" {self.name}" if self.name is not None else "")


class Replace:
    """`!replace` in an overlay: this value replaces the base's whole, not merged into it."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"!replace {self.value!r}"


def _construct_delete(loader: yaml.SafeLoader, node: yaml.Node) -> Delete:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(
            None,
            None,
            "!delete takes no value (`key: !delete`) or, as a list item, the name "
            "of the base's item to remove (`- !delete Wan Chai`)",
            node.start_mark,
        )
    text = loader.construct_scalar(node)
    return Delete(str(text) if text != "" else None)


def _construct_replace(loader: yaml.SafeLoader, node: yaml.Node) -> Replace:
    if isinstance(node, yaml.MappingNode):
        return Replace(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Replace(loader.construct_sequence(node, deep=True))
    raise yaml.constructor.ConstructorError(
        None,
        None,
        "!replace is for a list or a section (a value is replaced anyway): write "
        "`key: !replace [...]` or `key: !replace {...}`, or drop the tag",
        node.start_mark,
    )


StrictSafeLoader.add_constructor("!delete", _construct_delete)
StrictSafeLoader.add_constructor("!replace", _construct_replace)


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Nodes in the tree `root` expands to (aliases copied out), up to just past `limit`.

    Iterative and memoised by node identity, so a shared subtree costs its size once to
    count however often it is referenced. Raises ValueError on a recursive alias."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        kids: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            kids = [n for pair in node.value for n in pair]
        if done:
            on_path.discard(nid)
            size[nid] = min(limit + 1, 1 + sum(size[id(k)] for k in kids))
            continue
        if nid in size:
            continue
        if nid in on_path:
            raise ValueError("an alias refers to a node that contains it (a recursive alias)")
        on_path.add(nid)
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in size)
        for k in kids:
            if id(k) in on_path:
                raise ValueError("an alias refers to a node that contains it (a recursive alias)")
    return size[id(root)]


def loads_yaml(text: str, source: str) -> Any:
    """Parse YAML text with the limits above; errors are ScenarioErrors naming `source`."""
    try:
        loader = StrictSafeLoader(text)
        loader.name = source  # error marks name the file, not "<unicode string>"
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            try:
                n = _expanded_size(node, MAX_NODES)
            except ValueError as err:
                raise ScenarioError(
                    f"{source}: {err}; write the repeated part out, or use "
                    "an anchor only for a node outside itself"
                ) from None
            if n > MAX_NODES:
                raise ScenarioError(
                    f"{source}: its aliases (*name) expand to more than {MAX_NODES:,} YAML nodes; "
                    "a scenario needs a few thousand at most: remove the alias chain (anchors "
                    "referring to anchors)"
                )
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        raise ScenarioError(f"{source}: not valid YAML: {err}") from None
    except RecursionError:
        raise ScenarioError(
            f"{source}: YAML nested too deeply to read; a scenario is a few "
            "levels deep: flatten the nesting"
        ) from None


def _near_file(p: Path) -> str:
    """'; did you mean scenarios/city-7000.yaml?' for a missing file: the nearest .yaml name
    in its folder, or the same name under scenarios/; else where to look."""
    folder = p.parent
    try:
        names = (
            [f.name for f in folder.iterdir() if f.suffix in (".yaml", ".yml")]
            if folder.is_dir()
            else []
        )
    except OSError:
        names = []
    hit = closest(p.name, names)
    if hit is not None:
        return f"; did you mean {folder / hit}?"
    shipped = Path("scenarios") / p.name
    if p.parent != Path("scenarios") and shipped.is_file():
        return f"; did you mean {shipped}?"
    return "; check the path (the shipped scenarios are in scenarios/)"


def read_yaml(path: str | Path) -> Any:
    """Read a scenario file's YAML safely (see the module doc); plain data, not validated."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise ScenarioError(f"{p}: is a folder, not a scenario file; pass a .yaml file in it")
        if size > MAX_FILE_BYTES:
            raise ScenarioError(
                f"{p}: {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for a scenario "
                "file (the shipped ones are ~10 kB); is this the right file?"
            )
        with p.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)  # a file that grows while read stays bounded
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such scenario file{_near_file(p)}") from None
    except OSError as err:
        raise ScenarioError(f"{p}: cannot read the scenario file: {err.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(f"{p}: over the {MAX_FILE_BYTES:,}-byte limit for a scenario file")
    if b"\x00" in raw:
        raise ScenarioError(
            f"{p}: a binary file (NUL byte at offset {raw.index(0)}), not a YAML "
            "scenario; pass a .yaml text file (see scenarios/)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(
            f"{p}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); save the "
            "scenario as UTF-8"
        ) from None
    return loads_yaml(text, str(p))
