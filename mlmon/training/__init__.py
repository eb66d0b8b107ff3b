"""`mlmon train`: Feast historical features → model artifact + saved-dataset baseline."""
