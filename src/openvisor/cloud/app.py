"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from openvisor import __version__
from openvisor.cloud.api.deps import ServiceState
from openvisor.cloud.api.errors import install_error_handlers
from openvisor.cloud.api.middleware import BodySizeLimit, Metrics, MetricsMiddleware
from openvisor.cloud.api.routes import (
    apps,
    configs,
    deployments,
    devices,
    keys,
    logs,
    reports,
    system,
)
from openvisor.cloud.db import create_db_engine, create_session_factory, migrate, session_scope
from openvisor.cloud.debugrelay import DebugRelay, create_router
from openvisor.cloud.devicelink import DeviceLinkConsumer
from openvisor.cloud.security import SecretBox
from openvisor.cloud.service.accounts import ensure_admin_account
from openvisor.cloud.service.httpproxy import ProxyPolicy
from openvisor.cloud.settings import Settings
from openvisor.cloud.signing import load_signer
from openvisor.link.base import ServiceLink

log = logging.getLogger(__name__)


def start_service(settings: Settings) -> ServiceState:
    """Connect to the database, migrate it, bootstrap the admin and load the signing key."""
    engine = create_db_engine(settings.database_url)
    migrate(engine)
    sessions = create_session_factory(engine)
    box = SecretBox(settings.secrets_key)
    with session_scope(sessions) as session:
        if settings.admin_account_sid and settings.admin_auth_token:
            ensure_admin_account(
                session,
                account_sid=settings.admin_account_sid,
                auth_token=settings.admin_auth_token,
            )
    with session_scope(sessions) as session:
        signer = load_signer(session, key_file=settings.signing_key_file, box=box)
    policy = ProxyPolicy(
        allow_hosts=tuple(settings.http_proxy_allow_hosts),
        ca_bundle=settings.http_proxy_ca_bundle,
        max_response_bytes=settings.http_proxy_max_response_bytes,
    )
    return ServiceState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        box=box,
        signer=signer,
        proxy_policy=policy,
    )


def create_app(
    settings: Settings | None = None, *, service_link: ServiceLink | None = None
) -> FastAPI:
    """Create the service; the database is migrated when the app starts.

    With ``service_link`` the app also serves devices: at start it attaches
    a :class:`DeviceLinkConsumer` and the debug relay to the link and starts
    the link, and at shutdown it stops both.

    >>> app = create_app(Settings(database_url="sqlite:///ov.db"))
    >>> # uvicorn.run(app, host="127.0.0.1", port=8080)
    """
    settings = settings or Settings()
    relay = DebugRelay()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await run_in_threadpool(start_service, settings)
        app.state.ov = state
        consumer = None
        if service_link is not None:
            consumer = DeviceLinkConsumer(
                service_link,
                sessions=state.sessions,
                box=state.box,
                proxy_policy=state.proxy_policy,
                signer=state.signer,
                public_url=settings.public_url or f"http://{settings.host}:{settings.port}",
                rate_limit=settings.rate_limit_per_device,
                rate_window_s=settings.rate_limit_window_s,
            )
            consumer.start()
            relay.attach_link(service_link)
            service_link.start()
        log.info(
            "Started cloud service (database=%s, signer_id=%#018x, device_link=%s)",
            state.engine.url.render_as_string(),
            state.signer.signer_id,
            service_link is not None,
        )
        try:
            yield
        finally:
            if consumer is not None and service_link is not None:
                service_link.stop()
                consumer.stop()
            state.engine.dispose()
            log.info("Stopped cloud service")

    app = FastAPI(
        title="openvisor cloud",
        version=__version__,
        description="Microvisor-compatible REST API (/v1) plus openvisor's own resources.",
        lifespan=lifespan,
    )
    metrics = Metrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    for module in (devices, configs, apps, deployments, logs, reports, keys, system):
        app.include_router(module.router)
    app.include_router(create_router(relay), tags=["Debug Sessions"])
    app.state.debug_relay = relay
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_request_bytes,
        max_bundle_bytes=settings.max_bundle_bytes,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
