"""The Segment-compatible ingest gateway: SDKs post to it, the pipeline decides.

:mod:`.envelope` authenticates, bounds and normalizes requests as Segment's
HTTP Tracking API defines them; :mod:`.app` is the WSGI application that
runs the accepted messages through the pipeline before it answers.
"""
