-- fleet.run_check_stale(triggered_by, batch): the check-stale job. Marks quiet agents offline.
--
-- Every online agent whose last heartbeat is older than its threshold (the registered per-agent
-- column, else fleet.config.stale_after) goes offline, in the registered agents table
-- (fleet.registration: fleet.agents, or the application's own). One run is one transaction and
-- writes one fleet.job_runs row, which it returns, whatever happens:
--
--   * Overlap: the run holds the row of fleet.job_locks for its job, taken with SKIP LOCKED, so
--     an overlapping run (Vercel may deliver one schedule twice; pg_cron and a DBA may run it
--     too) records 'skipped' and returns at once. Only fleet routines can lock that row.
--   * Row locks: an agent whose row is locked by a heartbeat in flight is not stale; its row is
--     skipped (SKIP LOCKED) and every other stale agent is marked in the same run. The run
--     never waits for an agent's row, so neither a stuck client nor bulk heartbeat inserts can
--     stall or deadlock it; and under READ COMMITTED a heartbeat that committed first is seen.
--   * Size: at most `batch` agents (fleet.config.stale_batch_size) per run, so a mass outage is
--     marked over a few committed runs instead of one UPDATE too big to finish in time.
--   * Failure: an error (lock or statement timeout, a table changed under the registration) is
--     caught, nothing is marked, and the run is still recorded, as 'error' with its SQLSTATE
--     and message, and raised as a WARNING; the caller learns it from the returned row.
--
-- Speed: the configuration is read into variables once and the cutoffs are computed once per
-- statement (no join with a one-row table whose missing statistics made the planner guess
-- hundreds of rows), JIT is off, and the transitions are recorded in bulk from the UPDATE's
-- RETURNING, with one NOTIFY for the whole run (a wake-up carrying the run id; the event rows
-- are the record). Cutoffs are computed in UTC, so a session's TimeZone never moves them.
--
-- For fleetcron's own heartbeats table the run also keeps partitions created ahead; a failure
-- there is recorded in the run's detail and never fails the check.

-- v2 adds an optional argument; every call v1 took (positional or by name) still resolves.
-- squawk-ignore ban-drop-function
drop function if exists fleet.run_check_stale(text);

create or replace function fleet.run_check_stale(
  triggered_by text default null,
  batch integer default null
)
returns fleet.job_runs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set jit = off
as $$
declare
  started timestamptz := clock_timestamp();
  source text := fleet.job_trigger_source(run_check_stale.triggered_by);
  settings fleet.config;
  run_batch integer;
  tables record;
  run fleet.job_runs;
  marked bigint := 0;
  now_utc timestamp := now() at time zone 'UTC';
  default_cutoff timestamptz;
  stale_test text;
  own_columns text := '';
  failed_state text;
  failed_message text;
  failed_hint text;
  maintenance jsonb;
begin
  perform fleet.require_read_committed();

  select *
  into settings
  from fleet.config;
  run_batch := coalesce(run_check_stale.batch, settings.stale_batch_size);
  if run_batch not between 1 and 10000000 then
    raise exception 'batch must be between 1 and 10000000 agents (got %)', run_batch
      using errcode = 'invalid_parameter_value';
  end if;

  -- No lock wait in this run may last long, whatever the caller's session allows.
  if current_setting('lock_timeout')::interval not between interval '1 millisecond'
    and interval '5 seconds'
  then
    perform set_config('lock_timeout', '5s', true);
  end if;

  perform
  from fleet.job_locks as l
  where l.job = 'check-stale'
  for update skip locked;
  if not found then
    insert into fleet.job_runs (job, triggered_by, outcome, started_at, finished_at, detail)
    values (
      'check-stale',
      source,
      'skipped',
      started,
      clock_timestamp(),
      jsonb_build_object('reason', 'another check-stale run is in progress')
    )
    returning * into run;
    return run;
  end if;

  -- Reserve the run's id first: the transition events refer to it.
  run.id := nextval(pg_get_serial_sequence('fleet.job_runs', 'id'));
  default_cutoff := (now_utc - settings.stale_after) at time zone 'UTC';

  begin
    select *
    into tables
    from fleet.resolve_registration();

    stale_test := format('s.%I < %s', tables.agent_last_heartbeat,
                         fleet.agent_cutoff_sql('s', tables.agent_stale_after,
                                                tables.last_heartbeat_is_local));
    if tables.own_tables then
      own_columns := ', status_changed_at = now()';
    end if;

    -- The transition triggers (fleet.agents', or the one fleet.adopt installs) stand aside:
    -- this statement records its own transitions, in bulk.
    perform set_config('fleet.bulk_transition', 'on', true);
    execute format(
      $sql$
      with marked as (
        update %1$s as a
        set %2$I = $4::%3$s %4$s
        where a.%5$I = any (array(
            select s.%5$I
            from %1$s as s
            where s.%2$I = $5::%3$s
              and %6$s
            limit $6
            for no key update skip locked
          ))
          and a.%2$I = $5::%3$s
        returning a.%5$I::text as agent_key, %7$s as last_heartbeat
      )
      insert into fleet.agent_events
        (agent_id, agent_key, from_status, to_status, reason, run_id, detail)
      select
        case when $8 then m.agent_key::uuid end,
        m.agent_key,
        'online',
        'offline',
        'stale',
        $7,
        jsonb_build_object('last_heartbeat', m.last_heartbeat)
      from marked as m
      $sql$,
      tables.agents, tables.agent_status, tables.status_type, own_columns, tables.agent_id,
      stale_test,
      format(case when tables.last_heartbeat_is_local then 'a.%I at time zone $3' else 'a.%I' end,
             tables.agent_last_heartbeat)
    )
    using default_cutoff, now_utc, tables.time_zone, tables.offline_value, tables.online_value,
          run_batch, run.id, tables.own_tables;
    get diagnostics marked = row_count;
    perform set_config('fleet.bulk_transition', '', true);

    if marked > 0 and pg_notification_queue_usage() < settings.notification_queue_limit then
      perform pg_notify(
        'fleet_agent_status',
        json_build_object('run_id', run.id, 'reason', 'stale', 'events', marked)::text
      );
    end if;
  exception
    when query_canceled then
      get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text,
                              failed_hint = pg_exception_hint;
    when others then
      get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text,
                              failed_hint = pg_exception_hint;
  end;

  if failed_state is null then
    if tables.own_tables then
      begin
        maintenance := fleet.maintain_heartbeat_partitions();
      exception
        when query_canceled or others then
          get stacked diagnostics failed_state = returned_sqlstate,
                                  failed_message = message_text;
          maintenance := jsonb_build_object('sqlstate', failed_state, 'error', failed_message);
          failed_state := null;
          failed_message := null;
      end;
    end if;
  end if;

  insert into fleet.job_runs
    (id, job, triggered_by, outcome, started_at, finished_at, rows_affected, detail)
  overriding system value
  values (
    run.id,
    'check-stale',
    source,
    case when failed_state is null then 'ok' else 'error' end,
    started,
    clock_timestamp(),
    marked,
    jsonb_strip_nulls(jsonb_build_object(
      'default_stale_after', settings.stale_after,
      'batch', run_batch,
      'backlog', marked >= run_batch,
      'partitions', maintenance,
      'sqlstate', failed_state,
      'error', failed_message,
      'hint', nullif(failed_hint, '')
    ))
  )
  returning * into run;

  if failed_state is not null then
    raise warning 'check-stale run % failed and marked nobody: % (SQLSTATE %)', run.id,
      failed_message, failed_state
      using hint = coalesce(nullif(failed_hint, ''), 'see fleet.job_runs for the run');
  end if;
  return run;
end
$$;

revoke all
  on function fleet.run_check_stale(text, integer)
  from public;

grant execute
  on function fleet.run_check_stale(text, integer)
  to fleet_cron;

comment on function fleet.run_check_stale(text, integer) is
  'The check-stale job: marks online agents silent past their threshold offline (at most batch, '
  'default fleet.config.stale_batch_size) and returns its fleet.job_runs row: ok, skipped '
  '(another run holds the job) or error (nothing marked; detail says why). triggered_by: vercel, '
  'pg_cron, psql, cli or other (NULL: from application_name). '
  'Example: select outcome, rows_affected from fleet.run_check_stale();';
