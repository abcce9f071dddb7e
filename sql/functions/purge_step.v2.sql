-- fleet.purge_step(batch, relation, after_time, after_key, skip, validate) v2: one bounded step
-- of the purge, always on a validated registration.
--
-- What a step does is fleet.purge_step_unvalidated's (one wholly expired partition dropped,
-- or at most `batch` expired rows deleted from one table after the keyset cursor); this form
-- first validates the registered tables (fleet.resolve_registration), and stops with the first
-- problem's message, hint and SQLSTATE before anything is changed.
--
-- v2 validates whatever `validate` says. v1 skipped the check on validate => false, and was
-- granted to fleet_cron: a login with nothing but fleet_cron could have the SECURITY DEFINER
-- purge delete from tables whose triggers, owner or columns had changed since fleet.adopt
-- accepted them. The cleanup job's own steps, whose run validated the registration when it
-- started, call the internal fleet.purge_step_unvalidated. The argument stays so that every
-- call v1 took still resolves.

create or replace function fleet.purge_step(
  batch integer,
  relation regclass default null,
  after_time text default null,
  after_key text default null,
  skip regclass[] default '{}',
  validate boolean default true
)
returns table (
  action text,
  worked_on regclass,
  worked_on_name text,
  deleted bigint,
  last_time text,
  last_key text,
  more_here boolean,
  backlog boolean
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform fleet.resolve_registration();
  return query
  select *
  from fleet.purge_step_unvalidated(
    purge_step.batch,
    purge_step.relation,
    purge_step.after_time,
    purge_step.after_key,
    purge_step.skip
  );
end
$$;

revoke all
  on function fleet.purge_step(integer, regclass, text, text, regclass[], boolean)
  from public;

grant execute
  on function fleet.purge_step(integer, regclass, text, text, regclass[], boolean)
  to fleet_cron;

comment on function fleet.purge_step(integer, regclass, text, text, regclass[], boolean) is
  'One bounded step of the heartbeat purge on the registered table, validated first: drops one '
  'wholly expired partition, or deletes at most batch expired rows from one table after the '
  'cursor. Returns the action (dropped, deferred, deleted, done), the table worked on (and its '
  'name, which a dropped table no longer has), rows deleted, the next cursor, whether more '
  'remain there and anywhere. validate is ignored (always validates). Example: '
  'select * from fleet.purge_step(10000);';
