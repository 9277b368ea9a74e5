"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-24 23:41:26.948282
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import dte.adapters.db.types

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('artifacts',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('created_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_artifacts'))
    )
    op.create_table('projects',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects')),
    sa.UniqueConstraint('name', name=op.f('uq_projects_name'))
    )
    op.create_table('users',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('username', sa.String(length=63), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('platform_admin', sa.Boolean(), nullable=False),
    sa.Column('created_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('applications',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('summary', sa.String(length=200), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('tag_index', sa.Text(), nullable=False),
    sa.Column('latest_version', sa.String(length=100), nullable=True),
    sa.Column('created_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_applications_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applications')),
    sa.UniqueConstraint('name', name=op.f('uq_applications_name'))
    )
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_applications_project_id'), ['project_id'], unique=False)

    op.create_table('memberships',
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('added_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_memberships_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_memberships_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'user_id', name=op.f('pk_memberships'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memberships_user_id'), ['user_id'], unique=False)

    op.create_table('tokens',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_tokens_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tokens')),
    sa.UniqueConstraint('secret_sha256', name=op.f('uq_tokens_secret_sha256'))
    )
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('application_versions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('application_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.String(length=100), nullable=False),
    sa.Column('manifest', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('bundle_sha256', sa.String(length=64), nullable=False),
    sa.Column('published_by', sa.String(length=63), nullable=False),
    sa.Column('published_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deprecated', sa.Boolean(), nullable=False),
    sa.Column('deprecation_message', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_application_versions_application_id_applications'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['bundle_sha256'], ['artifacts.sha256'], name=op.f('fk_application_versions_bundle_sha256_artifacts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application_versions')),
    sa.UniqueConstraint('application_id', 'version', name=op.f('uq_application_versions_application_id'))
    )
    op.create_table('twins',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('application_version_id', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('parameters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('bindings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('reported', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('desired', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_version_id'], ['application_versions.id'], name=op.f('fk_twins_application_version_id_application_versions')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_twins_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_twins')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_twins_project_id'))
    )
    with op.batch_alter_table('twins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_twins_application_version_id'), ['application_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_twins_project_id'), ['project_id'], unique=False)

    op.create_table('twin_revisions',
    sa.Column('twin_id', sa.String(length=32), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('reported', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('desired', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('parameters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('bindings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('change', sa.String(length=64), nullable=False),
    sa.Column('changed_by', sa.String(length=63), nullable=False),
    sa.Column('changed_at', dte.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['twin_id'], ['twins.id'], name=op.f('fk_twin_revisions_twin_id_twins'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('twin_id', 'revision', name=op.f('pk_twin_revisions'))
    )
    with op.batch_alter_table('twin_revisions', schema=None) as batch_op:
        batch_op.create_index('ix_twin_revisions_twin_time', ['twin_id', 'changed_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('twin_revisions', schema=None) as batch_op:
        batch_op.drop_index('ix_twin_revisions_twin_time')

    op.drop_table('twin_revisions')
    with op.batch_alter_table('twins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_twins_project_id'))
        batch_op.drop_index(batch_op.f('ix_twins_application_version_id'))

    op.drop_table('twins')
    op.drop_table('application_versions')
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tokens_user_id'))

    op.drop_table('tokens')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_memberships_user_id'))

    op.drop_table('memberships')
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_applications_project_id'))

    op.drop_table('applications')
    op.drop_table('users')
    op.drop_table('projects')
    op.drop_table('artifacts')
