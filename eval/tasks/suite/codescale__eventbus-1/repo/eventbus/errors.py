class InvalidTopic(ValueError):
    """A topic name that is not a dot-separated list of segments."""


class HandlerError:
    """What a failing handler raised, kept so that publishing goes on."""

    def __init__(self, topic, handler, exception):
        self.topic, self.handler, self.exception = topic, handler, exception

    def __repr__(self):
        return f"HandlerError({self.topic!r}, {getattr(self.handler, '__name__', self.handler)!r}, {self.exception!r})"
