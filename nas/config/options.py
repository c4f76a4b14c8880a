"""Validate a plugin's options against the keyword-only parameters of its factory."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

import pydantic

from nas.errors import NasError, did_you_mean


def option_parameters(factory: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The keyword-only parameters of a factory (a function, or a class's ``__init__``)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    params = inspect.signature(target).parameters.values()
    return {p.name: p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _options_model(factory: Callable[..., Any]) -> type[pydantic.BaseModel]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(target, include_extras=True)  # Annotated constraints kept
    except Exception:  # unresolvable annotations: accept any value for those options
        hints = {}
    fields: dict[str, Any] = {}
    for name, p in option_parameters(factory).items():
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[name] = (hints.get(name, Any), default)
    return pydantic.create_model(
        f"{getattr(factory, '__name__', 'factory')}Options",
        __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True),
        **fields,
    )


def validate_options(
    factory: Callable[..., Any], options: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """Check ``options`` against ``factory``'s keyword-only parameters; return them with defaults.

    Raises NasError naming the key (as ``where.key``) on an unknown key, a missing required
    one or a value of the wrong type.
    """
    model = _options_model(factory)
    try:
        return model(**options).model_dump()
    except pydantic.ValidationError as exc:
        raise NasError(pydantic_message(exc, where, model)) from None


def _fields_at(model: type[pydantic.BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the (nested) model that ``loc`` points into."""
    for part in loc:
        field = model.model_fields.get(str(part))
        sub = field.annotation if field else None
        if not (isinstance(sub, type) and issubclass(sub, pydantic.BaseModel)):
            return []
        model = sub
    return list(model.model_fields)


def pydantic_message(
    exc: pydantic.ValidationError, where: str, model: type[pydantic.BaseModel]
) -> str:
    """One line for the first error of a pydantic validation error."""
    err = exc.errors()[0]
    key = ".".join(str(part) for part in (where, *err["loc"]) if part != "")
    if err["type"] == "extra_forbidden":
        valid = _fields_at(model, tuple(err["loc"][:-1]))
        last = str(err["loc"][-1])
        hint = did_you_mean(last, valid) + (
            f"; valid keys: {', '.join(valid)}" if valid else "; it takes no options"
        )
        return f"unknown config key {key!r}{hint}"
    if err["type"] == "missing":
        return f"config key {key!r} is required"
    return f"config key {key!r}: {err['msg'].lower()} (got {err.get('input')!r})"
