-- fleet.job_locks: one row per job, locked by the run that holds the job.
--
-- 0001 serialized runs with advisory locks (1718379877, 1) and (…, 2). Advisory lock keys are
-- global to the database and need no privilege, so any login could take them and stop the
-- jobs: check-stale answered "skipped" forever and cleanup waited without a timeout. A row
-- lock on this table can only be taken by whoever may UPDATE it, which is nobody but its
-- owner: the SECURITY DEFINER job routines. They lock it with SKIP LOCKED or under a short
-- lock_timeout, so no run ever waits for another without bound.

create table fleet.job_locks (
  job text primary key
    constraint job_locks_job_is_check_stale_or_cleanup_heartbeats
    check (job in ('check-stale', 'cleanup-heartbeats'))
);

insert into fleet.job_locks (job)
values ('check-stale'), ('cleanup-heartbeats');

revoke all
  on fleet.job_locks
  from public;

comment on table fleet.job_locks is
  'One row per job; the run holding the job holds its row lock. Only fleet routines may lock it.';
