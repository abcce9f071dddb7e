-- fleet.heartbeat_summary: how big the heartbeat log is and how much of it has expired.
--
-- Counting a big table is itself a scan, so both counts stop at a million rows: past that,
-- rows is the planner's estimate (rows_exact false) and expired says "at least a million"
-- (expired_exact false). The expired count walks the (created_at, id) index from its start.

create view fleet.heartbeat_summary as
with counted as (
  select
    (
      select count(*)
      from (
        select
        from fleet.heartbeats
        limit 1000001
      ) as h
    ) as rows_up_to,
    (
      select count(*)
      from (
        select
        from fleet.heartbeats as h
        cross join fleet.config as c
        where h.created_at < fleet.ago(c.heartbeat_retention)
        limit 1000001
      ) as e
    ) as expired_up_to
)
select
  case
    when n.rows_up_to <= 1000000 then n.rows_up_to
    else greatest(t.reltuples, 0)::bigint
  end as rows,
  n.rows_up_to <= 1000000 as rows_exact,
  least(n.expired_up_to, 1000000) as expired,
  n.expired_up_to <= 1000000 as expired_exact,
  pg_total_relation_size(t.oid) as total_bytes,
  (
    select min(h.created_at)
    from fleet.heartbeats as h
  ) as oldest,
  (
    select fleet.ago(c.heartbeat_retention)
    from fleet.config as c
  ) as cutoff
from counted as n
cross join pg_class as t
where t.oid = 'fleet.heartbeats'::regclass;

revoke all
  on fleet.heartbeat_summary
  from public;

grant select
  on fleet.heartbeat_summary
  to fleet_cron;

comment on view fleet.heartbeat_summary is
  'Heartbeat rows, bytes (table and indexes), oldest row, retention cutoff, and the expired '
  'backlog the cleanup job will delete. select * from fleet.heartbeat_summary;';
