-- fleet.registration_fingerprint(registration) v2: what fleet.adopt validated, for doctor.
--
-- v2 (revision 0004) grants EXECUTE to fleet_cron, for the view fleet.registered_tables, in
-- place of v1's SELECT on fleet.registration itself (tables/registration.v2.sql revokes it).
--
-- The owner of each table and the type of each registered column as they were when the
-- registration was accepted, so doctor can say "public.agents.last_seen was timestamptz and
-- is now text" or "public.agents changed owner" rather than only that something is wrong.

create or replace function fleet.registration_fingerprint(registered fleet.registration)
returns jsonb
language sql
stable
set search_path = pg_catalog, pg_temp
begin atomic
  select jsonb_build_object(
    'owners', (
      select jsonb_object_agg(c.oid::regclass::text, c.relowner::regrole::text)
      from pg_class as c
      where c.oid in (registered.agents, registered.heartbeats)
    ),
    'columns', (
      select jsonb_object_agg(
        format('%s.%s', a.attrelid::regclass, quote_ident(a.attname)),
        format_type(a.atttypid, a.atttypmod)
      )
      from pg_attribute as a
      where not a.attisdropped
        and a.attnum > 0
        and (
          (a.attrelid = registered.agents and a.attname in (
            registered.agent_id, registered.agent_status, registered.agent_last_heartbeat,
            registered.agent_stale_after, registered.agent_name))
          or (a.attrelid = registered.heartbeats and a.attname in (
            registered.heartbeat_time, registered.heartbeat_agent, registered.heartbeat_key))
        )
    )
  );
end;

revoke all
  on function fleet.registration_fingerprint(fleet.registration)
  from public;

-- Read-only, and called by the view fleet.registered_tables, which fleet_cron reads (a
-- function in a view runs with the reader's EXECUTE privilege).
grant execute
  on function fleet.registration_fingerprint(fleet.registration)
  to fleet_cron;

comment on function fleet.registration_fingerprint(fleet.registration) is
  'Internal: table owners and column types of a registration, as recorded when it was accepted.';
