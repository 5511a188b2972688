"""Bounded notifications: each channel sends from a thread of its own, at most `limit` messages
in any `window` (ROLLBACK_NOTIFY_LIMIT per ROLLBACK_NOTIFY_WINDOW, default 10 per minute).
While a channel is at its cap, messages wait; the last message a window allows carries every
message waiting then, as one digest. So a storm of alerts costs each channel at most `limit`
messages a window, and no message is dropped: each is sent alone or in a digest.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from rollback.notify import Message, Sender
from rollback.plan import URGENCY
from rollback.policy import Channel

_RANK: dict[str, int] = {str(name): rank for name, rank in URGENCY.items()}
DIGEST_CHARS = 3_000  # beyond this a digest lists only the first line of each message
DIGEST_MAX = 30_000  # and beyond this only a count (Slack cuts a message's text at 40,000)

# (channel, the messages of one post, outcome sent|digest|failed, detail) -> audit and metrics
Result = Callable[[Channel, list[Message], str, str], None]


@dataclass
class _Channel:
    send: Sender
    queue: list[Message] = field(default_factory=list)
    posts: deque[float] = field(default_factory=deque)  # when the posts of the last window went
    sending: bool = False


class Outbox:
    def __init__(
        self,
        senders: dict[Channel, Sender],
        *,
        limit: int,
        window: float,
        on_result: Result,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window
        self._on_result = on_result
        self._clock = clock
        self._changed = threading.Condition()
        self._closing = False
        self._channels = {name: _Channel(send) for name, send in senders.items()}
        self._threads = [
            threading.Thread(target=self._loop, args=(name,), daemon=True, name=f"notify-{name}")
            for name in self._channels
        ]
        for thread in self._threads:
            thread.start()

    def post(self, channel: Channel, message: Message) -> None:
        if channel not in self._channels:
            self._on_result(channel, [message], "not_configured", f"no settings for {channel}")
            return
        with self._changed:
            self._channels[channel].queue.append(message)
            self._changed.notify_all()

    def idle(self) -> bool:
        with self._changed:
            return not any(c.queue or c.sending for c in self._channels.values())

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (within the cap), then stop."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self, name: Channel) -> None:
        channel = self._channels[name]
        while True:
            with self._changed:
                batch = self._next(channel)
                if batch is None:
                    return
                channel.sending = True
            message = batch[0] if len(batch) == 1 else digest(batch, self._limit, self._window)
            try:
                channel.send(message)
                outcome, detail = ("sent" if len(batch) == 1 else "digest"), ""
            except Exception as error:  # a channel failing must not stop the others
                outcome, detail = "failed", describe(error)
            self._on_result(name, batch, outcome, detail)
            with self._changed:
                channel.sending = False
                self._changed.notify_all()

    def _next(self, channel: _Channel) -> list[Message] | None:
        """Wait (holding the condition) for what this channel may send now."""
        while True:
            now = self._clock()
            while channel.posts and channel.posts[0] <= now - self._window:
                channel.posts.popleft()
            if not channel.queue:
                if self._closing:
                    return None
                self._changed.wait()
                continue
            if len(channel.posts) >= self._limit:
                self._changed.wait(channel.posts[0] + self._window - now)
                continue
            channel.posts.append(now)
            last_of_window = len(channel.posts) == self._limit
            count = len(channel.queue) if last_of_window else 1
            batch, channel.queue[:] = channel.queue[:count], channel.queue[count:]
            return batch


def digest(batch: list[Message], limit: int, window: float) -> Message:
    """One message for many: the whole of each while it fits, then their first lines."""
    head = (
        f"{len(batch)} rollback notifications at once (this channel sends at most {limit} "
        f"every {window:g}s; the audit log has each in full):"
    )
    lines, size = [head], len(head)
    for n, message in enumerate(batch):
        text = message.text if size + len(message.text) < DIGEST_CHARS else None
        if text is None and size > DIGEST_MAX:
            lines.append(f"... and {len(batch) - n} more")
            break
        text = text or message.text.splitlines()[0]
        lines.append(text)
        size += len(text)
    strategy = min((m.strategy for m in batch), key=lambda s: _RANK.get(s, len(_RANK)))
    escalation = any(m.escalation for m in batch)
    return Message(
        f"digest:{batch[0].group_key}", strategy, "\n\n".join(lines), escalation=escalation
    )


def describe(error: Exception) -> str:
    """Type and HTTP status only: an exception message may carry a webhook URL or a key."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    return type(error).__name__ + (f" (HTTP {status})" if status else "")
