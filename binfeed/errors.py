"""Every exception binfeed raises, in one tree.

    BinfeedError                      anything binfeed raises on purpose
     +-- QueueError                   the queue could not be used
     |    +-- QueueLockedError        another live writer holds the queue (BF_ELOCKED)
     |    +-- QueueCorruptError       a segment is not valid binfeed data (BF_ECORRUPT)
     |    |    +-- DamagedRecordError  a reader met damage and skipped it (BF_EDAMAGED)
     |    +-- QueueVersionError       written by a newer binfeed (BF_EVERSION)
     |    +-- QueueNotFoundError      no queue (or no segment yet) at that path (BF_ENOTFOUND)
     |    +-- DiskFullError           no space to create a segment (BF_ENOSPC)
     |    +-- QueueIOError            a system call failed (BF_EIO)
     |    +-- QueueClosedError        the handle was closed (BF_ECLOSED)
     +-- InvalidRecordError           a record or argument was refused (BF_EINVAL, BF_ESYMBOL)
     +-- FrameError                   a frame could not be parsed; nothing was written
     |                                (BF_EJSON, BF_EFIELD, BF_ENUMBER, BF_EUNKNOWN, BF_ETOOBIG)
     +-- ReadTimeout                  nothing arrived before the deadline (BF_ETIMEOUT)
     +-- ProtocolError                the exchange (or a server) broke Binance's protocol
     +-- SubscriptionError            the server refused a subscription
     +-- EndpointError                the endpoint refused the recorder for good
     +-- ConfigError                  a configuration file or option is invalid
     +-- SelectionError               --symbols (or a record type) matches nothing in the queue
     +-- MissingExtraError            an optional dependency is not installed (also ImportError)

Each message says what happened and what to do next.
"""

from __future__ import annotations


class BinfeedError(Exception):
    """Root of every exception binfeed raises on purpose.

    Attributes:
        status: the C status code (negative ``BF_E*``) when the error came from C, else 0.
    """

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class QueueError(BinfeedError):
    """The queue could not be opened, read or written."""


class QueueLockedError(QueueError):
    """Another live writer holds the queue; stop it, or write to another directory."""


class QueueCorruptError(QueueError):
    """A segment file is damaged or is not binfeed data."""


class DamagedRecordError(QueueCorruptError):
    """A reader met damage (a record failing its checksum, a missing segment, an unreadable
    header) and skipped it; it was never returned as data.

    The reader has moved past it: reading again goes on with the next good record.

    Attributes:
        damage: what and where (a :class:`binfeed.queue.Damage`).
    """

    def __init__(self, message: str, status: int = 0, damage: object = None) -> None:
        super().__init__(message, status)
        self.damage = damage


class QueueVersionError(QueueError):
    """The queue was written by a newer binfeed; upgrade binfeed to read it."""


class QueueNotFoundError(QueueError):
    """There is no queue (or no segment yet) at that path."""


class DiskFullError(QueueError):
    """No space was left to create a segment; nothing was written."""


class QueueIOError(QueueError):
    """A system call on the queue's files failed."""


class QueueClosedError(QueueError):
    """The queue handle was already closed."""


class InvalidRecordError(BinfeedError):
    """A record or an argument was refused; nothing was written."""


class FrameError(BinfeedError):
    """A frame could not be parsed into a record; nothing was written."""


class ReadTimeout(BinfeedError):
    """Nothing arrived before the deadline."""


class ProtocolError(BinfeedError):
    """The peer broke Binance's WebSocket protocol."""


class SubscriptionError(BinfeedError):
    """The server refused a subscription."""


class EndpointError(BinfeedError):
    """The endpoint refused the recorder in a way retrying cannot fix (a person must act:
    the message says what to check)."""


class ConfigError(BinfeedError):
    """A configuration file or option is invalid."""


class SelectionError(BinfeedError):
    """What was asked for (symbols, a record type) is not in the queue; the message says
    what the queue has."""


class MissingExtraError(BinfeedError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
