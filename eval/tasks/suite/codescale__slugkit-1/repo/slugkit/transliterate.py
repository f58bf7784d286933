"""Turn accented and special letters into plain ASCII."""

import unicodedata

SPECIAL = {"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "đ": "d", "ł": "l", "þ": "th"}


def to_ascii(text):
    """`text` with accents stripped and a few special letters spelled out; other symbols are kept."""
    out = []
    for char in text:
        lower = char.lower()
        if lower in SPECIAL:
            out.append(SPECIAL[lower] if char == lower else SPECIAL[lower].capitalize())
            continue
        decomposed = unicodedata.normalize("NFKD", char)
        out.append("".join(c for c in decomposed if not unicodedata.combining(c)))
    return "".join(out)
