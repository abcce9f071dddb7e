-- fleet.partition_bound(bound, time_zone): one bound of a range partition, as pg_get_expr
-- prints it, as a timestamptz.
--
-- The bound is MINVALUE, MAXVALUE, or a quoted literal such as '2026-12-01 00:00:00+00' (a
-- timestamptz column) or '2026-12-01 00:00:00' (timestamp without time zone, read in
-- time_zone). Like fleet.heartbeat_partitions, which calls it, it pins TimeZone and DateStyle,
-- the settings pg_get_expr printed the literal under.

create or replace function fleet.partition_bound(
  bound text,
  time_zone text default null
)
returns timestamptz
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
set datestyle = 'ISO, YMD'
as $$
declare
  literal text;
begin
  if bound = 'MINVALUE' then
    return '-infinity';
  elsif bound = 'MAXVALUE' then
    return 'infinity';
  end if;
  literal := (regexp_match(bound, '^''((?:[^'']|'''')*)''$'))[1];
  if literal is null then
    raise exception 'cannot read the partition bound %', bound
      using errcode = 'invalid_text_representation';
  end if;
  literal := replace(literal, '''''', '''');
  if partition_bound.time_zone is null then
    return literal::timestamptz;
  end if;
  return literal::timestamp at time zone partition_bound.time_zone;
end
$$;

revoke all
  on function fleet.partition_bound(text, text)
  from public;

comment on function fleet.partition_bound(text, text) is
  'Internal: a range partition bound as pg_get_expr prints it (MINVALUE, MAXVALUE or a literal) '
  'as timestamptz. Example: select fleet.partition_bound(''''''2026-12-01 00:00:00+00'''''');';
