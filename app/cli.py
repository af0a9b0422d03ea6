"""`takes serve | worker | migrate`."""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="takes", description="Takes: compare video models side by side.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    sub.add_parser("worker", help="run an arq worker (needs REDIS_URL)")
    sub.add_parser("migrate", help="apply database migrations")
    cu = sub.add_parser("create-user", help="make an account (the first one must be --admin: it ends open mode)")
    cu.add_argument("email")
    cu.add_argument("--admin", action="store_true", help="owner of every board, including those made in open mode")
    cu.add_argument("--name", default=None, help="display name (default: the part of the email before @)")
    cu.add_argument("--password-stdin", action="store_true",
                    help="read the password from the first line of standard input instead of prompting")
    sp = sub.add_parser("set-password", help="set an account's password (signs out all its browsers)")
    sp.add_argument("email")
    sp.add_argument("--password-stdin", action="store_true",
                    help="read the password from the first line of standard input instead of prompting")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    from app.settings import get_settings

    settings = get_settings()
    if args.command == "migrate" or getattr(args, "migrate", False):
        from app.migrate import upgrade

        upgrade(settings.database_url)
        if args.command == "migrate":
            print(f"migrated {settings.database_url.split('@')[-1]}")
            return 0
    if args.command in ("create-user", "set-password"):
        return _account_command(settings, args)
    if args.command == "serve":
        import uvicorn

        from app.main import create_app

        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
        return 0
    if args.command == "worker":
        if not settings.redis_url:
            print("takes worker needs REDIS_URL (without it, jobs run inside `takes serve`)", file=sys.stderr)
            return 2
        from arq.worker import run_worker

        from app.jobs.worker import worker_settings

        run_worker(worker_settings())
        return 0
    return 1


def _account_command(settings, args) -> int:
    """`takes create-user EMAIL [--admin]` and `takes set-password EMAIL` (for a forgotten
    password: there is no mail-based reset). The password is prompted for (twice) or read from
    stdin, never taken as an argument (it would land in shell history and `ps`)."""
    import asyncio
    import getpass

    from app.accounts import create_user, reset_password
    from app.db import Database
    from app.errors import InputError

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 2

    from app.migrate import upgrade

    upgrade(settings.database_url)  # a fresh install has no tables yet

    async def run() -> str:
        db = Database(settings)
        try:
            async with db.session() as s:
                if args.command == "set-password":
                    user = await reset_password(s, args.email, password)
                    return f"password set for {user.email}; its browsers were signed out"
                user = await create_user(s, args.email, password, display_name=args.name, is_admin=args.admin)
                return f"created {'admin ' if user.is_admin else ''}{user.email}"
        finally:
            await db.dispose()

    try:
        print(asyncio.run(run()))
    except InputError as exc:
        print(f"takes {args.command}: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
