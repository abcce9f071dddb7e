-- Scale benchmark: a fleet of agents, some of them quiet.
--
-- What: one set-based INSERT of agents bench-agent-1 .. bench-agent-N into {agents}
-- (fleet.agents or the plain copy bench.agents), all online. Their ids are md5 of the name, so
-- every layout, template and client (the pgbench scripts, the ingestion thread) derives the
-- same id from the number alone. A share `stale` of them, spread evenly over the table, last
-- beat before `cutoff`; the others beat between cutoff + quiet_seconds and `newest`, so a
-- cutoff that moves on with now() for less than quiet_seconds meets no agent. Inserted
-- directly rather than through fleet.register_agent (a million function calls), with the
-- columns register_agent and the heartbeat trigger would leave.
-- Pattern: benchmark plumbing.
-- Parameters: agents, stale (a fraction), cutoff, quiet_seconds, newest.

insert into {agents} (id, name, status, last_heartbeat)
select
  md5('bench-agent-' || n)::uuid,
  'bench-agent-' || n,
  'online',
  case
    when floor(n * %(stale)s::double precision) > floor((n - 1) * %(stale)s::double precision)
      then %(cutoff)s::timestamptz - make_interval(secs => 1 + mod(n, 3600))
    else %(cutoff)s::timestamptz + make_interval(secs => %(quiet_seconds)s::double precision
      + mod(n, 1000) / 1000.0
        * extract(epoch from %(newest)s::timestamptz - %(cutoff)s::timestamptz
                  - make_interval(secs => %(quiet_seconds)s::double precision)))
  end
from generate_series(1, %(agents)s::bigint) as n;
