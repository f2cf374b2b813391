"""Run the cloud service: ``python -m openvisor.cloud serve`` or ``create-account``."""

from __future__ import annotations

import argparse
import json
import logging
import sys

import uvicorn

from openvisor.cloud.app import create_app
from openvisor.cloud.db import create_db_engine, create_session_factory, migrate, session_scope
from openvisor.cloud.service.accounts import create_account
from openvisor.cloud.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m openvisor.cloud")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the service with uvicorn")
    serve.add_argument("--host", help="address to bind (default OPENVISOR_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default OPENVISOR_PORT or 8080)")
    serve.add_argument("--fd", type=int, help="serve on an inherited, bound socket descriptor")
    account = commands.add_parser(
        "create-account", help="create an account and print its SID and auth token as JSON"
    )
    account.add_argument("--name", default="", help="friendly name of the account")
    account.add_argument("--admin", action="store_true", help="let the account manage accounts")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    if args.command == "serve":
        config = uvicorn.Config(
            create_app(settings),
            host=args.host or settings.host,
            port=args.port or settings.port,
            fd=args.fd,
            log_config=None,
            ws="websockets",
        )
        uvicorn.Server(config).run()
        return 0

    engine = create_db_engine(settings.database_url)
    migrate(engine)
    with session_scope(create_session_factory(engine)) as session:
        created, token = create_account(session, friendly_name=args.name, is_admin=args.admin)
        sid = created.sid
    json.dump({"account_sid": sid, "auth_token": token}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
