-- Revoke everything in fleet from Supabase's API roles, where they exist (v2).
--
-- On Supabase, anon and authenticated are what PostgREST uses for every REST/RPC request, and
-- default privileges there hand them new objects. fleet is not an exposed schema, and its
-- routines already revoke EXECUTE from PUBLIC; this closes the remaining door explicitly, so a
-- later change to the exposed schemas or to default privileges cannot open fleet by accident.
-- Run it again in every migration that adds objects to fleet. A no-op on plain PostgreSQL.
--
-- v2 names format() with its schema: v1 called plain format(), which a planted
-- public.format(text, text) beat when the migrator's search_path included public (migrations
-- now also pin search_path first).

do $$
declare
  api_role text;
begin
  foreach api_role in array array['anon', 'authenticated'] loop
    if exists (
      select
      from pg_catalog.pg_roles
      where rolname = api_role
    ) then
      execute pg_catalog.format('revoke all on all routines in schema fleet from %I', api_role);
      execute pg_catalog.format('revoke all on all tables in schema fleet from %I', api_role);
      execute pg_catalog.format('revoke all on all sequences in schema fleet from %I', api_role);
      execute pg_catalog.format('revoke all on schema fleet from %I', api_role);
    end if;
  end loop;
end
$$;
