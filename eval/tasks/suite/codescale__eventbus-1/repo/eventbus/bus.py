"""The bus: subscriptions by topic, delivery in subscription order."""

import itertools

from eventbus.errors import HandlerError
from eventbus.topics import split_topic


class EventBus:
    def __init__(self):
        self._subscriptions = {}  # token -> (topic, handler)
        self._tokens = itertools.count(1)
        self.errors = []

    def subscribe(self, topic, handler):
        """Call `handler(topic, payload)` for every event published to `topic`; returns a token."""
        split_topic(topic)
        token = next(self._tokens)
        self._subscriptions[token] = (topic, handler)
        return token

    def unsubscribe(self, token):
        self._subscriptions.pop(token, None)

    def handlers_for(self, topic):
        return [handler for subscribed, handler in self._subscriptions.values() if subscribed == topic]

    def publish(self, topic, payload=None):
        """Deliver `payload` to the handlers of `topic`; returns how many were called."""
        split_topic(topic)
        handlers = self.handlers_for(topic)
        for handler in handlers:
            try:
                handler(topic, payload)
            except Exception as e:  # one bad handler must not stop the others
                self.errors.append(HandlerError(topic, handler, e))
        return len(handlers)
