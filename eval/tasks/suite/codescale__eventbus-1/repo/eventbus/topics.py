"""Topic names: segments of letters, digits, '_' and '-', joined by dots."""

import re

from eventbus.errors import InvalidTopic

SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def split_topic(topic):
    """The segments of `topic`, or InvalidTopic."""
    if not isinstance(topic, str) or not topic:
        raise InvalidTopic(f"topic must be a non-empty string, not {topic!r}")
    segments = topic.split(".")
    for segment in segments:
        if not SEGMENT.fullmatch(segment):
            raise InvalidTopic(f"bad segment {segment!r} in topic {topic!r}")
    return segments
