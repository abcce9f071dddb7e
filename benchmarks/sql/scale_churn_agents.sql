-- Scale benchmark: give a freshly loaded agents table the free space a live one has.
--
-- What: a live fleet's agents table is updated by every heartbeat; HOT pruning leaves room on
-- every page, so the next update of a row (a heartbeat, or check-stale marking it offline)
-- writes the new version on the same page and no index entry (a HOT update). A table just
-- filled by one INSERT is packed (fillfactor 100): every first update must move its row to
-- another page and add an entry to every index, several times the work. This updates one
-- agent in ten once (their new versions go to fresh pages at the end); the VACUUM that
-- follows (when the template is finished) frees their old slots, leaving a tenth of every
-- page free. The agents chosen (number ending in 5) are never the quiet ones of a 1 % or
-- 10 % fleet (every 100th or 10th), so those stay on pages with room, as they would live.
-- Only last_heartbeat is set, to the value it has: nothing a benchmark measures changes.
-- Pattern: benchmark plumbing.

update fleet.agents as a
set last_heartbeat = a.last_heartbeat
where mod(substr(a.name, length('bench-agent-') + 1)::integer, 10) = 5;
