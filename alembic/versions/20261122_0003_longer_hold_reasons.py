"""Longer hold reasons on messages: the compliance guard explains a hold in full.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:02:31.766092
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.alter_column('hold_reason',
               existing_type=sa.VARCHAR(length=64),
               type_=sa.String(length=255),
               existing_nullable=True)


def downgrade() -> None:
    # Longer reasons would not fit back into 64 characters.
    op.execute("UPDATE messages SET hold_reason = substr(hold_reason, 1, 64) WHERE length(hold_reason) > 64")
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.alter_column('hold_reason',
               existing_type=sa.String(length=255),
               type_=sa.VARCHAR(length=64),
               existing_nullable=True)

