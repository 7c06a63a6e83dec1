"""Create a web-console user (the first admin is created this way).

usage: .venv-app/bin/python scripts/create_admin.py USERNAME [--role admin] [--password-stdin]
Prompts for the password unless --password-stdin is given.
"""
from __future__ import annotations

import argparse
import getpass
import sys

from common.settings import load_settings
from storage.db import create_all, get_engine
from web.auth import ROLES, AuthError, create_user


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("username")
    parser.add_argument("--role", default="admin", choices=ROLES)
    parser.add_argument("--display-name", default="")
    parser.add_argument("--wecom-userid", default=None)
    parser.add_argument("--password-stdin", action="store_true")
    args = parser.parse_args()
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    engine = get_engine(load_settings().app_database_url)
    create_all(engine)
    try:
        user = create_user(engine, args.username, password, args.role, display_name=args.display_name,
                           wecom_userid=args.wecom_userid)
    except AuthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created {user.role} '{user.username}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
