"""Temperature scales, each defined by how it maps to and from Celsius."""

from dataclasses import dataclass
from typing import Callable

ZERO_CELSIUS_IN_KELVIN = 273


@dataclass(frozen=True)
class Scale:
    name: str
    symbol: str
    to_celsius: Callable[[float], float]
    from_celsius: Callable[[float], float]


SCALES = {
    "C": Scale("celsius", "°C", lambda t: t, lambda t: t),
    "F": Scale("fahrenheit", "°F", lambda t: (t - 32) * 5 / 9, lambda t: t * 9 / 5 + 32),
    "K": Scale("kelvin", "K", lambda t: t - ZERO_CELSIUS_IN_KELVIN, lambda t: t + ZERO_CELSIUS_IN_KELVIN),
}


def scale(key):
    """The scale for a letter (`"C"`) or a name (`"celsius"`), case-insensitive."""
    key = key.strip()
    if key.upper() in SCALES:
        return SCALES[key.upper()]
    for found in SCALES.values():
        if found.name == key.lower():
            return found
    raise KeyError(f"unknown temperature scale: {key!r}")
