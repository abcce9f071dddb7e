-- Benchmark setup: pin a cloned database's purge cutoff to the seed's cutoff.
--
-- What: every method computes its cutoff as fleet.ago(fleet.config.heartbeat_retention), from
-- now(). The clones are made minutes after the seed, so with the stock 30 days each later
-- clone would see a few more rows expired than the one before. This sets the retention to
-- exactly (now - seed cutoff), in UTC, so the cutoff of this clone equals the seed's; every
-- method then reads the same fleet.config as the real job does. Returns the resulting cutoff
-- so the caller can check it. Not timed.
-- Pattern: benchmark plumbing, no production counterpart.
-- Parameters: cutoff (the seed's cutoff, timestamptz).

update fleet.config
set heartbeat_retention =
  (now() at time zone 'UTC') - (%(cutoff)s::timestamptz at time zone 'UTC')
returning fleet.ago(heartbeat_retention) as cutoff;
