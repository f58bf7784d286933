from thermo.scales import scale


def test_lookup_by_symbol_and_name():
    assert scale("k") is scale("Kelvin")
    assert scale("F").symbol == "°F"
