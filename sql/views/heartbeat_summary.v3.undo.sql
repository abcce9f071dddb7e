-- Undo fleet.heartbeat_summary v3, last part: the v2 view that teardown/0004.sql and
-- views/heartbeat_summary.v2.sql created again gets the grant v2 inherited from v1 in place
-- (CREATE OR REPLACE keeps grants; this view was dropped instead).

grant select
  on fleet.heartbeat_summary
  to fleet_cron;
