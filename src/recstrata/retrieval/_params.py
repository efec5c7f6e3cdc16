"""Hyper-parameter checks shared by the models: a ``ConfigError`` naming the parameter, its allowed
range and the value given (strings, bools, None and NaN are refused, not compared), or naming an
unknown parameter with the accepted ones and the closest match."""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from recstrata.errors import ConfigError


def is_int(value: Any) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite real number (Python or numpy), not a bool."""
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and math.isfinite(value))


def check_int(model: Any, name: str, minimum: int = 1, *, none: str | None = None) -> None:
    """ConfigError unless parameter ``name`` is an integer (not a bool) >= ``minimum``; with ``none``
    (what None means, for the message) None is accepted too."""
    value = getattr(model, name)
    if none is not None and value is None:
        return
    if not is_int(value) or value < minimum:
        alt = "" if none is None else f" or None ({none})"
        raise ConfigError(f"{type(model).__name__} needs an integer {name} >= {minimum}{alt}, got {name}={value!r}")


def check_number(model: Any, name: str, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False, hint: str = "") -> None:
    """ConfigError unless parameter ``name`` is a finite number within the bounds (``low <= x``, or
    ``low < x`` with ``low_open``; likewise ``high``). ``hint`` is appended to the message."""
    value = getattr(model, name)
    ok = (is_number(value)
          and (low is None or (value > low if low_open else value >= low))
          and (high is None or (value < high if high_open else value <= high)))
    if not ok:
        left = "" if low is None else f"{low:g} {'<' if low_open else '<='} "
        right = "" if high is None else f" {'<' if high_open else '<='} {high:g}"
        raise ConfigError(f"{type(model).__name__} needs {left}{name}{right}{hint}, got {name}={value!r}")


def check_bool(model: Any, name: str) -> None:
    """ConfigError unless parameter ``name`` is a bool (a JSON ``true`` / ``false``, not ``"yes"`` or 1)."""
    value = getattr(model, name)
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{type(model).__name__} needs {name} true or false, got {name}={value!r}")


def check_choice(model: Any, name: str, choices: tuple[str | None, ...], hint: str = "") -> None:
    """ConfigError unless parameter ``name`` is one of ``choices`` (strings, or None); ``hint`` is
    appended to the message."""
    value = getattr(model, name)
    if not (value is None or isinstance(value, str)) or value not in choices:
        allowed = ", ".join(map(repr, choices))
        close = did_you_mean(value, [c for c in choices if c]) if isinstance(value, str) else ""
        raise ConfigError(f"{type(model).__name__} needs {name} one of {allowed}{hint}, got {name}={value!r}{close}")


def check_text(model: Any, name: str, *, path: bool = False, none: str | None = None) -> None:
    """ConfigError unless parameter ``name`` is a non-empty string (with ``path``, a directory: a
    string or ``os.PathLike``); with ``none`` (what None means) None is accepted too."""
    value = getattr(model, name)
    if none is not None and value is None:
        return
    if not ((isinstance(value, str) and value) or (path and isinstance(value, os.PathLike))):
        what = "a directory path" if path else "a non-empty string"
        alt = "" if none is None else f" or None ({none})"
        raise ConfigError(f"{type(model).__name__} needs {name} {what}{alt}, got {name}={value!r}")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to a mistyped ``name``, else ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_parameter(owner: str, key: str, accepted: Iterable[str]) -> ConfigError:
    """The error for a parameter ``owner`` does not take: the closest match and every accepted one."""
    accepted = list(accepted)
    return ConfigError(f"{owner} has no parameter {key!r}{did_you_mean(key, accepted)}; "
                       f"its parameters: {', '.join(accepted) or '(none)'}")
