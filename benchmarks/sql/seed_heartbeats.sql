-- Benchmark seed, step 2: the heartbeat backlog that every purge method deletes.
--
-- What: one set-based INSERT ... SELECT from generate_series (no row-by-row loop). Rows are
-- written in time order, so id follows created_at, as when agents send them live. Each agent
-- gets every agents-th row, with a small jsonb payload like a real heartbeat.
--
-- Time layout, relative to cutoff = fleet.ago(fleet.config.heartbeat_retention) (now minus
-- the retention, 30 days by default):
--   * expired rows (the first `expired` of them) are spread evenly over the retention span
--     before the cutoff, i.e. from now - 2 x retention up to just before the cutoff;
--   * the other rows are spread evenly from cutoff + quiet window up to just before now.
-- With half the rows expired that is rows evenly spread over 60 days, except one quiet hour
-- right after the cutoff. The benchmark pins the cutoff of every cloned database to this
-- seed's cutoff (pin_cutoff.sql); the quiet window means the cutoff, which moves on with
-- now() while a method runs, crosses no row during the run, so every method has exactly the
-- same expired rows to delete and the verification can demand exact counts.
-- Offsets are built with make_interval(secs => ...), so the session TimeZone cannot move a
-- row (a day-valued interval would be applied in local time).
--
-- The statement trigger fleet.heartbeats_touch_agents fires once and brings the agents online
-- (and writes their transition events); that is part of a realistic seed and is not timed.
--
-- Parameters: rows, expired (how many of them lie before the cutoff), quiet_seconds.

with fleet_ids as (
  select array_agg(a.id order by a.name) as ids, count(*)::integer as agents
  from fleet.agents as a
),
layout as (
  select
    fleet.ago(c.heartbeat_retention) as cutoff,
    extract(epoch from c.heartbeat_retention)::double precision as span_seconds
  from fleet.config as c
)
insert into fleet.heartbeats (agent_id, created_at, payload)
select
  f.ids[1 + mod(n, f.agents)],
  l.cutoff + make_interval(secs => case
    when n < %(expired)s::bigint then
      -l.span_seconds
      + (n + 0.5) * l.span_seconds / nullif(%(expired)s::bigint, 0)
    else
      %(quiet_seconds)s::double precision
      + (n - %(expired)s::bigint + 0.5)
        * (l.span_seconds - %(quiet_seconds)s::double precision)
        / nullif(%(rows)s::bigint - %(expired)s::bigint, 0)
  end),
  jsonb_build_object(
    'seq', n,
    'cpu', mod(n * 37, 100),
    'mem', mod(n * 53, 100),
    'version', '1.4.2'
  )
from fleet_ids as f
cross join layout as l
cross join generate_series(0::bigint, %(rows)s::bigint - 1) as n
order by n;
