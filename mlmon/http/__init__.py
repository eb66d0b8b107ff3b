"""The HTTP edge shared by the reference model server and a team's own FastAPI app instrumented by
``mlmon.instrument.monitor``: strict JSON bodies, body limits and timeouts, one error shape, ``/feedback``."""
