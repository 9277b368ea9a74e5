"""devices, observations, rules, alerts and commands

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import dte.adapters.db.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None
def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
    utc = dte.adapters.db.types.UTCDateTime(timezone=True)
    op.create_table('devices',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('twin_id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('channels', json, nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=63), nullable=False),
    sa.Column('created_at', utc, nullable=False),
    sa.Column('revoked_at', utc, nullable=True),
    sa.Column('last_seen_at', utc, nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_devices_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['twin_id'], ['twins.id'], name=op.f('fk_devices_twin_id_twins'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices')),
    sa.UniqueConstraint('secret_sha256', name=op.f('uq_devices_secret_sha256')),
    sa.UniqueConstraint('twin_id', 'name', name=op.f('uq_devices_twin_id'))
    )
    op.create_index(op.f('ix_devices_project_id'), 'devices', ['project_id'], unique=False)
    op.create_table('observations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('twin_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=63), nullable=False),
    sa.Column('time_us', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('received_at', utc, nullable=False),
    sa.ForeignKeyConstraint(['twin_id'], ['twins.id'], name=op.f('fk_observations_twin_id_twins'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_observations')),
    sa.UniqueConstraint('twin_id', 'source', 'seq', name='uq_observations_source_seq')
    )
    op.create_index('ix_observations_twin_channel_time', 'observations', ['twin_id', 'channel', 'time_us'], unique=False)
    op.create_table('commands',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('twin_id', sa.String(length=32), nullable=False),
    sa.Column('device_id', sa.String(length=32), nullable=True),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('arguments', json, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=63), nullable=False),
    sa.Column('created_at', utc, nullable=False),
    sa.Column('expires_at', utc, nullable=False),
    sa.Column('delivered_at', utc, nullable=True),
    sa.Column('completed_at', utc, nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_commands_device_id_devices'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['twin_id'], ['twins.id'], name=op.f('fk_commands_twin_id_twins'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commands'))
    )
    op.create_index('ix_commands_twin_status', 'commands', ['twin_id', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_commands_twin_status', table_name='commands')
    op.drop_table('commands')
    op.drop_index('ix_observations_twin_channel_time', table_name='observations')
    op.drop_table('observations')
    op.drop_index(op.f('ix_devices_project_id'), table_name='devices')
    op.drop_table('devices')
