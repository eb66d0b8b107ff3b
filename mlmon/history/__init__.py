"""History: load past predictions into the inference store (``mlmon ingest``) and ask what mlmon would have said
about them (``mlmon backtest``).

    columns   which column of a history file holds what (defaults from the spec, overridable)
    convert   rows of a file → validated inference events and labels, or a reason per rejected row
    sources   parquet / CSV files, a Feast saved dataset, a Feast feature service joined to an entity dataframe
    ingest    the bulk load: chunks through the store's ``write_events`` / ``upsert_labels``, a summary
    progress  plain-text progress on stderr
    windows   consecutive windows over a range, and the window computations the services contribute
    backtest  runs the window computations over a range and the incident policy as if live
    report    the backtest's JSON document and its self-contained HTML page
"""
