-- fleet.ago(span): the moment `span` before now, computed in UTC.
--
-- timestamptz - interval does its day and month arithmetic in the session's TimeZone, so
-- now() - interval '30 days' lands an hour apart in Europe/Paris and in UTC whenever a DST
-- change falls inside the span. Every cutoff in fleetcron goes through this function instead,
-- so no session setting can move a cutoff: days are 24 hours and months are UTC calendar months.
-- The SQL-standard body is bound when created (no search_path at call time) and inlined.

create or replace function fleet.ago(span interval)
returns timestamptz
language sql
stable
parallel safe
return (pg_catalog.now() at time zone 'UTC' - span) at time zone 'UTC';

revoke all
  on function fleet.ago(interval)
  from public;

grant execute
  on function fleet.ago(interval)
  to fleet_cron, fleet_agent;

comment on function fleet.ago(interval) is
  'The time `span` before now(), computed in UTC so that the session TimeZone never moves a '
  'cutoff. Example: select fleet.ago(interval ''30 days'');';
