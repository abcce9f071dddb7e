-- What revision 0002 retires.
--
-- fleet.purge_heartbeat_batch(batch, after_created_at, after_id) was the procedure's keyset
-- batch over fleet.heartbeats, with a cursor the caller carried and could forge; its place is
-- taken by fleet.purge_step (any registered table, partitions dropped whole) with the cursor
-- kept in the run's own row. The documented hand call, fleet.purge_old_heartbeats(batch),
-- stays. fleet.heartbeats_use_database_clock() was the BEFORE trigger that pulled a future
-- created_at back to now(); a partitioned table's BEFORE trigger may not move a row to another
-- partition, so fleet.heartbeats_touch_agents v2 does it after the insert.

-- squawk-ignore ban-drop-function
drop function fleet.purge_heartbeat_batch(integer, timestamptz, bigint);

-- squawk-ignore ban-drop-function
drop function fleet.heartbeats_use_database_clock();
