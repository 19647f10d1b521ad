"""The memory tables and their versioned migrations.

Each migration has a number and runs once, in order, inside one transaction; the applied numbers
are recorded in ``pygent_schema``. Add a migration by appending to ``MIGRATIONS``; never edit one
that has shipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

metadata = sa.MetaData()

schema_versions = sa.Table(
    "pygent_schema", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)
conversations = sa.Table(
    "conversations", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("agent_id", sa.String(64), index=True),
    sa.Column("title", sa.String(200), nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)
messages = sa.Table(
    "messages", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "conversation_id", sa.String(36),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True,
    ),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("tool_calls", sa.JSON, nullable=True),
    sa.Column("tool_call_id", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)
facts = sa.Table(
    "agent_facts", metadata,
    sa.Column("agent_id", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.JSON, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)
episodes = sa.Table(
    "agent_episodes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("agent_id", sa.String(64), nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("meta", sa.JSON, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

episode_vectors = sa.Table(
    "agent_episode_vectors", metadata,
    sa.Column(
        "episode_id", sa.Integer,
        sa.ForeignKey("agent_episodes.id", ondelete="CASCADE"), primary_key=True,
    ),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),
)
"""An episode's vector (float32 bytes) from the embedder named ``model`` when it was added."""


def _create(*tables: sa.Table) -> Callable[[Connection], None]:
    def run(conn: Connection) -> None:
        for table in tables:
            table.create(conn)

    return run


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "conversations and messages", _create(conversations, messages)),
    (2, "per-agent facts and episodes", _create(facts, episodes)),
    (3, "episode vectors", _create(episode_vectors)),
]


def migrate(conn: Connection) -> list[int]:
    """Bring the schema up to date; return the versions applied now."""
    schema_versions.create(conn, checkfirst=True)
    done = set(conn.scalars(sa.select(schema_versions.c.version)))
    applied = []
    for version, description, run in MIGRATIONS:
        if version in done:
            continue
        run(conn)
        conn.execute(schema_versions.insert().values(
            version=version, description=description, applied_at=time.time()
        ))
        applied.append(version)
    return applied


def current_version(conn: Connection) -> int:
    """The highest applied migration (0 on an empty database)."""
    return conn.scalar(sa.select(sa.func.max(schema_versions.c.version))) or 0
