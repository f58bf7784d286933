"""Convert a value between two units of the same dimension."""

from unitconv.parse import parse_unit


class IncompatibleUnits(ValueError):
    pass


def convert(value, source, target):
    source_factor, source_dims = parse_unit(source)
    target_factor, target_dims = parse_unit(target)
    if source_dims != target_dims:
        raise IncompatibleUnits(f"cannot convert {source} to {target}")
    return value * source_factor / target_factor
