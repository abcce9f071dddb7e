-- fleet.job_runs v2: a cleanup run's lease also names the statement that holds it.
--
-- 0001 counted a running cleanup run as alive while its backend existed. A cancel that landed
-- where the procedure could not catch it (while it sent a progress NOTICE) ended the CALL but
-- left the backend, idle or running the next statement, and the lease blocked every run for
-- five minutes. statement_started is statement_timestamp() of the CALL, which is what
-- pg_stat_activity.query_start shows while that CALL runs, COMMITs inside it included: once the
-- backend is idle or has started another statement, the run is over.

alter table fleet.job_runs
  add column statement_started timestamptz;

comment on column fleet.job_runs.statement_started is
  'statement_timestamp() of the CALL running a cleanup run; its lease ends with that statement.';
