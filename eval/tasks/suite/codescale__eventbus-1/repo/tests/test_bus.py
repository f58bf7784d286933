from eventbus import EventBus


def record(log, name):
    return lambda topic, payload: log.append((name, topic, payload))


def test_exact_topic():
    bus, log = EventBus(), []
    bus.subscribe("order.created", record(log, "a"))
    bus.publish("order.created", 1)
    assert log == [("a", "order.created", 1)]


def test_other_topics_not_delivered():
    bus, log = EventBus(), []
    bus.subscribe("order.created", record(log, "a"))
    bus.publish("order.paid", 1)
    bus.publish("order", 1)
    assert log == []


def test_publish_returns_handler_count():
    bus = EventBus()
    bus.subscribe("x", lambda t, p: None)
    bus.subscribe("x", lambda t, p: None)
    assert bus.publish("x") == 2


def test_unsubscribe():
    bus, log = EventBus(), []
    token = bus.subscribe("x", record(log, "a"))
    bus.unsubscribe(token)
    bus.publish("x")
    assert log == []


def test_handler_errors_are_collected():
    bus, log = EventBus(), []

    def broken(topic, payload):
        raise RuntimeError("boom")

    bus.subscribe("x", broken)
    bus.subscribe("x", record(log, "b"))
    assert bus.publish("x", 2) == 2
    assert log == [("b", "x", 2)]
    assert str(bus.errors[0].exception) == "boom"
