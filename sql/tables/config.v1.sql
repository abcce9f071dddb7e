-- fleet.config: the knobs a DBA turns without a deploy, in exactly one row.
--
-- Every job reads this row when it runs, so an UPDATE here changes the next run. CHECK
-- constraints refuse settings that would do harm (a retention under a day would delete
-- heartbeats an operator still needs; a zero batch would never finish). Each constraint is
-- named for the rule it enforces, so the error message a DBA sees says what is wrong.
-- The row cannot be deleted (see fleet.config_guard): the jobs would have nothing to read.

create table fleet.config (
  singleton boolean not null default true
    constraint config_singleton_is_true check (singleton),
  stale_after interval not null default interval '5 minutes'
    constraint config_stale_after_must_be_positive check (stale_after > interval '0'),
  heartbeat_retention interval not null default interval '30 days'
    constraint config_heartbeat_retention_at_least_1_day check (heartbeat_retention >= interval '1 day'),
  -- An integer on purpose: the CHECK caps it at 1,000,000, like the routines' batch arguments.
  -- squawk-ignore prefer-bigint-over-int
  purge_batch_size integer not null default 10000
    constraint config_purge_batch_size_between_1_and_1000000 check (purge_batch_size between 1 and 1000000),
  purge_time_budget interval not null default interval '4 minutes'
    constraint config_purge_time_budget_must_be_positive check (purge_time_budget > interval '0'),
  job_run_retention interval not null default interval '30 days'
    constraint config_job_run_retention_at_least_1_day check (job_run_retention >= interval '1 day'),
  event_retention interval not null default interval '90 days'
    constraint config_event_retention_at_least_1_day check (event_retention >= interval '1 day'),
  updated_at timestamptz not null default now(),
  constraint config_holds_one_row_only primary key (singleton)
);

insert into fleet.config default values;

comment on table fleet.config is
  'fleetcron settings, one row. Change with e.g.: '
  'update fleet.config set heartbeat_retention = interval ''14 days'';';
comment on column fleet.config.stale_after is
  'An online agent silent for longer than this goes offline (unless fleet.agents.stale_after overrides it).';
comment on column fleet.config.heartbeat_retention is
  'Heartbeats older than this are deleted by the cleanup job. At least 1 day.';
comment on column fleet.config.purge_batch_size is
  'Rows deleted per batch (one transaction each) by the cleanup job.';
comment on column fleet.config.purge_time_budget is
  'How long one cleanup run may keep starting new batches when the caller gives no budget.';
comment on column fleet.config.job_run_retention is
  'fleet.job_runs rows older than this are deleted by the cleanup job.';
comment on column fleet.config.event_retention is
  'fleet.agent_events rows older than this are deleted by the cleanup job.';
comment on column fleet.config.updated_at is
  'When the settings last changed.';
