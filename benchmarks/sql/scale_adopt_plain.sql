-- Scale benchmark: point fleetcron's jobs at the unpartitioned copy (scale_plain_tables.sql).
--
-- What: fleet.adopt registers bench.agents and bench.heartbeats; from here the cleanup job
-- purges bench.heartbeats. touch_agents installs fleetcron's trigger for adopted tables, so a
-- heartbeat inserted during a purge updates its agent as one into fleet.heartbeats does, and
-- the concurrent ingestion does comparable work in both layouts.
-- Pattern: the documented bring-your-own-tables call.

select fleet.adopt(
  agents => 'bench.agents',
  agent_id => 'id',
  status => 'status',
  last_heartbeat => 'last_heartbeat',
  heartbeats => 'bench.heartbeats',
  heartbeat_time => 'created_at',
  heartbeat_agent => 'agent_id',
  stale_after => 'stale_after',
  agent_name => 'name',
  touch_agents => true
);
