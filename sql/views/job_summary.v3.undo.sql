-- Undo fleet.job_summary v3, last part: the v2 view that teardown/0004.sql dropped (a view cannot
-- lose a column in place) and views/job_summary.v2.sql created again gets the grant v2
-- inherited from v1 in place.

grant select
  on fleet.job_summary
  to fleet_cron;
