-- Benchmark setup: pin a cloned database's stale cutoff to the seed's.
--
-- What: check-stale marks agents silent since before now - fleet.config.stale_after (computed
-- in UTC). A clone is made minutes after its seed, when the seed's fresh agents would be stale
-- too. This sets stale_after to exactly (now - the seed's cutoff), in UTC, so this clone's
-- cutoff equals the seed's and exactly the agents the seed made stale are stale. Returns the
-- resulting cutoff so the caller can check it. Not timed.
-- Pattern: benchmark plumbing, the stale check's counterpart of pin_cutoff.sql.
-- Parameters: cutoff (the seed's stale cutoff, timestamptz).

update fleet.config
set stale_after =
  (now() at time zone 'UTC') - (%(cutoff)s::timestamptz at time zone 'UTC')
returning ((now() at time zone 'UTC') - stale_after) at time zone 'UTC' as cutoff;
