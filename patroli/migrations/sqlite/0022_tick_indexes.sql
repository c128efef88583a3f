-- What the dispatcher's tick reads four times a second, each by an index that holds only the rows it can
-- return (bench.dispatch, 10,000 open incidents, 9,000 of them acknowledged): its escalations (the stations'
-- deadlines of the unacknowledged; the old index held every deadline ever set and the query filtered 3,800 rows
-- out, 2 ms), the incidents waiting for a unit, in the order they are searched (a scan of every incident,
-- 1.5 ms), and the open officer emergencies, whose offers run out (a scan of every open incident, 3 ms).
DROP INDEX incidents_station_deadline;
CREATE INDEX incidents_unacked_deadline ON incidents (station_deadline) WHERE acked_at IS NULL AND closed_at IS NULL;
CREATE INDEX incidents_awaiting_unit ON incidents (priority, received_at) WHERE state = 'awaiting_unit';
CREATE INDEX incidents_open_emergencies ON incidents (incident_id)
    WHERE incident_type = 'officer_emergency' AND closed_at IS NULL;
