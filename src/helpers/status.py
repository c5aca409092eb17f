"""The status of one report in a run: the vocabulary shared by the engine and the publishers.

A neutral module (it imports nothing of the project) so that :mod:`helpers.publish.portal` can
name the statuses the engine writes without importing the engine. The members are ``str``
values (``StrEnum``): ``Status.DONE == "done"``, JSON, the ledger and the manifest hold the
plain strings, and a status read back from a file compares equal to its member.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """What became of one report (a job) in a run."""

    DONE = "done"  # executed and published by this run
    CACHED = "cached"  # published from the cache entry of its current key
    FAILED = "failed"  # executed and failed (or could not be executed); not published
    NOT_REBUILT = "not_rebuilt"  # outside a narrowed run and out of date: listed, not published
    BLOCKED = "blocked"  # the disclosure scan refused the month because of this report


#: The statuses a month's portal lists (a blocked month is never published, so never listed).
PORTAL_STATUSES: tuple[Status, ...] = (
    Status.DONE,
    Status.CACHED,
    Status.FAILED,
    Status.NOT_REBUILT,
)
#: The statuses whose report files are published in the month.
PUBLISHED: frozenset[Status] = frozenset({Status.DONE, Status.CACHED})
