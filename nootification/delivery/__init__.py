"""The delivery wing: everything that goes out, from the outbound record to the provider and the ledger: an
alert's deliveries, and the other kinds of a deliveries row (vendor events, notices), whose messages the staff
wing builds (kinds).

ingest    an alert checked against what is stored, stored once, published
ingest_batch  up to a hundred alerts of one request: one result each, one transaction, one queue push
publish   one delivery row per recipient and channel, committed with the alert (the outbox): plan, write
ladder    a shop's fallback ladder: later steps as scheduled rows, cancelled once someone acted
outbox    every way a delivery gets (back) onto the queue: push, requeue, due retries, hand back
outbound  a record of another kind (vendor event, notice) written in its caller's transaction, queued after
kinds     who builds the message of each kind besides an alert's (filled by the app factory)
messages  the message of a leased record: an alert's rendered here, the other kinds by their builder
queue     the one door to RQ and rq-scheduler: job format, ids, take/start/close, liveness, schedule
engine    `flask worker`: takes jobs in batches, keeps many sends in flight in its sending slots
slots     the engine's sending threads, one send each; writer: the thread that records their outcomes
lease     one compare-and-set under a lease for a batch, one joined read of what it needs
batch     a batch around its sends: checked and recorded before, outcomes written after
attempt   one delivery's attempts in a slot: send, quick retries (tenacity), breaker checks
retry     the one retry policy: quick retries, backoff with jitter, Retry-After (freshness: models)
breakers  circuit breakers per destination, shared through Redis (circuit), read once a while
ledger    the attempt rows: in flight before the request leaves, completed after
sweeper   deliveries without a live job, abandoned leases, stale alerts
dead_letters  looking into deliveries of every kind; sending again what failed or expired
provider_receipts  the provider's word on a message it took: an SMS's or a call's final status
retention the daily purge's schedule
jobs      the job functions (any RQ worker can run one delivery the engine's way)
"""
