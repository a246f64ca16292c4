"""``marketguard users``: officer accounts of the review workspace (home/workspace.db).

marketguard users add NAME --role reviewer|supervisor|admin [--password-stdin]
marketguard users passwd NAME [--password-stdin]
marketguard users list
marketguard users token NAME [--label LABEL]    an API token for scripts, shown once
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from marketguard.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="manage review workspace accounts")
    users_sub = users.add_subparsers(title="users commands")

    add = users_sub.add_parser("add", help="create an account")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("reviewer", "supervisor", "admin"))
    _common(add)
    add.set_defaults(func=cmd_add)

    passwd = users_sub.add_parser("passwd", help="set an account's password (ends its sessions)")
    passwd.add_argument("name")
    _common(passwd)
    passwd.set_defaults(func=cmd_passwd)

    listing = users_sub.add_parser("list", help="list accounts")
    _store(listing)
    listing.set_defaults(func=cmd_list)

    token = users_sub.add_parser("token", help="make an API token for an account (shown once)")
    token.add_argument("name")
    token.add_argument("--label", default="script")
    _store(token)
    token.set_defaults(func=cmd_token)


def _store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", type=Path, default=None, help="store folder (default $MARKETGUARD_HOME or ./var)"
    )


def _common(parser: argparse.ArgumentParser) -> None:
    _store(parser)
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


def _workspace(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from api.workspace_db import open_workspace

    settings = Settings.from_env()
    return open_workspace(args.store if args.store is not None else settings.home)


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("密码 password: ")
    if getpass.getpass("再次输入 again: ") != first:
        print("两次输入的密码不一致 (passwords differ)", file=sys.stderr)
        return None
    return first


def cmd_add(args: argparse.Namespace) -> int:
    from api.accounts import audit
    from api.accounts.passwords import WeakPasswordError
    from api.accounts.users import UserExistsError, create_user

    password = _password(args)
    if password is None:
        return 2
    db = _workspace(args)
    try:
        user = create_user(db, args.name, args.role, password)
    except (UserExistsError, WeakPasswordError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    audit.record(db, "cli", "user.create", f"user:{user.name}", after={"role": user.role})
    print(f"created {user.name} ({user.role})")
    db.close()
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    from api.accounts import audit
    from api.accounts.passwords import WeakPasswordError
    from api.accounts.users import UnknownUserError, set_password

    password = _password(args)
    if password is None:
        return 2
    db = _workspace(args)
    try:
        set_password(db, args.name, password)
    except (UnknownUserError, WeakPasswordError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    audit.record(db, "cli", "user.passwd", f"user:{args.name}")
    print(f"password of {args.name} changed")
    db.close()
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from api.accounts.users import list_users

    db = _workspace(args)
    for user in list_users(db):
        print(f"{user.name}\t{user.role}")
    db.close()
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from api.accounts import audit
    from api.accounts.tokens import create_token
    from api.accounts.users import list_users

    db = _workspace(args)
    user = next((u for u in list_users(db) if u.name.lower() == args.name.lower()), None)
    if user is None:
        print(f"error: no account {args.name!r}", file=sys.stderr)
        return 1
    token_id, token = create_token(db, user, args.label)
    audit.record(db, "cli", "token.create", f"token:{token_id}", after={"user": user.name})
    print(token)
    db.close()
    return 0
