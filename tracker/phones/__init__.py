"""Phones as trackers: OsmAnd/Traccar Client over HTTP and OwnTracks over MQTT or HTTP, into the tracker's rules."""
