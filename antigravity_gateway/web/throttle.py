"""Back-off for repeated failed logins and wrong client keys, per client address.

After ``limit`` failures from one address within ``window`` seconds, that address waits: ``first_wait``
seconds, doubling with every further lock-out up to ``max_wait``. While it waits, its attempts are answered
429 with ``Retry-After`` (the caller decides what a waiting address may still do). A success forgets the
address. The table is bounded: the oldest addresses are dropped first. The clock is injectable for tests.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

LIMIT = 10
WINDOW = 300.0
FIRST_WAIT = 60.0
MAX_WAIT = 900.0
MAX_ADDRESSES = 10_000


@dataclass
class _Entry:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    lockouts: int = 0


class Throttle:
    def __init__(
        self,
        *,
        limit: int = LIMIT,
        window: float = WINDOW,
        first_wait: float = FIRST_WAIT,
        max_wait: float = MAX_WAIT,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.first_wait = first_wait
        self.max_wait = max_wait
        self.max_addresses = max_addresses
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def wait(self, address: str) -> float:
        """Seconds ``address`` must still wait (0 when it may try)."""
        entry = self._entries.get(address)
        if entry is None:
            return 0.0
        return max(0.0, entry.locked_until - self.clock())

    def failure(self, address: str) -> float:
        """Count a failure; return the wait it starts (0 while under the limit)."""
        now = self.clock()
        entry = self._entries.get(address)
        if entry is None:
            entry = self._entries[address] = _Entry()
            while len(self._entries) > self.max_addresses:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(address)
        if entry.lockouts and now > entry.locked_until + self.max_wait:
            entry.lockouts = 0  # quiet for a while: start over at the first wait
        failures = entry.failures
        failures.append(now)
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.limit:
            return 0.0
        failures.clear()
        wait = min(self.max_wait, self.first_wait * float(2**entry.lockouts))
        entry.lockouts = min(entry.lockouts + 1, 16)
        entry.locked_until = now + wait
        return wait

    def success(self, address: str) -> None:
        self._entries.pop(address, None)

    def __len__(self) -> int:
        return len(self._entries)
