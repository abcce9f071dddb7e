-- Scale benchmark: heartbeats on both sides of a purge cutoff, identical in every layout.
--
-- What: one set-based INSERT ... SELECT from generate_series into {heartbeats}
-- (fleet.heartbeats or bench.heartbeats), in time order, so ids follow created_at as when
-- agents send them live (generate_series yields n in order and nothing here reorders it; an
-- ORDER BY would sort millions of rows on disk for nothing), round robin over agents
-- bench-agent-1 .. N (ids md5 of the name, see scale_seed_agents.sql, computed once), with a
-- small jsonb payload like a real heartbeat. The first `expired` rows are spread evenly over
-- [expired_from, cutoff), the rest evenly over [cutoff + quiet_seconds, kept_until): no row
-- lies in the quiet window right after the cutoff, so a cutoff pinned to this one
-- (pin_cutoff.sql) that moves on with now() during a run crosses no row, and every method
-- deletes exactly the same rows. All times come from the caller, so both layouts get the same
-- rows, byte for byte.
-- Parameters: rows, expired, agents, expired_from, cutoff, kept_until, quiet_seconds.

with fleet_ids as (
  select array_agg(md5('bench-agent-' || a)::uuid order by a) as ids
  from generate_series(1, %(agents)s::bigint) as a
),
layout as (
  select
    extract(epoch from %(cutoff)s::timestamptz - %(expired_from)s::timestamptz)
      / %(expired)s::bigint as expired_step,
    (extract(epoch from %(kept_until)s::timestamptz - %(cutoff)s::timestamptz)
      - %(quiet_seconds)s::double precision)
      / (%(rows)s::bigint - %(expired)s::bigint) as kept_step
)
insert into {heartbeats} (agent_id, created_at, payload)
select
  f.ids[1 + mod(n, %(agents)s::bigint)],
  case
    when n < %(expired)s::bigint then
      %(expired_from)s::timestamptz + make_interval(secs => (n + 0.5) * l.expired_step)
    else
      %(cutoff)s::timestamptz + make_interval(secs => %(quiet_seconds)s::double precision
        + (n - %(expired)s::bigint + 0.5) * l.kept_step)
  end,
  jsonb_build_object(
    'seq', n,
    'cpu', mod(n * 37, 100),
    'mem', mod(n * 53, 100),
    'version', '1.4.2'
  )
from fleet_ids as f
cross join layout as l
cross join generate_series(0::bigint, %(rows)s::bigint - 1) as n;
