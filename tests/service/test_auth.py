"""service.auth on the real databases: what a key's name and scopes may be, how a key is
named for revocation, which scope a key has, and what the audit log says about keys."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service import auth
from service.audit import Actor
from service.db import session_scope
from service.errors import InvalidInput, NotFound
from service.models import ApiKey, AuditEvent

ADMIN = Actor("admin person", None)


def _create(url: str, name: str = "ci", scopes: tuple[str, ...] = ("read",)) -> auth.CreatedKey:
    with session_scope(url) as session:
        return auth.create_key(session, name, scopes, ADMIN)


def _events(url: str, action: str) -> list[tuple[str, str, str, dict[str, object]]]:
    with session_scope(url) as session:
        return [(e.actor, e.target_type, e.target_id, e.detail) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def test_a_created_key_says_what_it_is_and_the_audit_log_records_it(db_url: str) -> None:
    created = _create(db_url, "ci bot", ("write", "read", "WRITE "))
    assert (created.name, created.scopes) == ("ci bot", ["write", "read"])  # deduplicated
    with session_scope(db_url) as session:
        row = session.get_one(ApiKey, created.id)
        assert (row.name, row.created_by) == ("ci bot", "admin person")
        assert created.key == f"msk_{row.prefix}{created.key[4 + 12:]}"
        assert len(created.key) == len("msk_") + 12 + 43  # 12 hex + 32 random bytes, base64
        assert auth.authenticate(session, created.key).id == created.id
    assert _events(db_url, "key.create") == [
        ("admin person", "key", str(created.id),
         {"name": "ci bot", "scopes": ["write", "read"]})]


@pytest.mark.parametrize("name", ["", "   ", "x" * (auth.MAX_NAME_CHARS + 1)])
def test_a_key_needs_a_name_of_1_to_200_characters(db_url: str, name: str) -> None:
    with pytest.raises(InvalidInput, match=r"a key needs a name of 1\.\.200 characters"):
        _create(db_url, name)


def test_a_name_of_exactly_200_characters_is_fine(db_url: str) -> None:
    assert _create(db_url, "x" * auth.MAX_NAME_CHARS).name == "x" * auth.MAX_NAME_CHARS


def test_scopes_are_checked_and_named(db_url: str) -> None:
    with pytest.raises(InvalidInput, match="unknown scope 'root'; scopes are read, write, admin"):
        auth.parse_scopes(["read", "root"])
    with pytest.raises(InvalidInput, match=r"a key needs at least one scope \(read, write or "
                                           r"admin\)"):
        auth.parse_scopes([])


def test_a_key_is_revoked_by_id_once_and_the_audit_log_says_so(db_url: str) -> None:
    kept, gone = _create(db_url, "kept"), _create(db_url, "gone")
    with session_scope(db_url) as session:
        info = auth.revoke_key(session, f" {gone.id} ", ADMIN)
        assert (info.id, info.name, info.revoked_at is not None) == (gone.id, "gone", True)
    with session_scope(db_url) as session:  # twice: nothing changes, nothing more is logged
        assert auth.revoke_key(session, str(gone.id), ADMIN).revoked_at == info.revoked_at
        assert session.get_one(ApiKey, kept.id).revoked_at is None
        assert [k.name for k in auth.list_keys(session)] == ["kept", "gone"]
    assert _events(db_url, "key.revoke") == [
        ("admin person", "key", str(gone.id), {"name": "gone"})]


def test_a_key_that_is_not_there_or_not_named_properly_is_refused(db_url: str) -> None:
    _create(db_url)
    with session_scope(db_url) as session:
        with pytest.raises(NotFound, match="no API key '999'"):
            auth.revoke_key(session, "999", ADMIN)
        with pytest.raises(NotFound, match="no API key 'msk_ffffffff'"):
            auth.revoke_key(session, "msk_ffffffff", ADMIN)
        with pytest.raises(InvalidInput, match=r"name the key by its id, its prefix \(msk_\.\.\.\) "
                                               "or the whole key"):
            auth.revoke_key(session, "ci", ADMIN)
        with pytest.raises(InvalidInput, match="at least 6 characters after 'msk_'"):
            auth.revoke_key(session, "msk_abcde", ADMIN)


def test_a_prefix_start_is_matched_literally(db_url: str) -> None:
    with session_scope(db_url) as session:
        session.add(ApiKey(name="plain", prefix="abcdef000001", hashed_secret="x",
                           scopes=["read"]))
    with session_scope(db_url) as session, pytest.raises(NotFound):
        auth.revoke_key(session, "msk_abcde_", ADMIN)  # "_" is no wildcard


def test_three_keys_sharing_a_start_are_refused_as_more_than_one(db_url: str) -> None:
    with session_scope(db_url) as session:
        for n in range(3):
            session.add(ApiKey(name=f"k{n}", prefix=f"abcdef00000{n}", hashed_secret="x",
                               scopes=["read"]))
    with session_scope(db_url) as session, pytest.raises(
            InvalidInput, match="'msk_abcdef' starts more than one key; give more of the prefix "
                                "`medsafe keys list` shows"):
        auth.revoke_key(session, "msk_abcdef", ADMIN)


@pytest.mark.parametrize(("scopes", "needed", "allowed"), [
    ([], auth.Scope.READ, False),
    (["read"], auth.Scope.READ, True),
    (["read"], auth.Scope.WRITE, False),
    (["write"], auth.Scope.READ, True),
    (["read", "write"], auth.Scope.ADMIN, False),
    (["admin"], auth.Scope.WRITE, True),
    (["gone-scope", "read"], auth.Scope.READ, True),  # a scope no longer known counts nothing
])
def test_a_scope_includes_the_ones_below_it(scopes: list[str], needed: auth.Scope,
                                            allowed: bool) -> None:
    key = ApiKey(id=1, name="k", prefix="p", hashed_secret="x", scopes=scopes)
    if allowed:
        auth.require_scope(key, needed)
        return
    with pytest.raises(auth.Forbidden) as refused:
        auth.require_scope(key, needed)
    assert str(refused.value) == (
        f"this endpoint needs a key with the {needed.value!r} scope; "
        f"key 'k' has {', '.join(scopes) or 'none'}")


@pytest.mark.parametrize(("owner", "scopes", "allowed"), [
    (1, ["write"], True),  # its creator
    (2, ["write"], False),  # another writer
    (None, ["write"], False),  # made without a key (the CLI, a schedule)
    (2, ["admin"], True),
    (None, ["admin"], True),
])
def test_only_its_creator_or_an_admin_changes_a_thing(owner: int | None, scopes: list[str],
                                                      allowed: bool) -> None:
    key = ApiKey(id=1, name="k", prefix="p", hashed_secret="x", scopes=scopes)
    if allowed:
        auth.require_owner(key, owner, "eval e1")
        return
    with pytest.raises(auth.Forbidden, match=r"^eval e1 was not created with this key; only its "
                                             r"creator's key or an admin key may change it$"):
        auth.require_owner(key, owner, "eval e1")
