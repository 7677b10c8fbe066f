"""Pydantic's ``ValidationError`` turned into paretoray's one-line ``ConfigError`` messages.

Configs (:class:`~paretoray.config.SearchConfig`) and constructors with checked options
(the preference adapters) describe their fields with pydantic types and constraints;
this module renders each pydantic error as one line that starts with the field's path,
shows the value found and says what is allowed::

    population=0 is not allowed; allowed values: integers >= 1.
    ray.resources.gpu=1.5 is not allowed; allowed values: ... (Ray rejects ...).
    The config has the unknown field 'popultion'. Did you mean 'population'? Allowed ...

The allowed values are read from the field's own annotation (``Annotated[int,
Field(ge=1)]`` reads "integers >= 1"), so a constraint is written once, on the field.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import annotated_types as at
import numpy as np
from pydantic import AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Strict, ValidationError
from pydantic import validate_call as _validate_call
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from typing_extensions import is_typeddict

from paretoray._registry import did_you_mean
from paretoray.errors import ConfigError

__all__ = [
    "ExactInt",
    "Number",
    "checked_options",
    "did_you_mean",
    "fail",
    "to_config_error",
]

F = TypeVar("F", bound=Callable[..., Any])


# ---------------------------------------------------------------- number types
def _exact_int(value: Any) -> Any:
    """NumPy integers and whole floats (``64.0`` from YAML) become ``int``; 64.5 does not."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return value


def _plain_number(value: Any) -> Any:
    """NumPy scalars become Python numbers (booleans stay, and are refused)."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


#: An integer: ``int``, a NumPy integer or a whole float; never a string or a bool.
ExactInt = Annotated[int, Strict(), BeforeValidator(_exact_int)]
#: A finite number (``int``/``float`` or a NumPy scalar; never a string or a bool).
Number = Annotated[float, Strict(), AllowInfNan(False), BeforeValidator(_plain_number)]


def fail(reason: str) -> PydanticCustomError:
    """An error for a validator to raise: ``reason`` follows ``<path>=<value>`` (or stands
    alone for a model-wide check, whose message then names its fields itself)."""
    return PydanticCustomError("paretoray", "{reason}", {"reason": reason})


# ---------------------------------------------------------------- annotations
def _unwrap(tp: Any) -> tuple[Any, list[Any], bool]:
    """(base type, constraint metadata, nullable) of an annotation."""
    meta: list[Any] = []
    nullable = False
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp, *extra = typing.get_args(tp)
            meta.extend(extra)
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            nullable = nullable or len(args) < len(typing.get_args(tp))
            if len(args) != 1:
                return tp, meta, nullable
            tp = args[0]
        else:
            return tp, meta, nullable


def _hints(obj: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception:  # unresolved forward references: no constraint text, nothing else
        return {}


def _child(tp: Any, part: str | int) -> tuple[Any, list[Any]] | None:
    """The annotation (and field metadata) of ``part`` inside a value of type ``tp``."""
    base, _, _ = _unwrap(tp)
    if isinstance(base, type) and issubclass(base, BaseModel):
        field = base.model_fields.get(str(part))
        return None if field is None else (field.annotation, list(field.metadata))
    if is_typeddict(base):
        hint = _hints(base).get(str(part))
        return None if hint is None else (hint, [])
    origin, args = typing.get_origin(base), typing.get_args(base)
    if origin is list and isinstance(part, int) and args:
        return args[0], []
    if origin is dict and len(args) == 2:
        return args[1], []
    if callable(base) and not isinstance(base, type):  # a function: its parameters
        hint = _hints(base).get(str(part))
        return None if hint is None else (hint, [])
    return None


def _resolve(root: Any, loc: Sequence[str | int]) -> tuple[Any, list[Any], bool] | None:
    tp: Any = root
    meta: list[Any] = []
    for part in loc:
        found = _child(tp, part)
        if found is None:
            return None
        tp, meta = found
    base, inner, nullable = _unwrap(tp)
    return base, meta + inner, nullable


def _names_in(container: Any) -> list[str]:
    base, _, _ = _unwrap(container)
    if isinstance(base, type) and issubclass(base, BaseModel):
        return list(base.model_fields)
    if is_typeddict(base):
        return list(_hints(base))
    try:
        params = inspect.signature(base).parameters.items()
    except (TypeError, ValueError):
        return []
    return [n for n, p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n != "self"]


def _allowed_numbers(base: Any, meta: list[Any]) -> str:
    """"integers >= 1", "finite numbers > 0", "finite numbers in (0, 1]" from constraints."""
    kind = "integers" if base is int else "finite numbers"
    flat: list[Any] = []
    for c in meta:  # Field(ge=1) inside Annotated[...] arrives as a FieldInfo
        flat.extend(c.metadata if isinstance(c, FieldInfo) else [c])
    lo = hi = None
    for c in flat:
        if not isinstance(c, at.Interval | at.Gt | at.Ge | at.Lt | at.Le):
            continue
        for attr in ("gt", "ge", "lt", "le"):
            v = getattr(c, attr, None)
            if v is not None and attr in ("gt", "ge"):
                lo = (attr, v)
            elif v is not None:
                hi = (attr, v)
    if lo and hi:
        left = "(" if lo[0] == "gt" else "["
        right = ")" if hi[0] == "lt" else "]"
        return f"{kind} in {left}{lo[1]:g}, {hi[1]:g}{right}"
    ops = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    for bound in (lo, hi):
        if bound:
            return f"{kind} {ops[bound[0]]} {bound[1]:g}"
    return kind


_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number",
    "bool_type": "a boolean (true or false)", "bool_parsing": "a boolean (true or false)",
    "string_type": "a string", "list_type": "a list", "tuple_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
}
_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal",
           "finite_number")


def _path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line(err: dict[str, Any], *, where: str, root: Any, expected: dict[str, str],
          aliases: Sequence[str], hint: str, required: Callable[[str], str], noun: str) -> str:
    loc = tuple(err["loc"])
    typ = err["type"]
    value = err.get("input")
    if typ in ("extra_forbidden", "unexpected_keyword_argument"):
        parent, key = loc[:-1], loc[-1]
        container = _resolve(root, parent)
        names = _names_in(container[0]) if container else []
        label = _path(parent) or where
        if container and is_typeddict(container[0]):
            return (f"{label} has the unknown key {key!r}; allowed keys: {', '.join(names)}."
                    + did_you_mean(key, names))
        return (f"{label} has the unknown {noun} {key!r}."
                + did_you_mean(key, [*names, *(aliases if not parent else ())])
                + f" Allowed {noun}s: {', '.join(names) or '(none)'}."
                + (hint if not parent else ""))
    if typ in ("missing", "missing_argument", "missing_keyword_only_argument"):
        label = _path(loc[:-1]) or where
        return f"{label} lacks the required {noun} {required(str(loc[-1]))}."
    if loc and loc[-1] == "[key]":
        return (f"{_path(loc[:-2])} has the key {value!r} of type {type(value).__name__}; "
                "option names must be strings.")
    path = _path(loc)
    shown = f"{path}={value!r}"
    if typ == "paretoray":
        reason = err["ctx"]["reason"]
        return f"{shown} {reason}" if loc else reason
    resolved = _resolve(root, loc)
    base, meta, nullable = resolved if resolved else (None, [], False)
    if typ in _EXPECTED:
        what = expected.get(path, _EXPECTED[typ])
        return (f"{shown} has type {type(value).__name__}; expected {what}"
                f"{' or null' if nullable else ''}.")
    if typ in _BOUNDS:
        return f"{shown} is not allowed; allowed values: {_allowed_numbers(base, meta)}."
    if typ == "too_short":
        what = expected.get(path, f"at least {err.get('ctx', {}).get('min_length', 1)} entries")
        return f"{shown} is not allowed; expected {what}{' or null' if nullable else ''}."
    if typ in ("literal_error", "enum"):
        choices = [c.strip().strip("'") for c in
                   err.get("ctx", {}).get("expected", "").replace(" or ", ", ").split(",")]
        return (f"{shown} is not allowed; allowed values: {', '.join(choices)}."
                + did_you_mean(value, choices))
    if typ == "value_error":
        reason = str(err.get("ctx", {}).get("error", err["msg"]))
        return f"{shown}: {reason}" if loc else reason
    return f"{shown}: {err['msg']}." if loc else f"{err['msg']}."


def to_config_error(
    exc: ValidationError | list[dict[str, Any]],
    *,
    where: str,
    root: Any,
    expected: dict[str, str] | None = None,
    aliases: Sequence[str] = (),
    hint: str = "",
    required: Callable[[str], str] = repr,
    noun: str = "field",
) -> ConfigError:
    """One :class:`ConfigError` with one line per pydantic error, field path first.

    Args:
        exc: The pydantic error (or its ``errors()``).
        where: Who was given the values ("The config", "search()"): names the unknown
            and missing top-level fields.
        root: The model class or function whose annotations describe the fields.
        expected: Field path -> what a value of the right type looks like, where the
            type alone says too little ("a list of numbers").
        aliases: More names offered as close matches for an unknown top-level field.
        hint: Appended to an unknown top-level field's line.
        required: Describes a missing required field (default: its name quoted).
        noun: What the names are ("field"; "option" for constructor keywords).
    """
    lines: list[str] = []
    errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else exc
    for err in errors:
        line = _line(err, where=where, root=root, expected=expected or {}, aliases=aliases,
                     hint=hint, required=required, noun=noun)
        if line not in lines:
            lines.append(line)
    return ConfigError("\n".join(lines))


def checked_options(where: str | Callable[[Any], str]) -> Callable[[F], F]:
    """Decorator: validate a function's arguments against its annotations (pydantic).

    The parameters are annotated with pydantic types and constraints (``step:
    Annotated[float, Field(gt=0, le=1)] = 0.5``); a wrong value or an unknown keyword
    raises :class:`ConfigError`, one line per error, each starting with the label:
    ``where``, or ``where(first_argument)`` for a constructor (``where(self)``), e.g.
    ``adapter 'adaptive': step=1.5 is not allowed; allowed values: ...``.
    """

    def deco(fn: F) -> F:
        inner = _validate_call(fn, config=ConfigDict(arbitrary_types_allowed=True))
        params = list(inspect.signature(fn).parameters)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return inner(*args, **kwargs)
            except ValidationError as e:
                label = where if isinstance(where, str) else where(args[0])
                errors = e.errors(include_url=False)
                for err in errors:  # positional arguments come by index: name them
                    loc = err["loc"]
                    if loc and isinstance(loc[0], int) and loc[0] < len(params):
                        err["loc"] = (params[loc[0]], *loc[1:])
                error = to_config_error(errors, where=label, root=fn, noun="option")
                lines = [line if line.startswith(label) else f"{label}: {line}"
                         for line in str(error).splitlines()]
                raise ConfigError("\n".join(lines)) from None

        return typing.cast(F, wrapper)

    return deco
