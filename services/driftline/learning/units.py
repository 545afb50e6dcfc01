"""Unit conversion for sensor readings declared in another unit than the stream's."""

from __future__ import annotations

from collections.abc import Callable

#: Spellings devices use, mapped to driftline's canonical unit names.
ALIASES: dict[str, str] = {
    "°c": "degC", "c": "degC", "celsius": "degC", "degc": "degC",
    "°f": "degF", "f": "degF", "fahrenheit": "degF", "degf": "degF",
    "k": "K", "kelvin": "K",
    "%": "percent", "percent": "percent", "fraction": "fraction",
    "a": "A", "ma": "mA",
    "pa": "Pa", "hpa": "hPa", "kpa": "kPa",
    "mm/s": "mm/s", "m/s": "m/s", "in/s": "in/s",
    "ppm": "ppm", "lux": "lux", "lx": "lux",
}  # fmt: skip

# Each unit as (family, to-canonical, from-canonical); conversions go through the family's base.
_UNITS: dict[str, tuple[str, Callable[[float], float], Callable[[float], float]]] = {
    "degC": ("temperature", lambda v: v, lambda v: v),
    "degF": ("temperature", lambda v: (v - 32.0) * 5.0 / 9.0, lambda v: v * 9.0 / 5.0 + 32.0),
    "K": ("temperature", lambda v: v - 273.15, lambda v: v + 273.15),
    "percent": ("ratio", lambda v: v, lambda v: v),
    "fraction": ("ratio", lambda v: v * 100.0, lambda v: v / 100.0),
    "A": ("current", lambda v: v, lambda v: v),
    "mA": ("current", lambda v: v / 1000.0, lambda v: v * 1000.0),
    "Pa": ("pressure", lambda v: v, lambda v: v),
    "hPa": ("pressure", lambda v: v * 100.0, lambda v: v / 100.0),
    "kPa": ("pressure", lambda v: v * 1000.0, lambda v: v / 1000.0),
    "mm/s": ("velocity", lambda v: v, lambda v: v),
    "m/s": ("velocity", lambda v: v * 1000.0, lambda v: v / 1000.0),
    "in/s": ("velocity", lambda v: v * 25.4, lambda v: v / 25.4),
    "ppm": ("concentration", lambda v: v, lambda v: v),
    "lux": ("illuminance", lambda v: v, lambda v: v),
}


class UnitError(ValueError):
    """Two units that cannot be converted into each other."""


def canonical(unit: str) -> str:
    return ALIASES.get(unit.strip().lower(), unit.strip())


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """``value`` expressed in ``from_unit``, converted to ``to_unit``."""
    source, target = canonical(from_unit), canonical(to_unit)
    if source == target:
        return value
    if source not in _UNITS or target not in _UNITS:
        unknown = source if source not in _UNITS else target
        raise UnitError(f"unknown unit {unknown!r}")
    family, to_base, _ = _UNITS[source]
    target_family, _, from_base = _UNITS[target]
    if family != target_family:
        raise UnitError(f"cannot convert {from_unit} ({family}) to {to_unit} ({target_family})")
    return from_base(to_base(value))
