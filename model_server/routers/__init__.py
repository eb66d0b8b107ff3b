"""HTTP routers of the model server, one module per resource."""
