"""Typed plugin parameters from ``key=value`` lines.

A plugin declares its parameters as a keyword-only attrs class (deriving from
``CommonParams``); ``parse_params`` structures the raw pairs with cattrs and reports every
problem at once, each naming its key: unknown keys (with the closest valid name), keys
given twice, values of the wrong type, and missing required keys.
"""

from __future__ import annotations

import difflib
import enum
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

import attrs
import cattrs

from podheitor.domain.errors import ParameterError

P = TypeVar("P")


class ByteSize(int):
    """A byte count written with an optional binary suffix: ``512``, ``64K``, ``1M``, ``2G``."""

    _UNITS: typing.ClassVar[dict[str, int]] = {
        "": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40,
    }

    @classmethod
    def parse(cls, text: str) -> ByteSize:
        raw = text.strip().upper().removesuffix("IB").removesuffix("B")
        unit = raw[-1:] if raw[-1:] in cls._UNITS and raw[-1:] else ""
        number = raw[: len(raw) - len(unit)]
        if not number.isdigit():
            raise ValueError(f"{text!r} is not a size (examples: 4096, 64K, 1M, 2G)")
        return cls(int(number) * cls._UNITS[unit])


_TRUE = {"1", "yes", "true", "on", "y"}
_FALSE = {"0", "no", "false", "off", "n"}


def _to_bool(value: object, _: type) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a yes/no value (use 1/0, yes/no, true/false)")


def _to_int(value: object, _: type) -> int:
    try:
        return int(str(value).strip(), 10)
    except ValueError:
        raise ValueError(f"{value!r} is not an integer") from None


def _to_enum(value: object, cls: type[enum.Enum]) -> enum.Enum:
    try:
        return cls(str(value))
    except ValueError:
        valid = ", ".join(str(m.value) for m in cls)
        raise ValueError(f"{value!r} is not one of: {valid}") from None


def _converter() -> cattrs.Converter:
    conv = cattrs.Converter()
    conv.register_structure_hook(bool, _to_bool)
    conv.register_structure_hook(int, _to_int)
    conv.register_structure_hook(ByteSize, lambda v, _: ByteSize.parse(str(v)))
    conv.register_structure_hook(str, lambda v, _: str(v))
    conv.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _to_enum
    )
    return conv


_CONVERTER = _converter()


@attrs.frozen(kw_only=True)
class CommonParams:
    """Parameters every podheitor plugin understands."""

    abort_on_error: bool = False
    log_file: str | None = None
    listing: str | None = None
    query: str | None = None
    accurate: bool = False


def _is_collection(tp: Any) -> bool:
    """tuple[X, ...] or list[X], optionally inside Optional[...]."""
    if typing.get_origin(tp) in (tuple, list):
        return True
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return type(None) in typing.get_args(tp) and len(args) == 1 and _is_collection(args[0])


def _literal_check(tp: Any, value: object) -> None:
    args = typing.get_args(tp)
    if value not in args:
        raise ValueError(f"{value!r} is not one of: {', '.join(map(str, args))}")


def _structure(tp: Any, raw: str | list[str]) -> object:
    args = typing.get_args(tp)
    if type(None) in args:  # Optional[X]: the key was given, so structure as X
        (inner,) = [a for a in args if a is not type(None)]
        return _structure(inner, raw)
    if typing.get_origin(tp) is typing.Literal:
        _literal_check(tp, raw)
        return raw
    if _is_collection(tp):
        (item_type, *_) = args
        return tuple(_CONVERTER.structure(v, item_type) for v in raw)
    return _CONVERTER.structure(raw, tp)


def parse_params(cls: type[P], pairs: Sequence[tuple[str, str]], *, plugin: str = "") -> P:
    """Build ``cls`` from ``(key, value)`` pairs, raising ``ParameterError`` with every problem."""
    attrs.resolve_types(cls)  # type: ignore[type-var]
    fields = {f.name: f for f in attrs.fields(cls)}  # type: ignore[arg-type]
    raw: dict[str, str | list[str]] = {}
    problems: list[str] = []
    owner = f" for {plugin}" if plugin else ""

    for key, value in pairs:
        name = key.strip().lower().replace("-", "_")
        field = fields.get(name)
        if field is None:
            hint = difflib.get_close_matches(name, fields, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            problems.append(f"unknown parameter {key!r}{owner}{suggestion}")
            continue
        if _is_collection(field.type):
            items = raw.setdefault(name, [])
            assert isinstance(items, list)
            items.append(value)
        elif name in raw:
            problems.append(f"parameter {key!r} given more than once")
        else:
            raw[name] = value

    values: dict[str, object] = {}
    for name, given in raw.items():
        try:
            values[name] = _structure(fields[name].type, given)
        except (ValueError, TypeError, cattrs.BaseValidationError) as exc:
            problems.append(f"parameter {name!r}: {exc}")

    for name, field in fields.items():
        if field.default is attrs.NOTHING and name not in raw:
            problems.append(f"missing required parameter {name!r}{owner}")

    if problems:
        raise ParameterError(problems)
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise ParameterError(str(exc)) from exc
