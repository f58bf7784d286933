"""How cells are separated and quoted."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    delimiter: str = ","
    quote: str = '"'
    line_end: str = "\n"

    def __post_init__(self):
        if len(self.delimiter) != 1 or len(self.quote) != 1:
            raise ValueError("delimiter and quote must be single characters")
        if self.delimiter == self.quote:
            raise ValueError("delimiter and quote must differ")
        if self.delimiter in "\r\n" or self.quote in "\r\n":
            raise ValueError("delimiter and quote cannot be line breaks")


DEFAULT = Dialect()
