"""The watcher: drop folders to versions, losing nothing."""
