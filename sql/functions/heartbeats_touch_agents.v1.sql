-- Trigger fleet.heartbeats_touch_agents: any INSERT into fleet.heartbeats keeps agents current.
--
-- Existing clients that write heartbeats with a plain INSERT (not fleet.record_heartbeat) must
-- still move last_heartbeat and bring an offline agent back online, so this lives on the table.
-- It runs once per statement over the inserted rows (a transition table), so a bulk insert
-- updates each agent once, with its newest heartbeat:
--   * last_heartbeat only moves forward (greatest), whatever order rows arrive in;
--   * an agent goes online only for a heartbeat fresher than its stale threshold, so importing
--     old history does not flip agents online for a moment;
--   * an agent with nothing to change is not updated at all.
-- Going online is recorded with reason 'heartbeat' by fleet.agents_record_transition (and never
-- with a check-stale run id, whatever the session has set).
-- Concurrency: the agents are locked in id order before the UPDATE, the same order the stale
-- check uses, so bulk inserts and the stale check never deadlock. If the stale check is marking
-- this agent offline at the same moment, one waits for the other and re-reads the row, so the
-- later one wins and no transition is lost or doubled.

create or replace function fleet.heartbeats_touch_agents()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  previous_reason text := current_setting('fleet.transition_reason', true);
  previous_run_id text := current_setting('fleet.transition_run_id', true);
begin
  perform 1
  from fleet.agents as a
  where a.id in (
      select h.agent_id
      from arrived as h
    )
  order by a.id
  for no key update;

  perform set_config('fleet.transition_reason', 'heartbeat', true),
          set_config('fleet.transition_run_id', '', true);

  update fleet.agents as a
  set last_heartbeat = greatest(a.last_heartbeat, latest.created_at),
      status = case
        when latest.created_at >= fleet.ago(coalesce(a.stale_after, c.stale_after)) then 'online'
        else a.status
      end
  from (
    select h.agent_id, max(h.created_at) as created_at
    from arrived as h
    group by h.agent_id
  ) as latest
  cross join fleet.config as c
  where a.id = latest.agent_id
    and (
      a.last_heartbeat is null
      or latest.created_at > a.last_heartbeat
      or (
        a.status = 'offline'
        and latest.created_at >= fleet.ago(coalesce(a.stale_after, c.stale_after))
      )
    );

  perform set_config('fleet.transition_reason', coalesce(previous_reason, ''), true),
          set_config('fleet.transition_run_id', coalesce(previous_run_id, ''), true);
  return null;
end
$$;

revoke all
  on function fleet.heartbeats_touch_agents()
  from public;

comment on function fleet.heartbeats_touch_agents() is
  'Trigger: after heartbeats arrive, moves fleet.agents.last_heartbeat forward and brings '
  'agents with a fresh heartbeat online.';

create or replace trigger heartbeats_touch_agents
  after insert
  on fleet.heartbeats
  referencing new table as arrived
  for each statement
  execute function fleet.heartbeats_touch_agents();
