"""Settings -> Office (managers): the office profile form and the integrations' status (the
outbound integrations' cards have States of their own: office_slack, office_enrichment,
office_ghl)."""

from datetime import UTC, datetime
from typing import Any, TypedDict

import reflex as rx
from sqlalchemy.orm import Session

from recovery_app.domain.accounts import integrations, office
from recovery_app.domain.accounts import repository as accounts
from recovery_app.errors import ValidationFailed
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time
from recovery_app.states.notices import notice
from recovery_app.states.session import SessionState


class UrlRow(TypedDict):
    label: str
    url: str


class IntegrationRow(TypedDict):
    key: str
    name: str
    configured: bool
    detail: str
    urls: list[UrlRow]
    last: str
    failures: int


def _integration_row(item: integrations.Integration, now: datetime) -> IntegrationRow:
    return IntegrationRow(
        key=item.key,
        name=item.name,
        configured=item.configured,
        detail=item.detail,
        urls=[UrlRow(label=label, url=url) for label, url in item.urls],
        last=(
            f"Last call for this office {relative_time(item.last_received_at, now)}"
            if item.last_received_at
            else ("No call for this office yet" if item.urls else "")
        ),
        failures=item.signature_failures,
    )


class OfficeState(SessionState):
    # The form's values as strings, keyed like the form's fields.
    values: dict[str, str] = {}
    problems: dict[str, str] = {}
    saving: bool = False
    integrations: list[IntegrationRow] = []
    # Bumped on every load so the form (uncontrolled inputs) re-reads its default values.
    form_key: int = 0

    @rx.event
    async def load(self):
        viewer = await self._manager_viewer("the office settings")
        now = datetime.now(UTC)

        def read(s: Session) -> tuple[Any, list[integrations.Integration]]:
            tenant = accounts.get_tenant(s, viewer.tenant_id)
            assert tenant is not None
            return (
                office.profile_of(tenant),
                integrations.integration_status(s, viewer=viewer, now=now),
            )

        profile, found = await in_session(read)
        self.values = office.form_of(profile)
        self.problems = {}
        self.integrations = [_integration_row(item, now) for item in found]
        self.form_key += 1

    @rx.event
    async def save(self, form: dict):
        viewer = await self._manager_viewer("the office settings")
        self.saving = True
        yield
        try:
            profile = await in_session(
                lambda s: office.update_profile(s, viewer=viewer, data=dict(form))
            )
        except ValidationFailed as exc:
            self.problems = dict(exc.fields)
            self.values = {k: str(v) for k, v in form.items()}
            yield notice.error(exc.message)
            return
        finally:
            self.saving = False
        self.values, self.problems = office.form_of(profile), {}
        yield notice.success("Office settings saved.")

    @rx.var
    def problem_list(self) -> list[str]:
        return [f"{name.replace('_', ' ')}: {why}" for name, why in self.problems.items()]
