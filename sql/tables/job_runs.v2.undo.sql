-- Undo fleet.job_runs v2.

alter table fleet.job_runs
  drop column statement_started;
