-- fleet.require_pg_cron(): stop with directions when pg_cron is not installed here.
--
-- pg_cron keeps its jobs in the one database named by cron.database_name, and needs
-- shared_preload_libraries; a DBA who tries to schedule elsewhere should learn that, not meet
-- "schema cron does not exist".

create or replace function fleet.require_pg_cron()
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if to_regnamespace('cron') is null then
    raise exception 'pg_cron is not installed in database %', current_database()
      using errcode = 'undefined_object',
            hint = 'On Supabase enable it under Integrations > Cron. Elsewhere a superuser runs '
                   '"create extension pg_cron" in the database named by cron.database_name '
                   '(pg_cron must be in shared_preload_libraries).';
  end if;
end
$$;

revoke all
  on function fleet.require_pg_cron()
  from public;

comment on function fleet.require_pg_cron() is
  'Internal: raises with directions unless pg_cron is installed in this database.';
