"""`mlmon replay`: send rows (a file, or a registered scenario) to a model server, with delayed ground truth."""
