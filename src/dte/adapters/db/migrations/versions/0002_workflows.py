"""workflows, runs, steps, triggers and the component registry

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import dte.adapters.db.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('components',
    sa.Column('ref', sa.String(length=127), nullable=False),
    sa.Column('version', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('spec', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('ref', name=op.f('pk_components'))
    )
    op.create_table('runs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('twin_id', sa.String(length=32), nullable=False),
    sa.Column('application_version_id', sa.String(length=32), nullable=False),
    sa.Column('bundle_sha256', sa.String(length=64), nullable=False),
    sa.Column('workflow', sa.String(length=63), nullable=False),
    sa.Column('definition_sha256', sa.String(length=64), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('inputs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('trigger', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=63), nullable=False),
    sa.Column('engine_version', sa.String(length=32), nullable=False),
    sa.Column('steps_total', sa.Integer(), nullable=False),
    sa.Column('steps_done', sa.Integer(), nullable=False),
    sa.Column('outputs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('lease_until', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('run_manifest', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('signature', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['application_version_id'], ['application_versions.id'], name=op.f('fk_runs_application_version_id_application_versions')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_runs_project_id_projects')),
    sa.ForeignKeyConstraint(['twin_id'], ['twins.id'], name=op.f('fk_runs_twin_id_twins'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_runs'))
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index('ix_runs_project_created', ['project_id', 'id'], unique=False)
        batch_op.create_index('ix_runs_status', ['status'], unique=False)
        batch_op.create_index('ix_runs_twin_created', ['twin_id', 'id'], unique=False)

    op.create_table('trigger_state',
    sa.Column('twin_id', sa.String(length=32), nullable=False),
    sa.Column('trigger', sa.String(length=63), nullable=False),
    sa.Column('next_due_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pending', sa.BigInteger(), nullable=False),
    sa.Column('last_fired_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_run_id', sa.String(length=32), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['twin_id'], ['twins.id'], name=op.f('fk_trigger_state_twin_id_twins'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('twin_id', 'trigger', name=op.f('pk_trigger_state'))
    )
    with op.batch_alter_table('trigger_state', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trigger_state_next_due_at'), ['next_due_at'], unique=False)

    op.create_table('run_steps',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('component', sa.String(length=127), nullable=False),
    sa.Column('component_version', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('cached', sa.Boolean(), nullable=False),
    sa.Column('inputs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('outputs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('logs', sa.Text(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('worker', sa.String(length=200), nullable=False),
    sa.Column('started_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_run_steps_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'name', name=op.f('pk_run_steps'))
    )
    with op.batch_alter_table('application_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('components', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                                      nullable=False, server_default=sa.text("'[]'")))



def downgrade() -> None:
    with op.batch_alter_table('application_versions', schema=None) as batch_op:
        batch_op.drop_column('components')

    op.drop_table('run_steps')
    with op.batch_alter_table('trigger_state', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trigger_state_next_due_at'))

    op.drop_table('trigger_state')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_twin_created')
        batch_op.drop_index('ix_runs_status')
        batch_op.drop_index('ix_runs_project_created')

    op.drop_table('runs')
    op.drop_table('components')
