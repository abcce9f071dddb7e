-- fleet.heartbeats v3, step 2 of 3 (outside a transaction): prove heartbeats_legacy's range.
--
-- Revision 0002 added the constraint heartbeats_legacy_before_partitions as NOT VALID.
-- VALIDATE scans the table while holding only SHARE UPDATE EXCLUSIVE, so reads and the purge go
-- on; once valid, ATTACH (step 3) trusts it instead of scanning under an exclusive lock.

-- Validating a constraint that is already valid does nothing, so a rerun is safe.
alter table fleet.heartbeats_legacy
  -- squawk-ignore prefer-robust-stmts
  validate constraint heartbeats_legacy_before_partitions;
