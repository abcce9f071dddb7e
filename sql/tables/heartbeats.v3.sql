-- fleet.heartbeats v3, step 3 of 3: attach heartbeats_legacy as the partition of everything
-- before the first daily partition.
--
-- Everything here is instant: the primary key moves onto the index step 1 built, the old
-- (created_at, id) index and heartbeats_legacy's own identity (inserts go through the parent,
-- whose identity goes on from it) are dropped, rows that reached the default partition with a
-- created_at before the first partition (transactions that started before 0002 committed)
-- move into heartbeats_legacy, and ATTACH skips its scan because the constraint validated in
-- step 2 proves the range. From here heartbeats_legacy ages out through the purge.

do $$
declare
  first_partition timestamptz;
begin
  if to_regclass('fleet.heartbeats_legacy') is null
    or exists (
      select
      from pg_inherits as i
      where i.inhrelid = 'fleet.heartbeats_legacy'::regclass
    )
  then
    return;
  end if;
  if not exists (
    select
    from pg_index as i
    where i.indexrelid = 'fleet.heartbeats_legacy_created_at_id_key'::regclass
      and i.indisvalid
  ) then
    raise exception 'the index fleet.heartbeats_legacy_created_at_id_key is invalid (an '
                    'interrupted build)'
      using errcode = 'object_not_in_prerequisite_state',
            hint = 'drop index concurrently fleet.heartbeats_legacy_created_at_id_key; then run '
                   'the upgrade again';
  end if;

  -- Writers pause for the moment this takes: an insert routed to the default partition while
  -- its range shrinks would fail its partition check.
  lock table fleet.heartbeats in share row exclusive mode;

  select min(p.lower_bound)
  into first_partition
  from fleet.heartbeat_partitions('fleet.heartbeats') as p
  where not p.is_default;

  alter table fleet.heartbeats_legacy
    drop constraint heartbeats_legacy_pkey,
    add constraint heartbeats_legacy_pkey primary key
      using index heartbeats_legacy_created_at_id_key,
    alter column id drop identity;
  drop index fleet.heartbeats_legacy_created_at_id_idx;

  with moved as (
    delete from fleet.heartbeats_default as h
    where h.created_at < first_partition
    returning h.id, h.agent_id, h.created_at, h.payload
  )
  insert into fleet.heartbeats_legacy (id, agent_id, created_at, payload)
  select m.id, m.agent_id, m.created_at, m.payload
  from moved as m;

  execute format(
    'alter table fleet.heartbeats attach partition fleet.heartbeats_legacy '
    'for values from (minvalue) to (%L)',
    first_partition
  );
end
$$;
