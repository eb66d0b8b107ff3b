"""`mlmon replay`: demo traffic with named fault scenarios, sent over HTTP to a model server."""
