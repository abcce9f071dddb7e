-- fleet.registration_problems(): everything wrong with the stored registration, one row each.
--
-- The no-argument form of fleet.registration_problems (registration_problems.vN.sql is the
-- form that takes a candidate registration): it checks the row of fleet.registration, the
-- tables the jobs work on now, and nothing a caller made up. This is the form fleet_cron may
-- run, and the one the view fleet.registered_tables reads (a function called in a view runs
-- with the reader's EXECUTE privilege), so `fleetcron status` and doctor, logged in with the
-- credential Vercel holds, still list every problem with its fix.
--
-- Why a form of its own: checking a registration evaluates casts to the status column's domain
-- and the status column's CHECK expressions with the rights of the routines' owner, against
-- tables that owner owns. Granting the candidate form let a fleet_cron login build any
-- registration row, and so choose which of the owner's tables, domains and constraints ran.
-- The stored registration was validated by fleet.adopt, which only the owner may call.

create or replace function fleet.registration_problems()
returns table (
  problem text,
  hint text,
  error_code text
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
begin atomic
  select
    p.problem,
    p.hint,
    p.error_code
  from fleet.registration as r
  cross join lateral fleet.registration_problems(r) as p;
end;

revoke all
  on function fleet.registration_problems()
  from public;

grant execute
  on function fleet.registration_problems()
  to fleet_cron;

comment on function fleet.registration_problems() is
  'What is wrong with the registered agents and heartbeats tables (one row per problem, with '
  'a hint and the SQLSTATE the jobs raise for it). Example: '
  'select * from fleet.registration_problems();';
