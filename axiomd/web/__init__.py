"""`axiomd serve`: the JSON API under /api/v1 and the review page, one ASGI app.

    app.py       the app factory: error shapes, request ids and logs, routers
    auth.py      bearer tokens, page sessions (cookie), CSRF, roles
    read.py      assets, versions, one version, lineage, jobs, status, events
    write.py     review, note, derive, retry, tokens
    uploads.py   POST /api/v1/uploads: multipart streamed into the store's staging
    sink.py      an upload's bytes hashed and written on two threads, memory bounded
    media.py     outputs and store files with HTTP Range, never outside the store
    metrics.py   /metrics from the catalog, in Prometheus text
    pages.py     the review page (Jinja2 templates + static/review.js, no build step)
    server.py    uvicorn under axiomd's process rules (READY, heartbeat, SIGTERM)
"""
