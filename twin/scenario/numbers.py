"""Numbers in a scenario are numbers: `true`, `yes` or `"30"` where a count or a size goes is
refused, not read as 1 or 30.

pydantic's lax mode turns a bool into 1 or 0 and a numeric string into its number. In YAML
`yes`, `on` and `true` are booleans, so `sets: yes` would silently become one set. Strict mode
for the whole model would also refuse what YAML cannot say otherwise (a date written as a
string, a dict key read back from JSON as a string), so this check is only for numeric
fields: each model's before-validator calls `refuse_non_numbers`. This module imports nothing
from the twin, so every scenario module can use it.
"""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

__all__ = ["ScenarioModel", "refuse_non_numbers"]

_NUMBER = (int, float)


def _options(annotation: Any) -> list[Any]:
    """The alternatives of a union (Optional included), else the annotation itself."""
    if get_origin(annotation) in (Union, types.UnionType):
        return [a for arg in get_args(annotation) for a in _options(arg)]
    if hasattr(annotation, "__metadata__"):  # Annotated[...]
        return _options(get_args(annotation)[0])
    return [annotation]


def _bad(value: Any, annotation: Any) -> bool:
    """True if `value` is a bool or a string where only a number (or None) may go."""
    opts = _options(annotation)
    if not any(o in _NUMBER for o in opts):
        return False
    if isinstance(value, bool):
        return bool not in opts
    if isinstance(value, str):
        return not any(o is str or get_origin(o) is Literal for o in opts)
    return False


def refuse_non_numbers(model: Any, data: Any) -> Any:
    """Raise a `not_a_number` error naming the first numeric field of `model` given a bool or a
    string (directly, or as a value of its dict or an item of its list); return `data` unchanged."""
    if not isinstance(data, dict):
        return data
    for name, field in model.model_fields.items():
        if name not in data:
            continue
        value, ann = data[name], field.annotation
        if get_origin(ann) in (Union, types.UnionType):  # Optional[list[...]] and the like
            rest = [a for a in get_args(ann) if a is not type(None)]
            if len(rest) == 1 and get_origin(rest[0]) in (dict, list):
                ann = rest[0]
        origin = get_origin(ann)
        if origin is dict:
            items = list(value.items()) if isinstance(value, dict) else []
            inner = get_args(ann)[1]
        elif origin is list:
            items = list(enumerate(value)) if isinstance(value, list) else []
            inner = get_args(ann)[0]
        else:
            items, inner = [(None, value)], ann
        for key, v in items:
            if _bad(v, inner):
                where = name if key is None else f"{name}.{key}"
                raise PydanticCustomError(
                    "not_a_number",
                    "a {kind} where a number goes; write the number without quotes (in "
                    "YAML yes/no/true/false are booleans, not numbers)",
                    {"where": where, "kind": type(v).__name__, "field": where, "value": v},
                )
    return data


class ScenarioModel(BaseModel):
    """The base of every scenario model: unknown fields refused, frozen, numbers that are
    numbers, and no `.inf` / `.nan` (valid YAML floats that no figure of a real deployment can
    take, and results.json could not hold as JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data: Any) -> Any:
        return refuse_non_numbers(cls, data)
