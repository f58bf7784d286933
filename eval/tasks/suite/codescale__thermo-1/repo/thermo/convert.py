"""Convert a temperature between two scales."""

from thermo.scales import scale

ABSOLUTE_ZERO_C = -273.15


def convert(value, source, target):
    """`value` in scale `source` expressed in scale `target`."""
    celsius = scale(source).to_celsius(value)
    if celsius < ABSOLUTE_ZERO_C - 1e-9:
        raise ValueError(f"{value} {source} is below absolute zero")
    return scale(target).from_celsius(celsius)
