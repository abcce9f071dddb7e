-- Locks revision 0002 takes first, in the order heartbeat writers take them.
--
-- 0002 renames fleet.heartbeats and changes the triggers of fleet.agents and the foreign key of
-- fleet.agent_events. A heartbeat INSERT locks fleet.heartbeats, then fleet.agents (its foreign
-- key check and the trigger's UPDATE); a migration that locked fleet.agents first and
-- fleet.heartbeats later would deadlock with it. Taken here, up front and in that order, the
-- migration waits (at most lock_timeout) for writers in flight, and writers wait the fraction of
-- a second the migration takes.

lock table fleet.heartbeats, fleet.agents, fleet.agent_events in access exclusive mode;
