"""Health evidence is kept per GPU (its UUID, else its serial, else its node and bus id), not
per node and bus id: a card moved to another slot kept none of its evidence (two double-bit
ECC episodes read as one), and a GPU two registered nodes reported was counted twice.

Rows of the same GPU and evidence become one: the latest sighting's, with the earliest first
sighting, the most occurrences and the worst action. Rows of nodes removed since go (a removed
node's readings go with it).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fleetui.telemetry.health import gpu_key, worst

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("health_event") as batch:
        batch.add_column(sa.Column("gpu", sa.String(100), nullable=True))
    bind = op.get_bind()
    event = sa.table(
        "health_event",
        *(
            sa.column(name)
            for name in (
                "id", "gpu", "node_id", "pci_bus_id", "uuid", "serial", "kind", "code",
                "action", "occurrences", "first_seen", "last_seen",
            )
        ),
    )  # fmt: skip
    nodes = set(bind.execute(sa.text("SELECT id FROM node")).scalars())
    kept: dict[tuple, list] = {}
    gone = []
    for r in bind.execute(sa.select(event).order_by(event.c.last_seen, event.c.id)).all():
        if r.node_id not in nodes:
            gone.append(r.id)
            continue
        kept.setdefault((gpu_key(r._mapping), r.kind, r.code), []).append(r)
    for (gpu, _kind, _code), rows in kept.items():
        *older, last = rows
        gone += [r.id for r in older]
        bind.execute(
            sa.update(event)
            .where(event.c.id == last.id)
            .values(
                gpu=gpu,
                first_seen=min(r.first_seen for r in rows),
                occurrences=max(r.occurrences for r in rows),
                action=worst(r.action for r in rows),
            )
        )
    for start in range(0, len(gone), 500):
        bind.execute(sa.delete(event).where(event.c.id.in_(gone[start : start + 500])))
    with op.batch_alter_table("health_event") as batch:
        batch.alter_column("gpu", existing_type=sa.String(100), nullable=False)
        batch.drop_constraint("uq_health_event_evidence", type_="unique")
        batch.create_unique_constraint("uq_health_event_gpu_evidence", ["gpu", "kind", "code"])


def downgrade() -> None:
    with op.batch_alter_table("health_event") as batch:
        batch.drop_constraint("uq_health_event_gpu_evidence", type_="unique")
        batch.create_unique_constraint(
            "uq_health_event_evidence", ["node_id", "pci_bus_id", "kind", "code"]
        )
        batch.drop_column("gpu")
