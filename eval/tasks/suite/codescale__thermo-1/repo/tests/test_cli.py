from thermo.__main__ import main


def test_cli_fahrenheit(capsys):
    assert main(["100", "C", "F"]) == 0
    assert capsys.readouterr().out == "212.00 °F\n"
