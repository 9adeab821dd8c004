"""The suppression list: addresses we must never message again, kept only as hashes.

A SHA-256 of a normalised phone number can be brute-forced by someone who holds the table;
the point is that no readable personal data stays after an erasure, while the promise not to
write to that person again does.
"""

import hashlib
from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.models import Channel, Suppression


def address_hash(channel: Channel | str, address: str) -> str:
    """Hash of the normalised address: E.164 phones as given, emails lower-cased."""
    normalised = address.strip().lower() if channel == Channel.EMAIL else address.strip()
    return hashlib.sha256(f"{channel}:{normalised}".encode()).hexdigest()


def suppress(
    session: Session, *, tenant_id: int, channel: Channel, address: str, reason: str
) -> None:
    """Add the address to the tenant's suppression list (adding it twice changes nothing)."""
    digest = address_hash(channel, address)
    if not is_hash_suppressed(session, tenant_id=tenant_id, channel=channel, digest=digest):
        session.add(
            Suppression(tenant_id=tenant_id, channel=channel, value_hash=digest, reason=reason)
        )
        session.flush()


def is_suppressed(session: Session, *, tenant_id: int, channel: Channel, address: str) -> bool:
    return channel in suppressed_channels(
        session, tenant_id=tenant_id, addresses={channel: address}
    )


def is_hash_suppressed(session: Session, *, tenant_id: int, channel: Channel, digest: str) -> bool:
    stmt = select(col(Suppression.id)).where(
        col(Suppression.tenant_id) == tenant_id,
        col(Suppression.channel) == channel,
        col(Suppression.value_hash) == digest,
    )
    return session.execute(stmt).first() is not None


def suppressed_channels(
    session: Session, *, tenant_id: int, addresses: Mapping[Channel, str | None]
) -> set[Channel]:
    """Which of these channel addresses are on the tenant's list (one query for all of them)."""
    digests = {
        address_hash(channel, address): channel for channel, address in addresses.items() if address
    }
    if not digests:
        return set()
    stmt = select(col(Suppression.channel), col(Suppression.value_hash)).where(
        col(Suppression.tenant_id) == tenant_id,
        col(Suppression.value_hash).in_(list(digests)),
    )
    return {
        digests[digest]
        for channel, digest in session.execute(stmt).all()
        if digests.get(digest) == channel
    }


def suppressed_among(
    session: Session, entries: Iterable[tuple[int, Channel, str]]
) -> set[tuple[int, Channel, str]]:
    """Which (tenant, channel, address) entries are on their tenant's list, in one query: the
    dispatcher asks once for a whole batch instead of once per message."""
    by_key = {
        (tenant_id, channel, address_hash(channel, address)): (tenant_id, channel, address)
        for tenant_id, channel, address in entries
        if address
    }
    if not by_key:
        return set()
    stmt = select(
        col(Suppression.tenant_id), col(Suppression.channel), col(Suppression.value_hash)
    ).where(
        col(Suppression.tenant_id).in_({tenant_id for tenant_id, _, _ in by_key}),
        col(Suppression.value_hash).in_({digest for _, _, digest in by_key}),
    )
    return {
        by_key[key]
        for tenant_id, channel, digest in session.execute(stmt).all()
        if (key := (tenant_id, Channel(channel), digest)) in by_key
    }
