"""`takes serve | worker | migrate | create-user | set-password | prices`."""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    from app.settings import get_settings

    settings = get_settings()
    from app.accounts import use_profile

    use_profile(settings.argon2_profile)
    if args.command == "migrate" or getattr(args, "migrate", False):
        from app.migrate import upgrade

        upgrade(settings.database_url)
        if args.command == "migrate":
            print(f"migrated {settings.database_url.split('@')[-1]}")
            return 0
    if args.command in ("create-user", "set-password"):
        return _account_command(settings, args)
    if args.command == "prices":
        return _prices_command(settings, args)
    if args.command == "serve":
        return _serve_command(settings, args)
    if args.command == "worker":
        return _worker_command(settings)
    return 1


def _parser() -> argparse.ArgumentParser:
    """Every subcommand and its options (argparse builds `takes --help` from them)."""
    parser = argparse.ArgumentParser(prog="takes", description="Takes: compare video models side by side.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    serve.add_argument("--workers", type=int, default=1,
                       help="web processes (uvicorn workers) sharing the port; rate limits are divided among them")
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
    pr = sub.add_parser("prices", help="read a provider's current prices into the catalog")
    pr.add_argument("provider", choices=["replicate", "fal"],
                    help="replicate: its prices are published only on its model pages, not in its API; "
                         "fal: its Platform API's pricing endpoint (needs FAL_KEY)")
    pr.add_argument("--out", default=None, help="price file to write (default: CATALOG_DIR/<provider>-prices.toml)")
    pr.add_argument("--site", default=None, help="replicate: where the model pages are (default: https://replicate.com)")
    pr.add_argument("--api", default=None,
                    help="fal: the Platform API's base URL (default: FAL_API_URL, https://api.fal.ai/v1)")
    pr.add_argument("--dry-run", action="store_true", help="print the price file instead of writing it")
    return parser


def uvicorn_options(settings) -> dict:
    """How long a stop waits for open requests (SHUTDOWN_GRACE_S: an open event stream held
    `takes serve` past SIGTERM until it was killed), and whose X-Forwarded-For / -Proto to
    believe: only the proxies FORWARDED_ALLOW_IPS names.
    uvicorn's own default trusts 127.0.0.1, so any local client (or a local proxy that passes
    the header through) could choose the address the sign-in and vote limits count by."""
    trusted = [ip.strip() for ip in settings.forwarded_allow_ips.split(",") if ip.strip()]
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None,
            "timeout_graceful_shutdown": settings.shutdown_grace_s}


def _serve_command(settings, args) -> int:
    """One process, or with --workers N, N uvicorn worker processes, each building the app from
    the environment (app.main.create_app as a factory). Before they start: the signing key is
    made once (every worker must sign cookies with the same one) and WEB_WORKERS tells each
    worker how many share the in-memory rate limits (app.ratelimit.Limits divides them)."""
    import os

    import uvicorn

    if args.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers == 1:
        from app.main import create_app

        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info",
                    **uvicorn_options(settings))
        return 0
    settings.resolved_secret()   # written now, read by every worker
    os.environ["WEB_WORKERS"] = str(args.workers)
    uvicorn.run("app.main:create_app", factory=True, workers=args.workers, host=args.host, port=args.port,
                log_level="info", **uvicorn_options(settings))
    return 0


def _worker_command(settings) -> int:
    """`takes worker`: an arq worker that reconnects after a Redis or PostgreSQL outage
    instead of exiting. Without Redis there is no queue to read, so it refuses (jobs then
    run inside `takes serve`)."""
    if not settings.redis_url:
        print("takes worker needs REDIS_URL (without it, jobs run inside `takes serve`)", file=sys.stderr)
        return 2
    from app.jobs.worker import run_forever

    return run_forever(settings)


def _account_command(settings, args) -> int:
    """`takes create-user EMAIL [--admin]` and `takes set-password EMAIL` (for a forgotten
    password: there is no mail-based reset). The password is prompted for (twice) or read from
    stdin, never taken as an argument (it would land in shell history and `ps`)."""
    import asyncio
    import getpass

    from app.accounts import create_user, reset_password
    from app.db import Database
    from app.errors import TakesError

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
    except TakesError as exc:
        print(f"takes {args.command}: {exc.message}", file=sys.stderr)
        return 2
    return 0




def _prices_command(settings, args) -> int:
    """`takes prices replicate|fal`: read each model's current rate (Replicate: its model page;
    fal: its Platform API) and write the rates found, with their source and the date, as
    `[[price]]` tables in the catalog directory. Models it cannot price are listed with the
    reason; they keep whatever price the catalog has (often "price unknown")."""
    import asyncio
    from pathlib import Path

    from app.catalog import load_catalog

    out = Path(args.out) if args.out else Path(settings.catalog_dir) / f"{args.provider}-prices.toml"
    catalog = load_catalog(settings.catalog_dir)  # a user's own entries get priced too
    if args.provider == "fal":
        from app.catalog.fal_prices import fetch_prices, price_file

        if not settings.fal_key:
            print("FAL_KEY is not set: the pricing API needs an API key", file=sys.stderr)
            return 2
        api = (args.api or settings.fal_api_url).rstrip("/")
        results = asyncio.run(fetch_prices(catalog, api_url=api, key=settings.fal_key))
        text = price_file(results, api_url=api)
    else:
        from app.catalog.replicate_prices import SITE_URL, fetch_prices, price_file

        site = (args.site or SITE_URL).rstrip("/")
        results = asyncio.run(fetch_prices(catalog, site_url=site))
        text = price_file(results, site_url=site)
    priced = [r for r in results if r.fields]
    for r in results:
        if r.fields:
            rate = r.fields["price_per_second"]
            extra = r.fields.get("price_per_second_by_resolution") or {}
            detail = ", ".join(f"{k} ${v:g}" for k, v in extra.items()) or (
                f"${rate:g}/s" + (f", ${r.fields['price_per_second_audio']:g}/s with audio"
                                   if r.fields.get("price_per_second_audio") else ""))
            note = getattr(r, "note", "")
            print(f"{r.model_id}: {detail}" + (f" ({note})" if note else ""))
        else:
            print(f"{r.model_id}: no price ({r.problem})", file=sys.stderr)
    if args.dry_run:
        print(text, end="")
    elif priced:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {len(priced)} of {len(results)} prices to {out}; restart takes to use them")
    else:
        print(f"no prices found; {out} left as it was", file=sys.stderr)
    return 0 if priced else 1


if __name__ == "__main__":
    sys.exit(main())
