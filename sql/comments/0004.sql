-- Comments revision 0004 adds or corrects, on objects whose own files it does not replace.
--
-- fleet.agents_stamp_status_change(): its v2 (revision 0002) gave the trigger a WHEN clause that
-- leaves the stamp to an UPDATE that sets status_changed_at itself (check-stale does, in
-- bulk), but the v2 file had no COMMENT ON, so \df+ still showed v1's description.
-- heartbeats_legacy_before_partitions: the NOT VALID CHECK that 0002 adds and 0003 validates so
-- that ATTACH needs no scan; \d+ showed it with no word of why it is there. It goes when the
-- purge drops heartbeats_legacy, so it is commented only while it exists.
-- (The index heartbeats_legacy_created_at_id_key that 0003 builds is no object of its own by
-- the end of 0003: ADD PRIMARY KEY USING INDEX renames it heartbeats_legacy_pkey.)

comment on function fleet.agents_stamp_status_change() is
  'Trigger: sets fleet.agents.status_changed_at when an UPDATE changes status, unless the '
  'UPDATE sets status_changed_at itself (check-stale does, for every agent it marks).';

do $$
begin
  if exists (
    select
    from pg_constraint as c
    where c.conrelid = to_regclass('fleet.heartbeats_legacy')
      and c.conname = 'heartbeats_legacy_before_partitions'
  ) then
    comment on constraint heartbeats_legacy_before_partitions on fleet.heartbeats_legacy is
      'Proves every row of heartbeats_legacy (fleet.heartbeats before revision 0002) is older '
      'than the first day partition, so that ATTACH (revision 0003) needs no scan. Goes with '
      'the table when the purge drops it.';
  end if;
end
$$;
