"""The delivery wing: everything on an alert's way from the webhook to the provider and the ledger.

ingest    an alert checked against what is stored, stored once, published
publish   one delivery row per recipient and channel, committed with the alert (the outbox)
outbox    every way a delivery gets (back) onto the queue: push, requeue, due retries, hand back
queue     the one door to RQ and rq-scheduler: job format, ids, take/start/close, liveness, schedule
engine    `flask worker`: takes jobs in batches, keeps many sends in flight in its sending slots
lease     one compare-and-set under a lease for a batch, one joined read of what it needs
batch     a batch around its sends: checked and recorded before, outcomes written after
attempt   one delivery's attempts in a slot: send, quick retries (tenacity), breaker checks
retry     the one retry policy: quick retries, backoff with jitter, Retry-After (freshness: models)
breakers  circuit breakers per destination, shared through Redis (circuit), read once a while
ledger    the attempt rows: in flight before the request leaves, completed after
sweeper   deliveries without a live job, abandoned leases, stale alerts
dead_letters  looking into deliveries; sending again what failed or expired
jobs      the job functions (any RQ worker can run one delivery the engine's way)
"""
