-- Trigger fleet.config_guard: keeps fleet.config at exactly one row and stamps updated_at.
--
-- The jobs read their settings from that row; without it they could not run, so DELETE and
-- TRUNCATE are refused with a message that says what to do instead. (A second row is refused
-- by the primary key config_holds_one_row_only.)

create or replace function fleet.config_guard()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'UPDATE' then
    new.updated_at := now();
    return new;
  end if;
  raise exception 'fleet.config must keep its one row (% refused)', tg_op
    using errcode = 'integrity_constraint_violation',
          hint = 'Change settings with: update fleet.config set <setting> = <value>;';
end
$$;

revoke all
  on function fleet.config_guard()
  from public;

comment on function fleet.config_guard() is
  'Trigger: refuses DELETE/TRUNCATE of fleet.config and stamps updated_at on UPDATE.';

create or replace trigger config_keeps_its_row
  before delete or truncate
  on fleet.config
  for each statement
  execute function fleet.config_guard();

create or replace trigger config_stamps_updated_at
  before update
  on fleet.config
  for each row
  execute function fleet.config_guard();
