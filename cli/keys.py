"""`medsafe keys`: create (printed once), list and revoke API keys."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.console import err
from service import auth, migrate
from service.db import session_scope

keys_app = typer.Typer(help="API keys: create (printed once), list, revoke.",
                       no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")],
    scopes: Annotated[str, typer.Option("--scopes", help="read, write, admin (comma-separated);"
                                        " admin includes write, write includes read.")] = "read",
) -> None:
    """Create a key and print it once to stdout; only its hash is stored."""
    with session_scope(migrate.migrated_database_url()) as session:
        created = auth.create_key(session, name, scopes.split(","))
    err.print(f"key {created.id} ({created.name}, scopes {', '.join(created.scopes)}); "
              "store it now, it is not shown again:")
    print(created.key)


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every key with its prefix, scopes and whether it is revoked (never the secret)."""
    with session_scope(migrate.migrated_database_url()) as session:
        keys = auth.list_keys(session)
    if as_json:
        print(json.dumps([{**vars(k), "created_at": k.created_at.isoformat(),
                           "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}
                          for k in keys], indent=2))
        return
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        print(f"{key.id}\t{key.prefix}\t{key.name}\t{','.join(key.scopes)}\t{state}\t"
              f"{key.created_by or ''}")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="The key's id or prefix (msk_...).")],
                ) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    with session_scope(migrate.migrated_database_url()) as session:
        info = auth.revoke_key(session, key)
    err.print(f"key {info.id} ({info.name}) is revoked")
