-- Trigger fleet.heartbeats_touch_agents v2: any INSERT into fleet.heartbeats keeps agents current.
--
-- Existing clients that write heartbeats with a plain INSERT (not fleet.record_heartbeat) must
-- still move last_heartbeat and bring an offline agent back online, so this lives on the table.
-- It runs once per statement over the inserted rows (a transition table), so a bulk insert
-- updates each agent once, with its newest heartbeat:
--   * a payload over fleet.config.heartbeat_payload_limit bytes fails the whole statement;
--   * the database clock wins: a heartbeat stamped in the future is moved to now. (v1 did this
--     in a BEFORE trigger; on a partitioned table a BEFORE trigger may not move a row to
--     another partition, so v2 updates the few such rows after the insert);
--   * last_heartbeat only moves forward (greatest), whatever order rows arrive in;
--   * an agent goes online only for a heartbeat fresher than its stale threshold, so importing
--     old history does not flip agents online for a moment;
--   * an agent with nothing to change is not updated at all.
-- Going online is recorded with reason 'heartbeat' by fleet.agents_record_transition.
-- Concurrency: the agents are locked in id order before the UPDATE, so two bulk inserts never
-- deadlock; the check-stale job skips rows locked here instead of waiting for them.

create or replace function fleet.heartbeats_touch_agents()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  settings fleet.config;
  previous_reason text := current_setting('fleet.transition_reason', true);
  arrived_at timestamptz := now();
  now_utc timestamp := now() at time zone 'UTC';
  largest integer;
begin
  select *
  into settings
  from fleet.config;

  select max(octet_length(h.payload::text))
  into largest
  from arrived as h;
  if largest > settings.heartbeat_payload_limit then
    raise exception 'a heartbeat payload of % bytes is over the limit of % bytes', largest,
      settings.heartbeat_payload_limit
      using errcode = 'program_limit_exceeded',
            hint = 'send less, or raise fleet.config.heartbeat_payload_limit';
  end if;

  if exists (
    select
    from arrived as h
    where h.created_at > arrived_at
  ) then
    update fleet.heartbeats as h
    set created_at = arrived_at
    from arrived as a
    where a.created_at > arrived_at
      and h.created_at = a.created_at
      and h.id = a.id;
  end if;

  perform 1
  from fleet.agents as a
  where a.id in (
      select h.agent_id
      from arrived as h
    )
  order by a.id
  for no key update;

  perform set_config('fleet.transition_reason', 'heartbeat', true);

  update fleet.agents as a
  set last_heartbeat = greatest(a.last_heartbeat, latest.created_at),
      status = case
        when latest.created_at
          >= (now_utc - coalesce(a.stale_after, settings.stale_after)) at time zone 'UTC'
          then 'online'
        else a.status
      end
  from (
    select h.agent_id, max(least(h.created_at, arrived_at)) as created_at
    from arrived as h
    group by h.agent_id
  ) as latest
  where a.id = latest.agent_id
    and (
      a.last_heartbeat is null
      or latest.created_at > a.last_heartbeat
      or (
        a.status = 'offline'
        and latest.created_at
          >= (now_utc - coalesce(a.stale_after, settings.stale_after)) at time zone 'UTC'
      )
    );

  perform set_config('fleet.transition_reason', coalesce(previous_reason, ''), true);
  return null;
end
$$;

comment on function fleet.heartbeats_touch_agents() is
  'Trigger: after heartbeats arrive, refuses oversized payloads, moves future timestamps to '
  'now, moves fleet.agents.last_heartbeat forward and brings agents with a fresh heartbeat online.';

create or replace trigger heartbeats_touch_agents
  after insert
  on fleet.heartbeats
  referencing new table as arrived
  for each statement
  execute function fleet.heartbeats_touch_agents();
