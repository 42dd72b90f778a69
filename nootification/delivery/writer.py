"""The engine's ledger writer: a thread that records what the sending slots finished, in batches.

Apart from the engine's loop so that nothing Redis does can hold an outcome back: during a Redis stall the
loop's every Redis command waits for its timeout, and an outcome that waited with it past its lease would
let the sweeper give the delivery to another worker, which would send it again. The writer touches only the
database (a retry is its scheduled row); it hands the written deliveries' RQ jobs to the loop, which closes
them when Redis answers.
"""

import logging
import threading
from collections.abc import Callable, Mapping

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from nootification.delivery import batch
from nootification.delivery.slots import Done, Slots
from nootification.extensions import db
from nootification.models import utcnow

log = logging.getLogger(__name__)

COLLECT_WAIT = 0.05
TROUBLE_PAUSE = 1.0


class LedgerWriter(threading.Thread):
    """Writes the slots' outcomes to the database as they come, and reports each written batch."""

    def __init__(
        self,
        app: Flask,
        slots: Slots,
        config: Mapping,
        *,
        written: Callable[[list[Done]], None],
    ):
        super().__init__(name="outcome-writer", daemon=True)
        self._app = app
        self._slots = slots
        self._config = config
        self._written = written
        self._stopping = threading.Event()
        # Collected from the slots but not yet committed: a stop waits for them.
        self._holding: list[Done] = []

    @property
    def holding(self) -> int:
        """How many collected outcomes are not yet written."""
        return len(self._holding)

    def run(self) -> None:
        """Collect and write until stopped, then write what is left once more."""
        with self._app.app_context():
            while not self._stopping.is_set():
                self._write_once(COLLECT_WAIT)
            self._write_once(0)

    def stop(self, timeout: float) -> None:
        """Stop after one last write; wait up to `timeout` seconds for it."""
        self._stopping.set()
        self.join(timeout)

    def _write_once(self, wait: float) -> None:
        self._holding = self._holding + self._slots.collect(wait)
        if not self._holding:
            return
        outcomes = self._holding
        results = [(done.item, done.result) for done in outcomes]
        try:
            batch.finish(db.session, results, config=self._config, now=utcnow())
        except SQLAlchemyError as error:
            db.session.rollback()
            log.warning("could not record %d outcomes yet: %s", len(outcomes), error)
            self._stopping.wait(TROUBLE_PAUSE)
            return
        except Exception:  # noqa: BLE001 - a bug must delay the outcomes, never stop the writer for good
            db.session.rollback()
            log.exception("unexpected error while recording %d outcomes; trying again", len(outcomes))
            self._stopping.wait(TROUBLE_PAUSE)
            return
        self._holding = []
        self._written(outcomes)
