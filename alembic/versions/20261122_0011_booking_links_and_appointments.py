"""Appointments (Calendly): each agent's booking link (the `{{booking_link}}` template
variable) and the start of the appointment a lead booked (a scoring factor while it stands).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import UTCDateTime

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("booking_url", sa.String(length=500), nullable=True))
    op.add_column("leads", sa.Column("appointment_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("leads", "appointment_at")
    op.drop_column("users", "booking_url")
