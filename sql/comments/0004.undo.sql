-- Undo the comments of revision 0004: each as it was at revision 0003.
--
-- fleet.agents_stamp_status_change() had v1's comment (a CREATE OR REPLACE keeps a function's
-- comment, and its v2 file set none); heartbeats_legacy_before_partitions had none.

comment on function fleet.agents_stamp_status_change() is
  'Trigger: sets fleet.agents.status_changed_at when status changes.';

do $$
begin
  if exists (
    select
    from pg_constraint as c
    where c.conrelid = to_regclass('fleet.heartbeats_legacy')
      and c.conname = 'heartbeats_legacy_before_partitions'
  ) then
    comment on constraint heartbeats_legacy_before_partitions on fleet.heartbeats_legacy is null;
  end if;
end
$$;
