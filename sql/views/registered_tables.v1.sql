-- fleet.registered_tables: which tables the jobs work on, what is wrong with them, and what
-- changed since they were registered; for `fleetcron status`, doctor and a glance in psql.
--
-- One row: the registered agents and heartbeats tables (fleetcron's own unless fleet.adopt
-- registered the application's), the status values, the optional triggers, and two lists read
-- from the catalog now: problems (fleet.registration_problems, each with its fix) and changes
-- (column types and table owners that differ from what was validated at registration). Like
-- every view here it runs with its owner's rights, so fleet_cron reads it without any privilege
-- on fleet.registration.
--
-- It reads the problems from fleet.registration_problems(), the form that checks the stored
-- registration: the form that takes a candidate registration is not fleet_cron's to run (a
-- function in a view runs with the reader's EXECUTE privilege). Added by revision 0004.

create or replace view fleet.registered_tables as
select
  r.agents::text as agents,
  r.heartbeats::text as heartbeats,
  r.agents = 'fleet.agents'::regclass as own_tables,
  r.agent_status,
  r.online_value,
  r.offline_value,
  r.records_transitions,
  r.touches_agents,
  r.registered_at,
  r.registered_by,
  (
    select coalesce(jsonb_agg(jsonb_build_object('problem', p.problem, 'fix', p.hint)), '[]')
    from fleet.registration_problems() as p
  ) as problems,
  (
    select coalesce(jsonb_agg(c.change order by c.change), '[]')
    from (
      select case
          when now_value is null then format('%s %s is gone since the tables were registered',
                                              k.noun, k.name)
          else format('%s %s was %s when registered and is %s now', k.noun, k.name,
                      k.was, now_value)
        end as change
      from (
        select f.noun, e.key as name, e.value #>> '{}' as was,
               fleet.registration_fingerprint(r) #>> array[f.kind, e.key] as now_value
        from (
          values ('columns', 'column'), ('owners', 'owner of')
        ) as f (kind, noun)
        cross join lateral jsonb_each(coalesce(r.fingerprint -> f.kind, '{}')) as e
      ) as k
      where k.now_value is distinct from k.was
    ) as c
  ) as changes
from fleet.registration as r;

revoke all
  on fleet.registered_tables
  from public;

grant select
  on fleet.registered_tables
  to fleet_cron;

comment on view fleet.registered_tables is
  'The tables the jobs work on, their problems (with fixes) and what changed since they were '
  'registered. select * from fleet.registered_tables;';
