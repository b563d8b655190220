"""The catalog: the single source of truth for assets, versions, jobs and the outbox."""
