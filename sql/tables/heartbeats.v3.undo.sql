-- Undo fleet.heartbeats v3: detach heartbeats_legacy again (if the purge has not dropped it
-- yet), back to the state revision 0002 leaves: a table of its own with the rows before the
-- first partition, its primary key on id and its own identity.

do $$
begin
  if to_regclass('fleet.heartbeats_legacy') is null
    or not exists (
      select
      from pg_inherits as i
      where i.inhrelid = 'fleet.heartbeats_legacy'::regclass
    )
  then
    return;
  end if;
  alter table fleet.heartbeats
    detach partition fleet.heartbeats_legacy;
  alter table fleet.heartbeats_legacy
    drop constraint heartbeats_legacy_pkey,
    add constraint heartbeats_legacy_pkey primary key (id);
  alter table fleet.heartbeats_legacy
    alter column id add generated always as identity;
  perform setval(
    pg_get_serial_sequence('fleet.heartbeats_legacy', 'id'),
    coalesce((select max(h.id) from fleet.heartbeats_legacy as h), 1)
  );
  create index heartbeats_legacy_created_at_id_idx
    on fleet.heartbeats_legacy (created_at, id);
end
$$;
