from slugkit.slugify import slugify
from slugkit.transliterate import to_ascii


def test_accents_removed():
    assert to_ascii("Crème brûlée") == "Creme brulee"


def test_special_letters():
    assert slugify("Straße Ærø") == "strasse-aero"
