-- fleet.agent_cutoff_sql(row_alias, stale_after_column, is_local): the SQL expression, over an
-- agents row, for "the moment before which this agent's last heartbeat is stale".
--
-- One home for the cutoff arithmetic that the check-stale job, the heartbeat triggers and the
-- summaries splice into their dynamic statements. It always reads the same parameters:
--   $1  the default cutoff, fleet.config.stale_after before now, as timestamptz
--   $2  now() at time zone 'UTC' (a timestamp), for a per-agent threshold column
--   $3  the zone a timestamp without time zone column holds (fleet.registration.time_zone)
-- A per-agent threshold is subtracted in UTC, like fleet.ago, so a session's TimeZone never
-- moves it; the default is computed once per statement rather than once per row. Identifiers
-- are quoted with %I; nothing else is spliced.

create or replace function fleet.agent_cutoff_sql(
  row_alias name,
  stale_after_column name,
  is_local boolean
)
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
return format(
  case when is_local then '(%s) at time zone $3' else '%s' end,
  case
    when stale_after_column is null then '$1'
    else format('case when %1$I.%2$I is null then $1 else ($2 - %1$I.%2$I) at time zone ''UTC'' end',
                row_alias, stale_after_column)
  end
);

revoke all
  on function fleet.agent_cutoff_sql(name, name, boolean)
  from public;

comment on function fleet.agent_cutoff_sql(name, name, boolean) is
  'Internal: the SQL expression for an agent''s stale cutoff (parameters $1 default cutoff, '
  '$2 UTC wall clock, $3 zone). Example: select fleet.agent_cutoff_sql(''a'', ''stale_after'', false);';
