-- Undo fleet.heartbeats v2, step 1 of 2: move the partitioned table aside, so that the
-- migration can create the v1 table under its own names (tables/heartbeats.v1.sql) and step 2
-- can copy every row into it.

alter table fleet.heartbeats
  rename to heartbeats_partitioned;

alter index fleet.heartbeats_pkey
  rename to heartbeats_partitioned_pkey;

alter index fleet.heartbeats_agent_id_created_at_idx
  rename to heartbeats_partitioned_agent_id_created_at_idx;

alter sequence fleet.heartbeats_id_seq
  rename to heartbeats_partitioned_id_seq;
