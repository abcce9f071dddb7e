-- Everything fleetcron puts in a database, as comparable text: one row per object or property.
-- Two databases hold the same fleetcron schema exactly when this returns the same rows.
select 'schema' as kind, n.nspname::text as name,
       concat_ws(' | ', n.nspacl::text, obj_description(n.oid, 'pg_namespace')) as definition
from pg_namespace as n
where n.nspname = 'fleet'
union all
select 'routine', p.oid::regprocedure::text,
       concat_ws(' | ', pg_get_functiondef(p.oid), p.proacl::text, obj_description(p.oid, 'pg_proc'))
from pg_proc as p
where p.pronamespace = 'fleet'::regnamespace
union all
select 'relation', c.relname::text,
       concat_ws(' | ', c.relkind::text, c.relacl::text, obj_description(c.oid, 'pg_class'),
                 c.reloptions::text)
from pg_class as c
where c.relnamespace = 'fleet'::regnamespace
union all
select 'view', c.relname::text, pg_get_viewdef(c.oid)
from pg_class as c
where c.relnamespace = 'fleet'::regnamespace and c.relkind = 'v'
union all
select 'column', c.relname || '.' || a.attname,
       concat_ws(' | ', format_type(a.atttypid, a.atttypmod), a.attnotnull::text,
                 a.attidentity::text, pg_get_expr(d.adbin, d.adrelid),
                 col_description(c.oid, a.attnum), a.attacl::text)
from pg_attribute as a
join pg_class as c on c.oid = a.attrelid
left join pg_attrdef as d on d.adrelid = a.attrelid and d.adnum = a.attnum
where c.relnamespace = 'fleet'::regnamespace and a.attnum > 0 and not a.attisdropped
union all
select 'constraint', c.conrelid::regclass::text || '.' || c.conname,
       concat_ws(' | ', pg_get_constraintdef(c.oid), obj_description(c.oid, 'pg_constraint'))
from pg_constraint as c
where c.connamespace = 'fleet'::regnamespace
union all
select 'index', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
from pg_index as i
join pg_class as c on c.oid = i.indrelid
where c.relnamespace = 'fleet'::regnamespace
union all
select 'trigger', t.tgrelid::regclass::text || '.' || t.tgname, pg_get_triggerdef(t.oid)
from pg_trigger as t
join pg_class as c on c.oid = t.tgrelid
where c.relnamespace = 'fleet'::regnamespace and not t.tgisinternal
union all
select 'default privileges', d.defaclobjtype::text, d.defaclacl::text
from pg_default_acl as d
where d.defaclnamespace = 'fleet'::regnamespace
order by 1, 2, 3
