"""Who is alive on the delivery queue: RQ workers and rq-scheduler processes, as Redis records them."""

from redis import Redis
from rq import Queue, Worker
from rq_scheduler import Scheduler


def live_workers(queue: Queue) -> list[Worker]:
    """RQ workers of the queue whose registration has not expired (WORKER_TTL + 60 s after a heartbeat)."""
    return Worker.all(queue=queue)


def live_schedulers(connection: Redis) -> int:
    """rq-scheduler processes whose heartbeat key lives (interval + 10 s) and that registered no death."""
    keys = list(connection.scan_iter(match=f"{Scheduler.redis_scheduler_namespace_prefix}*"))
    with connection.pipeline(transaction=False) as pipeline:
        for key in keys:
            pipeline.hexists(key, "death")
        dead = pipeline.execute()
    return sum(1 for is_dead in dead if not is_dead)
