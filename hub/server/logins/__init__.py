"""NATS access per party, deny by default: one nkey login per country, the hub, the operator
and the server's system account.

Two jobs, one module each: :mod:`~hub.server.logins.credentials` makes, lists, rotates and
loads the logins (seeds, ``nats/nkeys.json``); :mod:`~hub.server.logins.permissions` says
what each may publish and subscribe to and renders the server's ``authorization`` block.
"""

from hub.server.logins.credentials import (
    HUB_USER,
    OPERATOR_USER,
    SYSTEM_ACCOUNT,
    SYSTEM_USER,
    NatsUser,
    ensure_credentials,
    legacy_credentials_path,
    load_user,
    public_keys_path,
    read_logins,
    rotate_login,
    seed_path,
    seeds_dir,
)
from hub.server.logins.permissions import (
    AUDIT_STREAMS,
    DISCONNECT_EVENTS,
    authorization_block,
    authorization_for,
    hub_permissions,
    login_permissions,
    operator_permissions,
    party_permissions,
    system_permissions,
)

__all__ = [
    "AUDIT_STREAMS",
    "DISCONNECT_EVENTS",
    "HUB_USER",
    "OPERATOR_USER",
    "SYSTEM_ACCOUNT",
    "SYSTEM_USER",
    "NatsUser",
    "authorization_block",
    "authorization_for",
    "ensure_credentials",
    "hub_permissions",
    "legacy_credentials_path",
    "load_user",
    "login_permissions",
    "operator_permissions",
    "party_permissions",
    "public_keys_path",
    "read_logins",
    "rotate_login",
    "seed_path",
    "seeds_dir",
    "system_permissions",
]
