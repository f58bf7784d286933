import pytest

from eventbus.errors import InvalidTopic
from eventbus.topics import split_topic


def test_valid_topics():
    assert split_topic("order.item-added.v2") == ["order", "item-added", "v2"]


def test_invalid_topics():
    for topic in ["", "order..paid", ".order", "order.", "order paid", "order.*", None]:
        with pytest.raises(InvalidTopic):
            split_topic(topic)
