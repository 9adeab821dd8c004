"""The FastAPI app Reflex mounts in front of its own backend (`api_transformer`)."""

from fastapi import FastAPI

from recovery_app.api import (
    auth,
    calendly,
    exports,
    health,
    intake,
    recovery,
    reviews,
    triggers,
    unsubscribe,
    webhooks,
)
from recovery_app.api.errors import install_error_handlers
from recovery_app.routes import API_PREFIX


def create_api() -> FastAPI:
    api = FastAPI(
        title="Lead Recovery & Nurture Engine",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    install_error_handlers(api)
    api.include_router(health.router, prefix=API_PREFIX)
    api.include_router(auth.router, prefix=API_PREFIX)
    api.include_router(recovery.router, prefix=API_PREFIX)
    api.include_router(triggers.router, prefix=API_PREFIX)
    api.include_router(reviews.router, prefix=API_PREFIX)
    api.include_router(exports.router, prefix=API_PREFIX)
    api.include_router(webhooks.router, prefix=API_PREFIX)
    api.include_router(intake.router, prefix=API_PREFIX)
    api.include_router(calendly.router, prefix=API_PREFIX)
    # Outside /api/v1: the link sits in every email and must stay short and stable.
    api.include_router(unsubscribe.router)
    return api
