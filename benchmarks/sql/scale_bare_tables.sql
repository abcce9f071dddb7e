-- Scale benchmark: the ingestion baseline, fleetcron's tables without fleetcron's triggers.
--
-- What: bench.bare_agents and bench.bare_heartbeats are copies of fleet.agents and the
-- partitioned fleet.heartbeats (LIKE ... INCLUDING ALL: columns, defaults, identity, CHECKs,
-- indexes; then the same foreign key and the same daily partitions, from today on) holding
-- the same agents, with no trigger of fleetcron's: what an application writes when it keeps
-- its agents current itself. ingest_bare.pgbench writes them with one INSERT + UPDATE
-- statement, against which fleet.record_heartbeat and a plain INSERT into fleet.heartbeats
-- (the heartbeat trigger's path) are measured.
-- Pattern: the application's own write path, the fastest it could be.

create schema if not exists bench;

create table bench.bare_agents (like fleet.agents including all);

insert into bench.bare_agents
select *
from fleet.agents;

create table bench.bare_heartbeats (like fleet.heartbeats including all)
partition by range (created_at);

alter table bench.bare_heartbeats
  add foreign key (agent_id) references bench.bare_agents (id) on delete cascade;

create table bench.bare_heartbeats_default
  partition of bench.bare_heartbeats default;

do $$
declare
  day timestamptz;
begin
  for day in
    select d
    from generate_series(
      date_bin(interval '1 day', now(), timestamptz 'epoch'),
      date_bin(interval '1 day', now(), timestamptz 'epoch') + interval '8 days',
      interval '1 day'
    ) as d
  loop
    execute format(
      'create table bench.%I partition of bench.bare_heartbeats for values from (%L) to (%L)',
      'bare_heartbeats_' || to_char(day at time zone 'UTC', 'YYYYMMDD'),
      day,
      day + interval '1 day'
    );
  end loop;
end
$$;
