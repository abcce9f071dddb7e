-- fleet.ago(span) v2: the moment `span` before now, computed in UTC.
--
-- timestamptz - interval does its day and month arithmetic in the session's TimeZone, so
-- now() - interval '30 days' lands an hour apart in Europe/Paris and in UTC whenever a DST
-- change falls inside the span. Every cutoff in fleetcron is computed this way instead, so no
-- session setting can move a cutoff: days are 24 hours and months are UTC calendar months.
--
-- v2 pins search_path (Supabase's lint 0011). That keeps the planner from inlining it, so the
-- jobs no longer call it per row: they compute each cutoff once per statement, and a per-agent
-- threshold as (now() at time zone 'UTC' - threshold) at time zone 'UTC', the same arithmetic.

create or replace function fleet.ago(span interval)
returns timestamptz
language sql
stable
parallel safe
set search_path = pg_catalog, pg_temp
return (now() at time zone 'UTC' - span) at time zone 'UTC';

comment on function fleet.ago(interval) is
  'The time `span` before now(), computed in UTC so that the session TimeZone never moves a '
  'cutoff. Example: select fleet.ago(interval ''30 days'');';
