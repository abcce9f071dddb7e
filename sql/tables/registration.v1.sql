-- fleet.registration: which agents and heartbeats tables the jobs work on, in one row.
--
-- By default fleetcron's own fleet.agents and fleet.heartbeats. An application that already
-- has its tables registers them instead with fleet.adopt(...), the way pg_partman is pointed
-- at a parent table, and goes back with fleet.adopt_own_tables(). Columns are stored by name
-- and tables by regclass (which follows a rename); nothing here is ever spliced into SQL as
-- written: every job resolves the row against the catalog first (fleet.resolve_registration)
-- and builds its statements from the catalog's own names, quoted with %I, and values passed
-- as parameters. Only the table's owner (the role that owns fleetcron's routines) may change
-- it; fleet.adopt validates a registration before it takes effect.
--
-- fingerprint records what was validated (column types, table owners), so that doctor can say
-- what changed since.

create table fleet.registration (
  singleton boolean not null default true
    constraint registration_singleton_is_true check (singleton),
  agents regclass not null,
  agent_id name not null,
  agent_status name not null,
  online_value text not null,
  offline_value text not null,
  agent_last_heartbeat name not null,
  agent_stale_after name,
  agent_name name,
  heartbeats regclass not null,
  heartbeat_time name not null,
  heartbeat_agent name not null,
  heartbeat_key name not null,
  time_zone text,
  records_transitions boolean not null,
  touches_agents boolean not null,
  fingerprint jsonb not null default '{}',
  registered_at timestamptz not null default now(),
  registered_by name not null default current_user,
  constraint registration_holds_one_row_only primary key (singleton),
  constraint registration_values_differ check (online_value <> offline_value)
);

insert into fleet.registration (
  agents, agent_id, agent_status, online_value, offline_value, agent_last_heartbeat,
  agent_stale_after, agent_name, heartbeats, heartbeat_time, heartbeat_agent, heartbeat_key,
  time_zone, records_transitions, touches_agents
)
values (
  'fleet.agents', 'id', 'status', 'online', 'offline', 'last_heartbeat',
  'stale_after', 'name', 'fleet.heartbeats', 'created_at', 'agent_id', 'id',
  null, true, true
);

revoke all
  on fleet.registration
  from public;

grant select
  on fleet.registration
  to fleet_cron;

comment on table fleet.registration is
  'The agents and heartbeats tables the jobs work on (one row). Change it with fleet.adopt(...) '
  'and go back with fleet.adopt_own_tables(); never by hand.';
comment on column fleet.registration.heartbeat_key is
  'A unique, stable column of the heartbeats table that breaks ties of heartbeat_time in the '
  'purge''s keyset walk.';
comment on column fleet.registration.time_zone is
  'The zone the timestamp without time zone columns hold (NULL when both are timestamptz).';
comment on column fleet.registration.records_transitions is
  'A fleetcron trigger on the agents table records status changes made by others (the app).';
comment on column fleet.registration.touches_agents is
  'A fleetcron trigger on the heartbeats table keeps the agents'' last heartbeat current.';
