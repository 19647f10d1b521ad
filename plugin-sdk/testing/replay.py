"""ReplayModel lives in :mod:`pygent_sdk.replay`; re-exported here for tests."""

from ..replay import Mode, NotRecorded, ReplayModel, request_key

__all__ = ["Mode", "NotRecorded", "ReplayModel", "request_key"]
