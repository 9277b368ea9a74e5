"""identity (OIDC users, clients, keys), audit log

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import dte.adapters.db.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_TIME = dte.adapters.db.types.UTCDateTime(timezone=True)


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f(f'fk_{table}_user_id_users'), ondelete='CASCADE')


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('at', _TIME, nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('action', sa.String(length=200), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=True),
    sa.Column('resource', sa.String(length=500), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('detail', _JSON, nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_project_seq', 'audit_log', ['project_id', 'seq'], unique=False)
    op.create_table('signing_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('private_jwk', _JSON, nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('expires_at', _TIME, nullable=False),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_signing_keys'))
    )
    op.create_table('authorization_codes',
    sa.Column('code_sha256', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=63), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('redirect_uri', sa.Text(), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=False),
    sa.Column('scope', sa.String(length=500), nullable=False),
    sa.Column('nonce', sa.String(length=255), nullable=True),
    sa.Column('expires_at', _TIME, nullable=False),
    _user_fk('authorization_codes'),
    sa.PrimaryKeyConstraint('code_sha256', name=op.f('pk_authorization_codes'))
    )
    op.create_table('identities',
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    _user_fk('identities'),
    sa.PrimaryKeyConstraint('issuer', 'subject', name=op.f('pk_identities'))
    )
    op.create_index(op.f('ix_identities_user_id'), 'identities', ['user_id'], unique=False)
    op.create_table('oauth_clients',
    sa.Column('client_id', sa.String(length=63), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.String(length=32), nullable=True),
    sa.Column('redirect_uris', _JSON, nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    _user_fk('oauth_clients'),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_oauth_clients'))
    )
    op.create_table('refresh_tokens',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('family', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('client_id', sa.String(length=63), nullable=False),
    sa.Column('scope', sa.String(length=500), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('expires_at', _TIME, nullable=False),
    sa.Column('used_at', _TIME, nullable=True),
    sa.Column('revoked_at', _TIME, nullable=True),
    _user_fk('refresh_tokens'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_tokens')),
    sa.UniqueConstraint('secret_sha256', name=op.f('uq_refresh_tokens_secret_sha256'))
    )
    op.create_index(op.f('ix_refresh_tokens_family'), 'refresh_tokens', ['family'], unique=False)
    op.create_index(op.f('ix_refresh_tokens_user_id'), 'refresh_tokens', ['user_id'], unique=False)
    op.create_table('user_passwords',
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('hash', sa.Text(), nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    _user_fk('user_passwords'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_user_passwords'))
    )


def downgrade() -> None:
    op.drop_table('user_passwords')
    op.drop_index(op.f('ix_refresh_tokens_user_id'), table_name='refresh_tokens')
    op.drop_index(op.f('ix_refresh_tokens_family'), table_name='refresh_tokens')
    op.drop_table('refresh_tokens')
    op.drop_table('oauth_clients')
    op.drop_index(op.f('ix_identities_user_id'), table_name='identities')
    op.drop_table('identities')
    op.drop_table('authorization_codes')
    op.drop_table('signing_keys')
    op.drop_index('ix_audit_log_project_seq', table_name='audit_log')
    op.drop_table('audit_log')
