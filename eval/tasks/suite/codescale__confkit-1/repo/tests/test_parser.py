import datetime
import math

import pytest

from confkit.parser import ConfigError, parse


def test_tables_and_keys():
    doc = parse('title = "x"\n[server]\nhost = "localhost"\nport = 8080\n[server.tls]\nenabled = true\n')
    assert doc.data == {"title": "x", "server": {"host": "localhost", "port": 8080, "tls": {"enabled": True}}}
    assert doc.get("server.tls.enabled") is True


def test_comments():
    doc = parse("# header\na = 1  # one\n\n   # indented\nb = 2#two\n")
    assert doc.data == {"a": 1, "b": 2}


def test_hash_inside_strings():
    doc = parse("color = \"#ff0000\"  # red\nchannel = '#general'\n")
    assert doc.data == {"color": "#ff0000", "channel": "#general"}


def test_literal_string_ending_in_backslash():
    doc = parse("dir = 'C:\\temp\\'  # windows path\n")
    assert doc.data == {"dir": "C:\\temp\\"}


def test_escapes():
    doc = parse('s = "tab\\tnew\\nquote\\" back\\\\ \\u00e9 \\U0001F600"\n')
    assert doc["s"] == 'tab\tnew\nquote" back\\ \u00e9 \U0001F600'


def test_numbers():
    doc = parse("a = 1_000\nb = 0x1F\nc = -7\nd = 1e3\ne = 3.25\nf = -inf\ng = nan\nh = 0b101\n")
    assert [doc[k] for k in "abcdeh"] == [1000, 31, -7, 1000.0, 3.25, 5]
    assert doc["f"] == -math.inf and math.isnan(doc["g"])


def test_multiline_array_with_comments():
    doc = parse("ports = [\n  80,   # http\n  443,  # https\n]\n")
    assert doc["ports"] == [80, 443]


def test_multiline_strings():
    doc = parse('motd = """\nHello # not a comment\nworld"""\nraw = \'\'\'\na\\nb\'\'\'\n')
    assert doc["motd"] == "Hello # not a comment\nworld"
    assert doc["raw"] == "a\\nb"


def test_inline_tables():
    doc = parse('point = {x = 1, y = 2, label = "p, q"}\nempty = {}\n')
    assert doc.data == {"point": {"x": 1, "y": 2, "label": "p, q"}, "empty": {}}


def test_array_of_tables():
    doc = parse('[[user]]\nname = "ann"\n[[user]]\nname = "bob"\nadmin = true\n')
    assert doc["user"] == [{"name": "ann"}, {"name": "bob", "admin": True}]


def test_interpolation():
    doc = parse('[paths]\nroot = "/srv"\nlogs = "${paths.root}/logs"\n[app]\nlog = "${paths.logs}/app.log"\n')
    assert doc.get("app.log") == "/srv/logs/app.log"


def test_interpolation_cycle():
    with pytest.raises(ConfigError, match="cycle"):
        parse('a = "${b}"\nb = "${a}"\n')


def test_errors_carry_line_numbers():
    with pytest.raises(ConfigError) as info:
        parse('a = 1\nb = "open\n')
    assert info.value.line == 2


def test_duplicate_key():
    with pytest.raises(ConfigError, match="duplicate"):
        parse("a = 1\na = 2\n")


def test_dates():
    assert parse("d = 2024-05-01\n")["d"] == datetime.date(2024, 5, 1)
