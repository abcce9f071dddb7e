-- fleet.registration_problems(candidate) v2: everything wrong with a registration, one row each.
--
-- fleet.adopt refuses a registration with problems, the jobs re-check the stored one every time
-- they start (fleet.resolve_registration), and doctor lists them. Each row says what is wrong,
-- how to fix it, and the SQLSTATE (error_code) the jobs raise for it. Every name comes from the catalog:
-- tables by their regclass, columns by exact match on pg_attribute.attname; nothing the caller
-- typed is parsed or spliced anywhere.
--
-- Ownership: the jobs update and delete in these tables as the role that owns fleetcron's
-- routines (SECURITY DEFINER), and the tables' own triggers, defaults and CHECK functions run
-- with that role's rights while they do. So each table must belong to that role, or to a role
-- with exactly its rights; otherwise whoever owns the table could plant a trigger that runs as
-- a more privileged role. Row-level security would hide rows from the routines, so it is
-- refused unless the routines' role bypasses it or a permissive policy for all commands lets
-- that role see and write every row (USING and WITH CHECK true; no restrictive policy), which
-- is the policy the hint offers.
--
-- The one place a catalog expression is spliced: a CHECK constraint on the status column is
-- evaluated against the online and offline values, from pg_get_expr's deparsed text, under the
-- pinned search_path, on a table whose owner has the routines' rights anyway. A status column
-- of a domain type is tested by casting each value to the domain, which applies its CHECKs, and
-- one with a length limit (a typmod) by whether the value survives a cast to it unchanged.
--
-- Who may call it: only the routines' owner (fleet.adopt, fleet.resolve_registration). Checking
-- a candidate runs its casts and CHECK expressions with the owner's rights against the owner's
-- tables, so a registration row a caller built itself is no input for anyone else: fleet_cron
-- (and the view fleet.registered_tables) get fleet.registration_problems(), which checks the
-- stored registration only.
--
-- v2 also refuses a range-partitioned heartbeats table whose partition key is not exactly the
-- heartbeat time column: the purge drops partitions by their bounds, read as times of that
-- column (fleet.heartbeat_partitions), and v1 accepted a table partitioned by range (id), whose
-- bounds no job could read. List and hash partitioning stay accepted: their partitions have no
-- time range, and the purge deletes their expired rows in batches.

create or replace function fleet.registration_problems(candidate fleet.registration)
returns table (
  problem text,
  hint text,
  error_code text
)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  tables_ok boolean := true;
  target record;
  id_column record;
  status_column record;
  last_column record;
  threshold_column record;
  label_column record;
  time_column record;
  agent_column record;
  key_column record;
  status_value text;
  check_constraint record;
  admissible boolean;
  fits boolean;
  needs_zone boolean := false;
begin
  -- The tables: present, ordinary or partitioned, permanent, ours, readable in full.
  for target in
    select t.role, t.relation, c.oid, c.relkind, c.relpersistence, c.relowner,
           c.relrowsecurity, c.relforcerowsecurity
    from (
      values
        ('agents', candidate.agents::oid),
        ('heartbeats', candidate.heartbeats::oid)
    ) as t (role, relation)
    left join pg_class as c
      on c.oid = t.relation
  loop
    if target.oid is null then
      tables_ok := false;
      problem := format('the %s table (oid %s) no longer exists', target.role, target.relation);
      hint := 'register the tables again with fleet.adopt(...), or go back to fleetcron''s own '
              'with: select fleet.adopt_own_tables();';
      error_code := '42P01';
      return next;
      continue;
    end if;
    if target.relkind not in ('r', 'p') or target.relpersistence = 't' then
      tables_ok := false;
      problem := format('%s is not an ordinary or partitioned permanent table',
                        target.oid::regclass);
      hint := 'register the table itself, not a view, foreign table or temporary table';
      error_code := '42809';
      return next;
      continue;
    end if;
    if not (
      pg_has_role(current_user, target.relowner, 'USAGE')
      and pg_has_role(target.relowner, current_user, 'USAGE')
    ) then
      tables_ok := false;
      problem := format(
        '%s belongs to %s, but fleetcron''s routines run as %s',
        target.oid::regclass, target.relowner::regrole, current_user
      );
      hint := format(
        'alter table %s owner to %I; (the routines change the table as their owner, and its '
        'triggers would run with that role''s rights)',
        target.oid::regclass, current_user
      );
      error_code := '42501';
      return next;
    end if;
    if target.relrowsecurity
      and (target.relforcerowsecurity or target.relowner <> current_user::regrole)
      and not exists (
        select
        from pg_roles as r
        where r.rolname = current_user
          and (r.rolsuper or r.rolbypassrls)
      )
      and not (
        exists (
          select
          from pg_policy as p
          where p.polrelid = target.oid
            and p.polpermissive
            and p.polcmd = '*'
            and exists (
              select
              from unnest(p.polroles) as applies (role_oid)
              where applies.role_oid = 0
                or pg_has_role(current_user, applies.role_oid, 'USAGE')
            )
            and pg_get_expr(p.polqual, p.polrelid) = 'true'
            and coalesce(pg_get_expr(p.polwithcheck, p.polrelid), 'true') = 'true'
        )
        and not exists (
          select
          from pg_policy as p
          where p.polrelid = target.oid
            and not p.polpermissive
            and exists (
              select
              from unnest(p.polroles) as applies (role_oid)
              where applies.role_oid = 0
                or pg_has_role(current_user, applies.role_oid, 'USAGE')
            )
        )
      )
    then
      problem := format('row-level security on %s would hide rows from fleetcron''s routines (%s)',
                        target.oid::regclass, current_user);
      hint := format(
        'create policy fleetcron_all on %s to %I using (true) with check (true); '
        'or: alter table %s no force row level security;',
        target.oid::regclass, current_user, target.oid::regclass
      );
      error_code := '42501';
      return next;
    end if;
  end loop;
  if not tables_ok then
    return;
  end if;

  select a.attnum, a.attname, a.atttypid, a.attnotnull, a.attgenerated, t.typtype, t.typcategory
  into id_column
  from pg_attribute as a
  join pg_type as t
    on t.oid = a.atttypid
  where a.attrelid = candidate.agents
    and a.attname = candidate.agent_id
    and a.attnum > 0
    and not a.attisdropped;
  select a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.attgenerated, t.typtype,
         t.typcategory
  into status_column
  from pg_attribute as a
  join pg_type as t
    on t.oid = a.atttypid
  where a.attrelid = candidate.agents
    and a.attname = candidate.agent_status
    and a.attnum > 0
    and not a.attisdropped;
  select a.attnum, a.attname, a.atttypid, a.attnotnull, a.attgenerated
  into last_column
  from pg_attribute as a
  where a.attrelid = candidate.agents
    and a.attname = candidate.agent_last_heartbeat
    and a.attnum > 0
    and not a.attisdropped;
  select a.attnum, a.attname, a.atttypid
  into threshold_column
  from pg_attribute as a
  where a.attrelid = candidate.agents
    and a.attname = candidate.agent_stale_after
    and a.attnum > 0
    and not a.attisdropped;
  select a.attnum, a.attname, a.atttypid
  into label_column
  from pg_attribute as a
  where a.attrelid = candidate.agents
    and a.attname = candidate.agent_name
    and a.attnum > 0
    and not a.attisdropped;
  select a.attnum, a.attname, a.atttypid, a.attnotnull
  into time_column
  from pg_attribute as a
  where a.attrelid = candidate.heartbeats
    and a.attname = candidate.heartbeat_time
    and a.attnum > 0
    and not a.attisdropped;
  select a.attnum, a.attname, a.atttypid
  into agent_column
  from pg_attribute as a
  where a.attrelid = candidate.heartbeats
    and a.attname = candidate.heartbeat_agent
    and a.attnum > 0
    and not a.attisdropped;
  select a.attnum, a.attname, a.atttypid, a.attnotnull
  into key_column
  from pg_attribute as a
  where a.attrelid = candidate.heartbeats
    and a.attname = candidate.heartbeat_key
    and a.attnum > 0
    and not a.attisdropped;

  -- Columns that must exist.
  for target in
    select m.what, m.relation, m.column_name
    from (
      values
        ('agent id', candidate.agents, candidate.agent_id, id_column.attnum),
        ('status', candidate.agents, candidate.agent_status, status_column.attnum),
        ('last heartbeat', candidate.agents, candidate.agent_last_heartbeat, last_column.attnum),
        ('stale-after', candidate.agents, candidate.agent_stale_after, threshold_column.attnum),
        ('name', candidate.agents, candidate.agent_name, label_column.attnum),
        ('heartbeat time', candidate.heartbeats, candidate.heartbeat_time, time_column.attnum),
        ('heartbeat agent', candidate.heartbeats, candidate.heartbeat_agent, agent_column.attnum),
        ('heartbeat key', candidate.heartbeats, candidate.heartbeat_key, key_column.attnum)
    ) as m (what, relation, column_name, attnum)
    where m.column_name is not null
      and m.attnum is null
  loop
    problem := format('%s has no column %I (the %s column)', target.relation, target.column_name,
                      target.what);
    hint := 'name an existing column; names are matched exactly (case, spaces and all)';
    error_code := '42703';
    return next;
  end loop;

  -- The agent id: unique, so each agent is one row, and of the heartbeats' agent column type.
  if id_column.attnum is not null and not exists (
    select
    from pg_index as i
    where i.indrelid = candidate.agents
      and i.indisunique
      and i.indisvalid
      and i.indnkeyatts = 1
      and i.indkey[0] = id_column.attnum
      and i.indpred is null
  ) then
    problem := format('%s has no unique index on %I', candidate.agents, id_column.attname);
    hint := 'the agent id must be the table''s primary key or have a unique index';
    error_code := '42830';
    return next;
  end if;
  if id_column.attnum is not null and agent_column.attnum is not null
    and id_column.atttypid <> agent_column.atttypid
  then
    problem := format(
      '%s.%I is %s but %s.%I is %s', candidate.heartbeats, agent_column.attname,
      format_type(agent_column.atttypid, null), candidate.agents, id_column.attname,
      format_type(id_column.atttypid, null)
    );
    hint := 'the heartbeats'' agent column must have exactly the type of the agent id';
    error_code := '42804';
    return next;
  end if;

  -- The status: text-like, an enum, or boolean, and the two values admissible and distinct.
  if status_column.attnum is not null then
    if not (
      status_column.typcategory = 'S'
      or status_column.typtype = 'e'
      or status_column.atttypid = 'boolean'::regtype
    ) then
      problem := format('%s.%I is %s; a status column is text, an enum or boolean',
                        candidate.agents, status_column.attname,
                        format_type(status_column.atttypid, null));
      hint := 'register a text, enum or boolean column';
      error_code := '42804';
      return next;
    elsif status_column.attgenerated <> '' then
      problem := format('%s.%I is a generated column; the stale check must be able to set it',
                        candidate.agents, status_column.attname);
      hint := 'register a column the jobs may write';
      error_code := '428C9';
      return next;
    else
      foreach status_value in array array[candidate.online_value, candidate.offline_value] loop
        admissible := true;
        fits := true;
        if status_column.typtype = 'e' then
          admissible := exists (
            select
            from pg_enum as e
            where e.enumtypid = status_column.atttypid
              and e.enumlabel = status_value
          );
        elsif status_column.atttypid = 'boolean'::regtype then
          admissible := lower(status_value) in ('true', 'false', 't', 'f', 'yes', 'no', 'on',
                                                'off', '1', '0');
        elsif status_column.typtype = 'd' then
          -- A domain's own CHECK constraints apply when a value is cast to it.
          begin
            execute format('select $1::%s', status_column.atttypid::regtype)
            using status_value;
          exception
            when integrity_constraint_violation or data_exception then
              admissible := false;
          end;
        end if;
        if admissible and status_column.atttypmod >= 0 then
          -- A length limit (a typmod): a longer value would fail every UPDATE that sets it.
          execute format('select $1::%s::text = $1',
                         format_type(status_column.atttypid, status_column.atttypmod))
          into fits
          using status_value;
          admissible := fits;
        end if;
        if admissible then
          for check_constraint in
            select c.conname, pg_get_expr(c.conbin, c.conrelid) as expression
            from pg_constraint as c
            where c.conrelid = candidate.agents
              and c.contype = 'c'
              and c.conkey = array[status_column.attnum]
          loop
            execute format(
              'select coalesce((%s), true) from (select $1::%s as %I) as candidate_row',
              check_constraint.expression, status_column.atttypid::regtype, status_column.attname
            )
            into admissible
            using status_value;
            exit when not admissible;
          end loop;
        end if;
        if not admissible then
          problem := format('%L is not a value %s.%I can hold', status_value, candidate.agents,
                            status_column.attname);
          hint := case
            when status_column.typtype = 'e' then format('the labels of %s are: %s',
              status_column.atttypid::regtype,
              (select string_agg(quote_literal(e.enumlabel), ', ' order by e.enumsortorder)
               from pg_enum as e where e.enumtypid = status_column.atttypid))
            when status_column.atttypid = 'boolean'::regtype then
              'use ''true'' and ''false'' for a boolean status column'
            when not fits then format('the column is %s',
              format_type(status_column.atttypid, status_column.atttypmod))
            when status_column.typtype = 'd' then format(
              'the CHECK constraints of the column''s domain %s refuse it',
              status_column.atttypid::regtype)
            else 'the column''s CHECK constraints refuse it'
          end;
          error_code := '22P02';
          return next;
        end if;
      end loop;
      if status_column.atttypid = 'boolean'::regtype
        and (lower(candidate.online_value) in ('true', 't', 'yes', 'on', '1'))
          = (lower(candidate.offline_value) in ('true', 't', 'yes', 'on', '1'))
      then
        problem := 'the online and offline values mean the same boolean';
        hint := 'use online => ''true'', offline => ''false'' (or the other way round)';
        error_code := '22023';
        return next;
      end if;
    end if;
  end if;

  -- Times: timestamptz, or timestamp without time zone with the zone it holds said out loud.
  for target in
    select m.what, m.relation, m.column_name, m.type_oid, m.attgenerated
    from (
      values
        ('last heartbeat', candidate.agents, last_column.attname, last_column.atttypid,
         last_column.attgenerated),
        ('heartbeat time', candidate.heartbeats, time_column.attname, time_column.atttypid, '')
    ) as m (what, relation, column_name, type_oid, attgenerated)
    where m.column_name is not null
  loop
    if target.type_oid = 'timestamp without time zone'::regtype then
      needs_zone := true;
    elsif target.type_oid <> 'timestamp with time zone'::regtype then
      problem := format('%s.%I is %s; the %s column must be timestamptz (or timestamp with '
                        'time_zone given)', target.relation, target.column_name,
                        format_type(target.type_oid, null), target.what);
      hint := 'register a timestamptz column';
      error_code := '42804';
      return next;
    end if;
    if target.attgenerated <> '' then
      problem := format('%s.%I is a generated column', target.relation, target.column_name);
      hint := 'register a column the jobs may write';
      error_code := '428C9';
      return next;
    end if;
  end loop;
  if needs_zone and candidate.time_zone is null then
    problem := 'a timestamp without time zone column needs time_zone => ''<the zone it holds>''';
    hint := 'fleetcron compares every time in UTC; say which zone the column''s values are in, '
            'e.g. time_zone => ''UTC''';
    error_code := '22023';
    return next;
  elsif candidate.time_zone is not null then
    begin
      perform now() at time zone candidate.time_zone;
    exception
      when invalid_parameter_value then
        problem := format('%L is not a time zone this server knows', candidate.time_zone);
        hint := 'use a name from pg_timezone_names, e.g. ''UTC''';
        error_code := '22023';
        return next;
    end;
  end if;

  -- A range-partitioned heartbeats table: the purge drops its partitions by their bounds, which
  -- it reads as times of the heartbeat time column, so the range must be on that column alone.
  if exists (
    select
    from pg_partitioned_table as p
    where p.partrelid = candidate.heartbeats
      and p.partstrat = 'r'
      and not (p.partnatts = 1 and p.partattrs[0] = time_column.attnum)
  ) then
    problem := format(
      '%s is partitioned by %s; a range-partitioned heartbeats table must be partitioned on %I '
      'alone', candidate.heartbeats, pg_get_partkeydef(candidate.heartbeats),
      time_column.attname
    );
    hint := format(
      'the purge drops expired partitions by their time range: partition %s by range (%I), '
      'or by list or hash (expired rows are then deleted in batches), or not at all',
      candidate.heartbeats, time_column.attname
    );
    error_code := '42P16';
    return next;
  end if;

  if threshold_column.attnum is not null
    and threshold_column.atttypid <> 'interval'::regtype
  then
    problem := format('%s.%I is %s; a per-agent threshold column must be an interval',
                      candidate.agents, threshold_column.attname,
                      format_type(threshold_column.atttypid, null));
    hint := 'register an interval column, or none';
    error_code := '42804';
    return next;
  end if;

  -- The purge walks (time, key) in order: the key must be there on every row and unique with
  -- the time, and an index must lead with the time, or every batch would scan the table.
  -- Only valid indexes count: a failed CREATE INDEX CONCURRENTLY leaves an invalid one
  -- behind, which no query uses.
  if key_column.attnum is not null then
    if not key_column.attnotnull then
      problem := format('%s.%I may be NULL; the purge''s tie-break key must not be',
                        candidate.heartbeats, key_column.attname);
      hint := 'register a NOT NULL key column, such as the primary key';
      error_code := '23502';
      return next;
    elsif not exists (
      select
      from pg_index as i
      where i.indrelid = candidate.heartbeats
        and i.indisunique
        and i.indisvalid
        and i.indpred is null
        and key_column.attnum = any (i.indkey::int2[])
        and i.indkey::int2[] <@ array[key_column.attnum, time_column.attnum]::int2[]
    ) then
      problem := format('%s has no unique index on %I (alone, or with %I)', candidate.heartbeats,
                        key_column.attname, time_column.attname);
      hint := 'register a key that is unique, such as the primary key';
      error_code := '42830';
      return next;
    end if;
  end if;
  if time_column.attnum is not null and not exists (
    select
    from pg_index as i
    join pg_class as ic
      on ic.oid = i.indexrelid
    join pg_am as am
      on am.oid = ic.relam
    where i.indrelid = candidate.heartbeats
      and am.amname = 'btree'
      and i.indkey[0] = time_column.attnum
      and i.indisvalid
      and i.indpred is null
  ) then
    problem := format('%s has no index leading with %I for the purge to walk',
                      candidate.heartbeats, time_column.attname);
    hint := case
      when (select c.relkind from pg_class as c where c.oid = candidate.heartbeats) = 'p'
        then format('create index on %s (%I, %I); (on a partitioned table, create it on each '
                    'partition concurrently first, then on the parent)', candidate.heartbeats,
                    time_column.attname, key_column.attname)
      else format('create index concurrently on %s (%I, %I);', candidate.heartbeats,
                  time_column.attname, key_column.attname)
    end;
    error_code := '55000';
    return next;
  end if;

  -- Triggers fleetcron installs on adopted tables must still be there.
  if candidate.agents <> 'fleet.agents'::regclass then
    if candidate.records_transitions and not exists (
      select
      from pg_trigger as t
      where t.tgrelid = candidate.agents
        and t.tgname = 'fleetcron_record_transition'
        and t.tgenabled <> 'D'
    ) then
      problem := format('the trigger fleetcron_record_transition on %s is missing or disabled',
                        candidate.agents);
      hint := 'register the tables again with fleet.adopt(...)';
      error_code := '55000';
      return next;
    end if;
    if candidate.touches_agents and not exists (
      select
      from pg_trigger as t
      where t.tgrelid = candidate.heartbeats
        and t.tgname = 'fleetcron_touch_agents'
        and t.tgenabled <> 'D'
    ) then
      problem := format('the trigger fleetcron_touch_agents on %s is missing or disabled',
                        candidate.heartbeats);
      hint := 'register the tables again with fleet.adopt(...)';
      error_code := '55000';
      return next;
    end if;
  end if;
end
$$;

revoke all
  on function fleet.registration_problems(fleet.registration)
  from public;

comment on function fleet.registration_problems(fleet.registration) is
  'Internal: what is wrong with a registration of agents and heartbeats tables (one row per '
  'problem, with a hint); fleet.adopt checks its candidate with it. For the stored '
  'registration: select * from fleet.registration_problems();';
