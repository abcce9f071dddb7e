-- Undo fleet.heartbeats v2, step 2 of 2: copy every heartbeat into the unpartitioned v1 table,
-- then drop the partitioned table, its partitions, and heartbeats_legacy.
--
-- A downgrade copies the table in one transaction (an upgrade never does): fine for going back
-- on a test or staging database, slow on a big production one.

insert into fleet.heartbeats (id, agent_id, created_at, payload)
overriding system value
select h.id, h.agent_id, h.created_at, h.payload
from fleet.heartbeats_partitioned as h;

do $$
begin
  if to_regclass('fleet.heartbeats_legacy') is not null
    and not exists (
      select
      from pg_inherits as i
      where i.inhrelid = 'fleet.heartbeats_legacy'::regclass
    )
  then
    insert into fleet.heartbeats (id, agent_id, created_at, payload)
    overriding system value
    select h.id, h.agent_id, h.created_at, h.payload
    from fleet.heartbeats_legacy as h;
    drop table fleet.heartbeats_legacy;
  end if;
  perform setval(
    pg_get_serial_sequence('fleet.heartbeats', 'id'),
    greatest(
      (select max(h.id) from fleet.heartbeats as h),
      (select s.last_value from fleet.heartbeats_partitioned_id_seq as s),
      1
    )
  );
end
$$;

drop table fleet.heartbeats_partitioned;
