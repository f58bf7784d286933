from eventbus.bus import EventBus
from eventbus.errors import InvalidTopic

__all__ = ["EventBus", "InvalidTopic"]
