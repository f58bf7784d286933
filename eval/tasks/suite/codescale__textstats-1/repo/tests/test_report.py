from textstats.report import summary


def test_summary_lines():
    lines = summary("red green red blue", n=2).splitlines()
    assert lines[0] == "words: 4"
    assert lines[1] == "distinct: 3"
    assert lines[2].split() == ["red", "2"]
    assert lines[3].split() == ["blue", "1"]
