"""The reasoning sessions' WebSocket frames.

``start_reasoning`` (the fields of ``POST /api/v1/reasoning/start``) starts a session and is
answered with ``reasoning_started`` (its ``session_id``), one ``reasoning_update`` per
``tot.*`` node event of that session (``event``: the topic; ``node``: the node as it stands after
the event), then ``reasoning_complete`` (``state``; ``result``: the ReasoningResult as a dict
when completed, else ``error``). The frame's handler follows the session until it ends, in its
own task: other frames of the socket go on meanwhile; a closed socket leaves the session running.
``stop_reasoning`` (``session_id``) stops a session, answered with ``reasoning_stopped``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
from pygent_sdk.http import AuthFailed, WsHandler, WsSession

from .http import start_params
from .sessions import EVENT_BUFFER, LiveTree, Sessions


def handlers(sessions: Sessions) -> dict[str, WsHandler]:
    """``start_reasoning`` and ``stop_reasoning`` over ``sessions``."""

    async def start_reasoning(session: WsSession, frame: Mapping[str, Any]) -> None:
        if not session.principal.may("write"):
            raise AuthFailed(403, "start_reasoning needs the 'write' permission")
        params = start_params({k: v for k, v in frame.items() if k not in ("type", "id")})
        echo = {"id": frame["id"]} if "id" in frame else {}
        bus = sessions.context.bus
        # subscribed before the session starts, so that none of its events is missed
        with bus.subscribe("tot.>", maxsize=EVENT_BUFFER, name="ws-reasoning") as sub:
            job = await sessions.start(params)
            await session.send({"type": "reasoning_started", "session_id": job.id, "state": job.state,
                                "mode": job.params["mode"], **echo})
            tree = LiveTree(job.id)

            async def forward() -> None:
                async for event in sub:  # ends once closed and read to the end
                    node = tree.apply(event)
                    if node is not None:
                        await session.send({"type": "reasoning_update", "session_id": job.id,
                                            "event": event.topic, "node": dict(node), **echo})

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(forward)
                final = await sessions.wait(job.id)
                sub.close()  # every event of the session was published before its job ended
        await session.send({
            "type": "reasoning_complete", "session_id": job.id, "state": final.state,
            "result": final.result if final.state == "completed" else None, "error": final.error, **echo,
        })

    async def stop_reasoning(session: WsSession, frame: Mapping[str, Any]) -> None:
        if not session.principal.may("write"):
            raise AuthFailed(403, "stop_reasoning needs the 'write' permission")
        session_id = frame.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            raise ValueError('"session_id" must be the id of a session (from its "reasoning_started" frame)')
        job = await sessions.stop(session_id)
        await session.send({"type": "reasoning_stopped", "session_id": job.id, "state": job.state,
                            "error": job.error, **({"id": frame["id"]} if "id" in frame else {})})

    return {"start_reasoning": start_reasoning, "stop_reasoning": stop_reasoning}
