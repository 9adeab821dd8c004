"""One back-end worker for the multi-process test: the embedded scheduler (leader lease) and the
outbox dispatcher, exactly as each Reflex back-end worker runs them in its lifespan."""

import asyncio

from recovery_app.jobs.scheduler import embedded_scheduler
from recovery_app.messaging.dispatcher import embedded_dispatcher


async def main() -> None:
    async with embedded_scheduler(), embedded_dispatcher():
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
