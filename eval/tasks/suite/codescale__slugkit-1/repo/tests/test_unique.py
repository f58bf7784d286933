from slugkit.unique import unique_slug


def test_unique_appends_counter():
    assert unique_slug("Hello World", {"hello-world", "hello-world-2"}) == "hello-world-3"
